//! Custom autograd functions: Rust forward/backward as a `torch::autograd::Function` node
//! ([`apply`]), and the argument checks their `forward`s use.

use tch::Tensor;

use crate::context::CustomFunction;
use crate::{callbacks, ffi, Error};

/// Runs `function` on `inputs` as one node of LibTorch's autograd graph.
///
/// The outputs require grad when an input does (and grad mode is on), and
/// `backward` on anything computed from them runs [`CustomFunction::backward`].
/// Errors from `forward` (and panics, which are caught) are returned as `Err`.
///
/// # Errors
/// Besides those of `forward`: a wrong number of inputs, and an input that is undefined,
/// not dense (sparse, mkldnn) or has no elements. Dtype, device and contiguity are
/// `forward`'s to check ([`check_kind`], [`crate::to_vec`]): LibTorch ops accept them all.
pub fn apply<F: CustomFunction>(function: F, inputs: &[&Tensor]) -> Result<Vec<Tensor>, Error> {
    if let Some(expected) = function.num_inputs() {
        if expected != inputs.len() {
            return Err(Error::InputCount {
                function: function.name().to_owned(),
                expected,
                got: inputs.len(),
            });
        }
    }
    for (i, t) in inputs.iter().enumerate() {
        ffi::check_input(t, || format!("input {i} of `{}`", function.name()))?;
    }
    // Resolved once; the node keeps it for backward's messages.
    let name = function.name().to_owned();
    callbacks::apply(function, name, inputs)
}

/// Convenience: `function.apply(&[&x])` instead of `apply(function, &[&x])`.
pub trait Apply: CustomFunction + Sized {
    /// See [`apply`].
    fn apply(self, inputs: &[&Tensor]) -> Result<Vec<Tensor>, Error> {
        apply(self, inputs)
    }
}

impl<F: CustomFunction> Apply for F {}

/// Checks a tensor's dtype, for use in `forward`.
pub fn check_kind(what: &str, tensor: &Tensor, expected: tch::Kind) -> Result<(), Error> {
    match tensor.f_kind() {
        Ok(kind) if kind == expected => Ok(()),
        Ok(kind) => Err(Error::Dtype {
            what: what.to_owned(),
            expected,
            got: format!("{kind:?}"),
        }),
        Err(e) => Err(Error::Dtype {
            what: what.to_owned(),
            expected,
            got: e.to_string(),
        }),
    }
}

/// Checks a tensor's shape, for use in `forward`.
pub fn check_shape(what: &str, tensor: &Tensor, expected: &[i64]) -> Result<(), Error> {
    if !tensor.defined() {
        return Err(Error::Undefined {
            what: what.to_owned(),
        });
    }
    let got = tensor.size();
    if got == expected {
        Ok(())
    } else {
        Err(Error::Shape {
            what: what.to_owned(),
            expected: expected.to_vec(),
            got,
        })
    }
}
