//! Run ONNX models at run time, forward and backward (issue 15, phase 1).
//!
//! [`Model::load`] decodes the protobuf (the messages of `onnx.proto` we need are declared in
//! `proto.rs`, no `protoc`), then checks the model before anything runs: the default-domain
//! opset must be 13–21, every node's op must be supported (all unsupported nodes are reported
//! together, by node name and op type), every value is defined once, the nodes are sorted
//! topologically, and shapes are checked by a dry run on zeros with dynamic dimensions set to
//! 1. A corrupt file, an unknown op, a wrong input shape: an [`OnnxError`], never a panic.
//!
//! [`Model::forward`] keeps every intermediate value; [`Forward::backward`] runs each op's
//! pullback in reverse order, accumulating adjoints, and returns the gradient w.r.t. every
//! float graph input and every float initializer ([`Forward::backward_sum`]: of the sum of all
//! outputs). Tensors are f32, with i64 for shapes and indices. The ops ([`SUPPORTED`]) live
//! in `ops/`, each forward next to its pullback; MatMul and Gemm use
//! `ferrograd_kernels::matmul`.
//!
//! [`ops_report`] and [`run`] are the `ferrograd onnx ops|run` subcommands.
//!
//! ```no_run
//! let model = ferrograd_onnx::Model::load("model.onnx")?;
//! let x = ferrograd_onnx::Tensor::f32(vec![2, 8], vec![0.5; 16])?;
//! let fwd = model.forward([("x", x)])?;
//! let grads = fwd.backward_sum()?;
//! println!("{:?}", grads.get("fc1.weight").map(|g| g.shape()));
//! # Ok::<(), ferrograd_onnx::OnnxError>(())
//! ```

mod cli;
mod error;
mod model;
mod npy;
mod ops;
mod proto;
mod tensor;

pub use cli::{file_name, ops_report, run, RunSummary};
pub use error::{OnnxError, Result, UnsupportedOp};
pub use model::{Dim, ElemType, Forward, Gradients, Model, ValueInfo, OPSETS};
pub use npy::{read_npy, write_npy};
pub use ops::SUPPORTED;
pub use tensor::{Data, Tensor};

#[cfg(test)]
mod fuzz_tests;
