//! Stateless f32 kernels over raw slices, each with a hand-written pullback (llm.c style).
//!
//! # Contract (relied on by the `#[differentiable]` macro)
//! - Forward: `name(outputs…, inputs…, non-differentiable args…) -> Result<(), KernelError>`
//!   (`-> Result<f32, KernelError>` for the losses, which return their value). Shapes are
//!   row-major and documented on each kernel; every slice length is checked first and a
//!   mismatch is an `Err`, never a panic or an out-of-bounds access.
//! - Pullback: `name_pullback(<the forward's params, same order>, [d_ret: f32 for losses],
//!   <one adjoint per f32 slice param, in order>)`. Input adjoints are **accumulated** (`+=`);
//!   an output's adjoint holds the seed on entry and is **zeroed** on exit (the forward
//!   overwrites the output, so its old contents get no gradient). Output params hold what the
//!   forward wrote. Integer, mask and index buffers (`&[usize]`, `&mut [u8]`, …) and scalar
//!   hyper-parameters get no adjoint.
//! - An **empty** adjoint slice means "not needed": the macro passes `&mut []` as the adjoint of
//!   an input that carries no derivative (a network's input batch), and the pullback skips that
//!   computation (e.g. `linear_pullback` skips the `d_x` GEMM). An empty output adjoint is a
//!   zero seed. A non-empty adjoint of the wrong length is still a [`KernelError::Length`].
//! - No kernel allocates in steady state. Scratch that the pullback needs is either a non-f32
//!   caller buffer written by the forward (`max_pool1d`'s `argmax`, `dropout`'s `mask`) or
//!   recomputed (`layer_norm`'s statistics); working buffers are per-thread, grown on a
//!   thread's first call and reused (`conv1d`'s im2col matrix, `conv1d_relu_max_pool1d`'s
//!   convolution output).
//! - Threads: [`set_num_threads`] (default 1); splits run on rayon's pool (run a training loop
//!   inside `pool.install` for allocation-free steady state with more than one thread), or on
//!   another thread team given to [`set_parallel_backend`] (inside LibTorch:
//!   `ferrograd_torch::parallel_for`, LibTorch's own intra-op threads).
//!
//! Weights use PyTorch's layouts (`linear`: `[out_f, in_f]`, `conv1d`: `[c_out, c_in, k]`), so
//! parameters can be shared with LibTorch without transposing.

mod activation;
mod attention;
mod combine;
mod conv;
mod conv_pool;
mod dropout;
mod embedding;
mod error;
mod gemm;
mod lanes;
mod linear;
mod linear_gelu;
mod linear_residual;
mod norm;
mod par;
mod pool;
mod shape;
mod softmax;
mod update;

pub use activation::{
    gelu, gelu_pullback, leaky_relu, leaky_relu_pullback, relu, relu_pullback, sigmoid,
    sigmoid_pullback, tanh, tanh_pullback,
};
pub use attention::{causal_attention, causal_attention_pullback};
pub use combine::{add, add_positions, add_positions_pullback, add_pullback};
pub use conv::{conv1d, conv1d_pullback, conv1d_scratch_len, Conv1dDims};
pub use conv_pool::{conv1d_relu_max_pool1d, conv1d_relu_max_pool1d_pullback};
pub use dropout::{dropout, dropout_pullback};
pub use embedding::{embedding, embedding_pullback};
pub use error::KernelError;
pub use gemm::{
    matmul, matmul_nt, matmul_nt_pullback, matmul_pullback, matmul_tn, matmul_tn_pullback,
};
pub use linear::{linear, linear_pullback};
pub use linear_gelu::{linear_gelu, linear_gelu_pullback};
pub use linear_residual::{linear_residual, linear_residual_pullback};
pub use norm::{layer_norm, layer_norm_pullback};
pub use par::{keep_warm, num_threads, set_num_threads, set_parallel_backend, ForkFn};
pub use pool::{
    avg_pool1d, avg_pool1d_pullback, max_pool1d, max_pool1d_pullback, relu_max_pool1d,
    relu_max_pool1d_pullback, Pool1dDims,
};
pub use shape::{flatten, flatten_pullback};
pub use softmax::{
    mse, mse_pullback, softmax, softmax_cross_entropy, softmax_cross_entropy_pullback,
    softmax_pullback,
};
pub use update::{adam_update, sgd_update, AdamStep, Sgd};

