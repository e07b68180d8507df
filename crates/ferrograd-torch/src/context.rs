//! What a custom autograd function is: the [`CustomFunction`] trait and the contexts its
//! forward and backward get (below `callbacks.rs`, which calls them).

use std::any::Any;
use std::collections::HashMap;

use tch::Tensor;

use crate::Error;

/// A differentiable operation with a hand-written (or generated) backward.
///
/// Non-tensor arguments are fields of `self`. [`apply`] runs `forward` with
/// autograd disabled and, when an input requires grad, records one node in
/// LibTorch's graph whose backward calls [`CustomFunction::backward`].
///
/// ```no_run
/// use ferrograd_torch::{apply, BackwardContext, CustomFunction, Error, ForwardContext};
/// use tch::Tensor;
///
/// /// y = alpha · x²
/// struct ScaledSquare { alpha: f64 }
///
/// impl CustomFunction for ScaledSquare {
///     fn num_inputs(&self) -> Option<usize> { Some(1) }
///     fn forward(&mut self, ctx: &mut ForwardContext, x: &[Tensor]) -> Result<Vec<Tensor>, Error> {
///         ctx.save_for_backward(&[&x[0]]);
///         Ok(vec![x[0].f_square()?.f_mul_scalar(self.alpha)?])
///     }
///     // dx = 2·alpha·x·dy
///     fn backward(&self, ctx: &BackwardContext, dy: &[Tensor]) -> Result<Vec<Option<Tensor>>, Error> {
///         let x = &ctx.saved_tensors()[0];
///         Ok(vec![Some(x.f_mul(&dy[0])?.f_mul_scalar(2.0 * self.alpha)?)])
///     }
/// }
///
/// # fn main() -> Result<(), Error> {
/// let x = Tensor::from_slice(&[1.0f64, 2.0]).set_requires_grad(true);
/// let y = apply(ScaledSquare { alpha: 3.0 }, &[&x])?;
/// ferrograd_torch::backward(&y[0].f_sum(tch::Kind::Double)?)?;
/// # Ok(()) }
/// ```
pub trait CustomFunction: Send + 'static {
    /// Name used in error messages.
    fn name(&self) -> &str {
        std::any::type_name::<Self>()
    }

    /// The number of tensor inputs, if fixed; [`apply`] checks it before running anything.
    fn num_inputs(&self) -> Option<usize> {
        None
    }

    /// Computes the outputs. Runs once per [`apply`], with autograd disabled.
    /// Save what backward needs in `ctx` (or in `self`).
    fn forward(
        &mut self,
        ctx: &mut ForwardContext,
        inputs: &[Tensor],
    ) -> Result<Vec<Tensor>, Error>;

    /// Given one gradient per forward output, returns one entry per forward input:
    /// `Some(grad)` with the input's shape, or `None` (no gradient: inputs that do
    /// not need one, see [`BackwardContext::needs_input_grad`]). Gradients are
    /// contiguous; they are zeros for outputs that got no gradient unless
    /// [`ForwardContext::set_materialize_grads`]`(false)` was called, in which case
    /// they may be undefined (`!grad.defined()`).
    fn backward(
        &self,
        ctx: &BackwardContext,
        grad_outputs: &[Tensor],
    ) -> Result<Vec<Option<Tensor>>, Error>;
}

/// Values saved in forward for backward, by key.
pub(crate) type Values = HashMap<&'static str, Box<dyn Any + Send>>;

/// What `forward` can record for backward.
pub struct ForwardContext {
    pub(crate) saved: Vec<Tensor>,
    pub(crate) values: Values,
    pub(crate) non_differentiable: Vec<usize>,
    pub(crate) materialize_grads: bool,
}

impl ForwardContext {
    pub(crate) fn new() -> Self {
        ForwardContext {
            saved: Vec::new(),
            values: HashMap::new(),
            non_differentiable: Vec::new(),
            materialize_grads: true,
        }
    }

    /// Saves tensors (inputs, outputs or intermediates) for backward, where
    /// [`BackwardContext::saved_tensors`] returns them in the same order. LibTorch
    /// checks that they were not modified in place in between, and frees them
    /// after a backward pass without `retain_graph` (a second backward is then an error).
    pub fn save_for_backward(&mut self, tensors: &[&Tensor]) {
        self.saved.extend(tensors.iter().map(|t| t.shallow_clone()));
    }

    /// Saves a non-tensor value (scalar, shape, ...) for backward under `key`.
    pub fn save_value<T: Any + Send>(&mut self, key: &'static str, value: T) {
        self.values.insert(key, Box::new(value));
    }

    /// Marks forward output `index` as not differentiable: it will not require
    /// grad, and its incoming gradient is always zero (or undefined).
    pub fn mark_non_differentiable(&mut self, index: usize) {
        self.non_differentiable.push(index);
    }

    /// Whether backward receives zeros (default) or undefined tensors for
    /// outputs that got no gradient.
    pub fn set_materialize_grads(&mut self, value: bool) {
        self.materialize_grads = value;
    }
}

/// What `backward` can read.
pub struct BackwardContext<'a> {
    pub(crate) function: &'a str,
    pub(crate) saved: &'a [Tensor],
    pub(crate) values: &'a Values,
    pub(crate) needs_input_grad: &'a [u8],
}

impl BackwardContext<'_> {
    /// The tensors passed to [`ForwardContext::save_for_backward`], in order.
    pub fn saved_tensors(&self) -> &[Tensor] {
        self.saved
    }

    /// The value saved under `key` with [`ForwardContext::save_value`].
    pub fn value<T: Any>(&self, key: &str) -> Result<&T, Error> {
        let problem = |problem| Error::SavedValue {
            function: self.function.to_owned(),
            key: key.to_owned(),
            problem,
        };
        let value = self
            .values
            .get(key)
            .ok_or_else(|| problem("was never saved"))?;
        value
            .downcast_ref::<T>()
            .ok_or_else(|| problem("has another type"))
    }

    /// Whether input `index` needs a gradient (returning `None` for it is then fine).
    pub fn needs_input_grad(&self, index: usize) -> bool {
        self.needs_input_grad.get(index).is_some_and(|&b| b != 0)
    }

    /// The number of tensor inputs of the forward call.
    pub fn num_inputs(&self) -> usize {
        self.needs_input_grad.len()
    }
}
