//! ferrograd-torch: the safe LibTorch bridge.
//!
//! - [`CustomFunction`] + [`apply`]: Rust forward/backward as a real
//!   `torch::autograd::Function` node in LibTorch's graph (tch-rs has none).
//! - [`backward`], [`backward_with`], [`grad`]: fallible autograd entry points.
//! - [`gradcheck`]: finite-difference and native-autograd gradient checks (f64).
//! - [`as_slice`], [`as_slice_mut`]: zero-copy views of exclusively held CPU tensors;
//!   [`to_vec`]: a copy of a (possibly shared) tensor's elements.
//! - [`parallel_for`]: runs ferrograd's kernels on LibTorch's own intra-op threads.
//! - [`torchscript`]: TorchScript files for inference ([`TorchScript`]) and fine-tuning
//!   ([`TrainableTorchScript`], parameters in a `VarStore`), e.g. as the backbone of a model
//!   whose head is a ferrograd node.
//!
//! Errors are [`Error`] values, including errors and panics raised in Rust
//! forward/backward code (caught at the FFI boundary). All `unsafe` lives in the
//! private FFI layer: `ffi` (raw calls, tensor memory) and `callbacks` (the functions
//! LibTorch calls).
//!
//! # Building
//! `source scripts/env.sh` (creates the torch 2.13.0 venv and sets
//! `LIBTORCH_USE_PYTORCH=1`), then `cargo build -p ferrograd-torch`. Crates that
//! link binaries against this crate add the rpath line shown in this crate's
//! build.rs to their own build.rs.

mod autograd;
pub mod batch;
mod callbacks;
mod context;
mod dtype;
mod error;
mod ffi;
mod function;
pub mod gradcheck;
pub mod node;
pub mod rules;
mod slice;
mod threads;
pub mod torchscript;

pub use autograd::{backward, backward_with, grad, GradOptions};
pub use batch::RootBatchTensors;
pub use context::{BackwardContext, CustomFunction, ForwardContext};
pub use error::Error;
pub use function::{apply, check_kind, check_shape, Apply};
pub use slice::{as_slice, as_slice_mut, to_meta, to_vec, Element};
/// The tch version this bridge is built against (generated code names `ferrograd_torch::tch::Tensor`).
pub use tch;
pub use threads::parallel_for;
pub use torchscript::{InputSpec, TorchScript, TrainableTorchScript};
