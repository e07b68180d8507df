//! # ferrograd — compile-time automatic differentiation for Rust
//!
//! `#[differentiable]` differentiates an ordinary Rust function at compile time (source
//! transformation, like Clad for C++): no tape of operations is recorded at run time, and the
//! generated derivative is plain Rust that rustc optimises with the rest of your code.
//!
//! ```
//! use ferrograd::differentiable;
//!
//! #[differentiable]
//! fn f(x: f64, y: &[f64], n: usize) -> f64 {
//!     let mut s = 0.0;
//!     for i in 0..n {
//!         s += (x * y[i]).sin();
//!     }
//!     if s > 1.0 {
//!         return s.ln();
//!     }
//!     s * s
//! }
//!
//! let y = [0.5, 1.0, 1.5, 2.0];
//! let (mut dx, mut dy) = (0.0, vec![0.0; 4]);
//! let value = f_grad(0.3, &y, 4, &mut dx, &mut dy); // reverse mode
//! let (v2, dir) = f_pushforward(0.3, &y, 4, 1.0, &[0.0; 4]); // forward mode: ∂f/∂x
//! assert!((value - v2).abs() < 1e-15 && (dir - dx).abs() < 1e-12);
//! ```
//!
//! ## What is generated (the naming contract)
//! For `fn f(params…) -> R` (`R` is `f64`/`f32`, `()`, or `Result` of those):
//! - `f_grad(params…, d_p…) -> R` — reverse mode. One trailing adjoint per differentiable
//!   parameter, in order: `&mut f64` for `f64`, `&mut [f64]` for `&[f64]` and `&mut [f64]`.
//!   Integer and bool parameters get none. Adjoints are **added into**; returns the value.
//!   With `#[differentiable(wrt(a, b))]` only `a`, `b` (and `&mut` outputs) get adjoints.
//! - `f_pullback(params…, d_ret, d_p…)` — reverse mode with an output seed `d_ret` (absent for
//!   unit functions). For a `&mut [f64]` parameter the adjoint holds the seed on entry (the
//!   adjoint of its final contents) and the adjoint of its initial contents on exit.
//!   Calls between differentiable functions use this.
//! - `f_pushforward(params…, t_p…) -> (R, R)` — forward mode: value and directional
//!   derivative along the tangents (`t_x: f64`, `t_y: &[f64]`, `t_out: &mut [f64]` which
//!   receives the tangent of the output). Unit functions return `()`.
//! - `f_jacobian(params…, jac: &mut [f64]) -> Result<(), ShapeError>` — for functions that
//!   return `()` and write exactly one `&mut [f64]` output `out`: `jac` is row-major
//!   `out.len() × n`, `n` the other differentiable inputs flattened in parameter order.
//! - `f_hessian(params…, hess: &mut [f64]) -> Result<f64, ShapeError>` — with
//!   `#[differentiable(hessian)]`: the `n × n` Hessian (row-major) by forward-over-reverse on
//!   dual numbers with four tangents ([`DualN`]: four columns per sweep); every differentiable
//!   function it calls must also be marked `hessian`. With struct parameters the rows are their
//!   float fields and the other inputs, named in order by `f_HESSIAN_INPUTS` (`["p.mu", …]`).
//! - `f_GRAD_SOURCE: &str` — the generated code, pretty-printed (Clad's `.dump()`);
//!   `#[differentiable(dump)]` also prints it at compile time.
//!
//! ## Structs of parameters and methods
//! A struct with `#[derive(Differentiable)]` (fields `f64`/`f32`, fixed arrays and `Vec`s of
//! them, nested `Differentiable` structs; integer fields are inactive) can be a parameter
//! `p: &S`, and `#[differentiable]` works on `&self` methods (also in a generic
//! `impl<T: Real> S<T>` block, whose methods then serve every scalar). The adjoint of `p` is
//! `d_p: &mut S` (same type, added into; [`Differentiable::zero_like`] makes a zeroed one
//! with `Vec`s sized like `p`), its tangent `t_p: &S`:
//!
//! ```
//! use ferrograd::{differentiable, Differentiable};
//!
//! #[derive(Clone, Differentiable)]
//! struct Gauss {
//!     mu: f64,
//!     sigma: f64,
//! }
//!
//! impl Gauss {
//!     #[differentiable]
//!     fn logpdf(&self, x: f64) -> f64 {
//!         let z = (x - self.mu) / self.sigma;
//!         -0.5 * z * z - self.sigma.ln()
//!     }
//! }
//!
//! #[differentiable]
//! fn nll(p: &Gauss, x: &[f64]) -> f64 {
//!     let mut s = 0.0;
//!     for &xi in x.iter() {
//!         s -= p.logpdf(xi); // the method's generated pullback
//!     }
//!     s
//! }
//!
//! let p = Gauss { mu: 0.1, sigma: 1.2 };
//! let x = [0.3, -0.4, 1.5];
//! let mut d_p = p.zero_like();
//! let value = nll_grad(&p, &x, &mut d_p, &mut []);
//! let (v2, along_mu) = nll_pushforward(&p, &x, &Gauss { mu: 1.0, sigma: 0.0 }, &[0.0; 3]);
//! assert!((value - v2).abs() < 1e-15 && (along_mu - d_p.mu).abs() < 1e-12);
//! ```
//!
//! The macro sees the function, not `S`: it takes a field for a float where the body uses it
//! as one (arithmetic, indexing into floats; and, in a struct that has such a field or that
//! `wrt(p)` names, where it is handed to a call) and for a constant elsewhere (loop bounds,
//! indices, sizes handed to kernels). rustc checks both guesses: a field taken for a constant
//! that holds a float is a compile error naming
//! [`structs::FloatFieldWouldBeTreatedAsAConstant`]; bind it (`let mu: f64 = p.mu;`) or name
//! the struct in `wrt(..)`.
//!
//! **View structs** are structs generic over their storage, passed as slices: `p: &Mlp<&[f32]>`
//! for inputs, `acts: &mut Acts<&mut [f32]>` for buffers the body writes (kernel outputs).
//! Every field of a view is a float slice; the adjoint (and an output's tangent) is the same
//! struct over `&mut` slices, `d_p: &mut Mlp<&mut [f32]>`, added into like every adjoint. A
//! model's many buffers then travel as a few named arguments, borrowed from one arena without
//! allocating (`ferrograd-train`'s models are written this way). A view is only taken apart:
//! it cannot be handed whole to a call. Any other `&mut S` must hold no float the body uses
//! (integer scratch such as max-pool argmax buffers).
//!
//! ## Vectorised and multi-threaded event loops: `simd`, `parallel`
//! `#[differentiable(simd)]` runs the reduction loops of `f` on SIMD lanes, in every generated
//! function (primal included); `#[differentiable(parallel)]` also splits them over rayon's
//! threads. A loop qualifies when it is a top-level `for` over a slice (`for x in xs`,
//! `for &x in xs.iter()`, or `for i in a..b` reading `s[i]`) whose body has only `let`
//! bindings and `acc += …` / `acc -= …` into one outer accumulator, with arithmetic and the
//! float primitives (`powf`, `abs`, `max`, `min` included; no `if`, comparison or call). The
//! compiler outlines its body into a function generic over
//! [`Real`], differentiates it like any other, and [`vloop`] runs the result on eight `f64`
//! or sixteen `f32` lanes ([`lanes::F64x8`], [`lanes::F32x16`], vectorised math in
//! [`simd_math`], runtime AVX-512/AVX2 dispatch; the primal and the fused value and gradient
//! two such groups at a time, [`lanes::F64x16`], [`lanes::F32x32`]), on `DualN` lanes for
//! Hessians. Sums follow a tree fixed by the event count: the result is the same bit for bit
//! with one thread or many, and within 1e-12 of the scalar path (whose results stay exactly as
//! they were: both are opt-in). A loop returned directly (`…; s`) computes value and gradient in one pass. Other
//! loops stay scalar; `simd` where no loop qualifies is a compile error saying why.
//!
//! An **empty adjoint slice** (`&mut []`) passed for a slice parameter means "this derivative
//! is not wanted": generated code passes it for buffers that carry no derivative (e.g. input
//! data under `wrt(..)`), ferrograd kernels skip that work, generated pullbacks use scratch.
//!
//! ## Tensor-level functions (`tch::Tensor`, with `ferrograd-torch`)
//! A straight-line function over `&Tensor` parameters returning `Tensor` (LibTorch ops:
//! `matmul`, `+ - * /` with broadcasting, `relu`, `tanh`, `sigmoid`, `exp`, `log`, `sum`/`mean`
//! (with dims), `view`/`reshape`/`flatten`, `transpose`, `log_softmax`, `cross_entropy_for_logits`,
//! `nll_loss`, `mse_loss`, `linear`, `conv1d`, `max_pool1d`) gets
//! `f_pullback(params…, d_ret: &Tensor, d_p: &mut Tensor…) -> Result<(), ferrograd_torch::Error>`,
//! `f_grad(params…, d_p…) -> Result<Tensor, ferrograd_torch::Error>` and
//! `f_autograd(params…) -> Result<Tensor, ferrograd_torch::Error>`: the function as one
//! LibTorch autograd node whose backward is the generated code (rules in
//! `ferrograd_torch::rules`, each checking its arguments: a wrong shape, dtype or device is an
//! `Err`, never a panic). Only `&Tensor` parameters are differentiable there. A hand-written
//! tensor-level `g_pullback` returns `Result<(), E>` with `ferrograd_torch::Error: From<E>`.
//!
//! ## Custom derivatives
//! A call `g(a, b)` inside a differentiable function uses `g_pullback` in reverse mode and
//! `g_pushforward` in forward mode, found by name at the call site. Mark `g` itself
//! `#[differentiable]`, or write them by hand (Clad's custom derivatives), e.g. for
//! `fn g(x: f64) -> f64`:
//! `fn g_pullback(x: f64, d_ret: f64, d_x: &mut f64)` and
//! `fn g_pushforward(x: f64, t_x: f64) -> (f64, f64)`. A call used as a statement (a kernel
//! writing `&mut [f32]` outputs) uses `g_pullback(params…, d_p…)` without `d_ret`; kernels
//! in [`kernels`] follow this contract.

