//! The models as plain Rust functions over kernels, and their gradients.
//!
//! Each model is one function `*_loss(inputs, params…, activations…, dims…) -> Result<f32, _>`
//! written exactly as `#[ferrograd::differentiable(wrt(params…))]` expects. Its gradient
//! `*_loss_grad(…, d_params…, d_activations…)` follows the macro's naming contract and body
//! (the kernels' pullbacks in reverse order, `&mut []` for the input batch, whose adjoint is not
//! needed).
//!
//! **Why the gradients are written out here for now** (to be replaced by the attribute as
//! soon as the macro accepts these functions, see the crate README): the macro currently
//! (a) emits `f(prim…, , adj…)` — an empty argument — for kernel calls used as `?` statements,
//! (b) always emits `f_pushforward`, which needs `*_pushforward` rules the kernels do not
//! have, and (c) rejects `Conv1dDims`/`Pool1dDims` parameters. The hand-written bodies are
//! the macro's own output for [`mlp::mlp_loss`] (checked with `ferrograd_ad::generate`), and
//! both are checked against finite differences in `tests/gradients.rs`.

pub mod cnn;
pub mod mlp;