pub use ferrograd_prims::ArgMode;

/// The `#[differentiable]` call contract (`<kernel>_ARG_MODES`, see [`ArgMode`]): each kernel's
/// first parameter is its output, which its pullback takes as the forward left it (it may read
/// it, e.g. `tanh_pullback` reads `out`); the others are inputs.
macro_rules! arg_modes {
    (output_first: $($name:ident = $n:literal),* $(,)?; inputs: $($iname:ident = $m:literal),* $(,)?) => {
        $(
            #[doc = concat!("Parameter modes of the kernel (`", stringify!($name), "`): output first.")]
            #[expect(non_upper_case_globals, reason = "named after the kernel, by the macro's convention")]
            pub const $name: &[ArgMode] = &ArgMode::output_first::<$n>();
        )*
        $(
            #[doc = concat!("Parameter modes of the kernel (`", stringify!($iname), "`): inputs only.")]
            #[expect(non_upper_case_globals, reason = "named after the kernel, by the macro's convention")]
            pub const $iname: &[ArgMode] = &[ArgMode::In; $m];
        )*
    };
}
arg_modes!(
    output_first:
    relu_ARG_MODES = 2,
    add_ARG_MODES = 3,
    add_positions_ARG_MODES = 6,
    leaky_relu_ARG_MODES = 3,
    gelu_ARG_MODES = 2,
    tanh_ARG_MODES = 2,
    sigmoid_ARG_MODES = 2,
    conv1d_ARG_MODES = 5,
    conv1d_relu_max_pool1d_ARG_MODES = 7,
    dropout_ARG_MODES = 5,
    embedding_ARG_MODES = 5,
    matmul_ARG_MODES = 6,
    matmul_nt_ARG_MODES = 6,
    matmul_tn_ARG_MODES = 6,
    linear_ARG_MODES = 7,
    linear_residual_ARG_MODES = 8,
    layer_norm_ARG_MODES = 7,
    max_pool1d_ARG_MODES = 4,
    relu_max_pool1d_ARG_MODES = 4,
    avg_pool1d_ARG_MODES = 3,
    flatten_ARG_MODES = 2,
    softmax_ARG_MODES = 4,
    softmax_cross_entropy_ARG_MODES = 5;
    inputs:
    mse_ARG_MODES = 2,
);

/// Parameter modes of [`linear_gelu`]: the output `out`, then `pre` and `gate`, the
/// intermediates its pullback reads (stashes: a `#[differentiable]` call site hands their
/// adjoints over empty, and nothing else may read them), then inputs.
#[expect(
    non_upper_case_globals,
    reason = "named after the kernel, by the macro's convention"
)]
pub const linear_gelu_ARG_MODES: &[ArgMode] = &[
    ArgMode::Out,
    ArgMode::Stash,
    ArgMode::Stash,
    ArgMode::In,
    ArgMode::In,
    ArgMode::In,
    ArgMode::In,
    ArgMode::In,
    ArgMode::In,
];

/// Parameter modes of [`causal_attention`]: two outputs (`out`, and `att`, the probabilities
/// its pullback reads), then inputs.
#[expect(
    non_upper_case_globals,
    reason = "named after the kernel, by the macro's convention"
)]
pub const causal_attention_ARG_MODES: &[ArgMode] = &[
    ArgMode::Out,
    ArgMode::Out,
    ArgMode::In,
    ArgMode::In,
    ArgMode::In,
    ArgMode::In,
    ArgMode::In,
];
