//! Fallible entry points into LibTorch's autograd engine.
//!
//! Unlike tch's `f_run_backward` (which crashes on a tensor without `grad_fn`),
//! these go through `torch::autograd::backward` / `grad`, which validate their
//! arguments; every failure is an `Err`.

use tch::Tensor;

use crate::{ffi, Error};

/// `loss.backward()`: accumulates d(loss)/d(leaf) into the leaves' `.grad()`.
/// `loss` must be a scalar that requires grad. The graph is freed afterwards
/// (a second call through the same graph is an error).
pub fn backward(loss: &Tensor) -> Result<(), Error> {
    ffi::backward(&[loss], &[], false, false)
}

/// Options for [`backward_with`] and [`grad`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GradOptions {
    /// Keep the graph's buffers so it can be differentiated again.
    pub retain_graph: bool,
    /// Record the backward computation itself (for higher derivatives).
    pub create_graph: bool,
    /// [`grad`] only: return `None` for inputs that do not affect the outputs
    /// instead of failing.
    pub allow_unused: bool,
}

/// Seeds must be dense, non-empty and of their tensor's dtype (LibTorch would convert an
/// integer seed silently); their shapes LibTorch checks.
fn check_seeds(tensors: &[&Tensor], seeds: &[&Tensor], what: &str) -> Result<(), Error> {
    for (i, (t, s)) in tensors.iter().zip(seeds).enumerate() {
        let name = || format!("{what} {i}");
        ffi::check_input(s, name)?;
        let (want, got) = (t.f_kind()?, s.f_kind()?);
        if want != got {
            return Err(Error::Dtype {
                what: name(),
                expected: want,
                got: format!("{got:?}"),
            });
        }
    }
    Ok(())
}

/// `torch::autograd::backward(tensors, grad_tensors, ...)`. `grad_tensors` is
/// empty (implicit ones for scalar tensors) or has one entry per tensor, of its dtype.
pub fn backward_with(
    tensors: &[&Tensor],
    grad_tensors: &[&Tensor],
    options: GradOptions,
) -> Result<(), Error> {
    check_seeds(tensors, grad_tensors, "backward_with: gradient")?;
    ffi::backward(
        tensors,
        grad_tensors,
        options.retain_graph,
        options.create_graph,
    )
}

/// `torch::autograd::grad`: returns d(Σ outputsᵢ·grad_outputsᵢ)/d(inputsⱼ) for each
/// input without touching `.grad()`; `None` for unused inputs when
/// `allow_unused`. `grad_outputs` is empty (scalar outputs) or one per output, of its
/// dtype.
pub fn grad(
    outputs: &[&Tensor],
    inputs: &[&Tensor],
    grad_outputs: &[&Tensor],
    options: GradOptions,
) -> Result<Vec<Option<Tensor>>, Error> {
    check_seeds(outputs, grad_outputs, "grad: grad_output")?;
    ffi::grad(
        outputs,
        inputs,
        grad_outputs,
        options.retain_graph,
        options.create_graph,
        options.allow_unused,
    )
}