pub mod adjoint;
pub mod dual;
pub mod dualn;
pub mod lanes;
pub mod real;
#[doc(hidden)]
pub mod runtime;
pub mod simd_math;
pub mod structs;
pub mod tape;
pub mod vloop;

pub use adjoint::{Adjoint, ArrayAdjoint};
pub use dual::Dual;
pub use dualn::DualN;
pub use ferrograd_kernels as kernels;
pub use ferrograd_macros::{differentiable, Differentiable};
pub use ferrograd_prims::ArgMode;
pub use real::{Partials, Real};
pub use structs::Differentiable;

/// What code generated by `#[differentiable]` and `#[derive(Differentiable)]` names: one
/// path for all of it, so that the runtime's layout can change without touching the
/// compiler's output. Not an API: nothing here is stable for hand-written code.
#[doc(hidden)]
pub mod __private {
    pub use crate::runtime::*;
    pub use crate::structs::{
        field_probe, FieldHoldsNoFloat, FloatFieldWouldBeTreatedAsAConstant, ProbeFloat, ProbeOther,
    };
    pub use crate::tape::{Hull, PooledTape};
    pub use crate::vloop;
    pub use crate::{
        Adjoint, ArgMode, ArrayAdjoint, Differentiable, DualN, Partials, Real, ShapeError,
    };
    /// The element type of a Hessian sweep's constant event slices (see `Lanes::Plain`).
    pub type Plain<T> = <T as crate::lanes::Lanes>::Plain;
}

/// A buffer passed to a generated `f_jacobian`/`f_hessian` has the wrong length.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{name}` has length {got}, expected {expected}")]
pub struct ShapeError {
    pub name: &'static str,
    pub got: usize,
    pub expected: usize,
}

impl ShapeError {
    /// `Ok` if `got == expected`.
    pub fn check(name: &'static str, got: usize, expected: usize) -> Result<(), ShapeError> {
        if got == expected {
            Ok(())
        } else {
            Err(ShapeError {
                name,
                got,
                expected,
            })
        }
    }
}
