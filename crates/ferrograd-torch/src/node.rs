//! One-call autograd nodes from closures: what `#[differentiable]` code plugs into.
//!
//! - [`apply_fn`]: a tensor-level forward and backward (`tch` ops) as one node;
//!   [`apply_fn_saving`] also keeps forward intermediates as LibTorch saved variables (the
//!   AD macro emits calls to exactly this for tensor-level `#[differentiable]` functions).
//! - [`slice_node`]: a slice-level function (ferrograd kernels, a generated `f` and
//!   `f_pullback`) run on the tensors' elements (copies of the inputs, see Memory).
//!   Forward writes the output tensor in place; backward runs the pullback on the saved
//!   inputs and returns the gradient tensors it wrote.
//! - [`value_and_grad_node`]: a scalar loss whose generated `f_grad` computes value and
//!   gradients in one sweep at forward time; backward hands out the gradients scaled by
//!   the seed (exact, since a gradient is linear in the seed). For training steps this
//!   saves recomputing the forward in backward.
//!
//! Slice-level nodes run ferrograd kernels; in a training loop, give the kernels LibTorch's
//! own threads ([`crate::parallel_for`]) so that one team of workers serves both.
//!
//! # Memory
//! Inputs must be dense, contiguous CPU tensors of the element type `T` (`f32` or `f64`);
//! anything else is **rejected** with an [`Error`] naming the input (call `.contiguous()` /
//! `.to_kind(..)` first if a conversion is what you want). The closures get **copies** of
//! the inputs' elements (one `memcpy` each, [`crate::to_vec`]), never views of their
//! storage: the caller still holds the input tensors, and tch lets any handle (or a
//! `shallow_clone` of it) write a tensor's storage in place, which would change a view
//! under the closure. Outputs and input gradients are fresh tensors, not shared with
//! anything yet, whose storage the closures write through `&mut [T]`. In backward, the
//! saved inputs, the output's values and its incoming gradient are handed over as owned
//! copies too (generated pullbacks overwrite the latter two: they recompute the forward,
//! and zero the output's adjoint).
//!
//! # Errors
//! Closures return [`NodeResult`], so `?` works on any error type (e.g. `KernelError`);
//! their errors and panics come back as [`Error`] values naming the node, from the call
//! itself (forward) or from [`crate::backward`] (backward).
//!
//! ```no_run
//! use ferrograd_torch::node::{slice_node, Pullback};
//! use tch::{Kind, Tensor};
//!
//! /// y = x², elementwise.
//! fn square(out: &mut [f64], x: &[f64]) {
//!     for (o, &v) in out.iter_mut().zip(x) { *o = v * v; }
//! }
//! /// d_x += 2·x·d_out
//! fn square_pullback(x: &[f64], d_out: &[f64], d_x: &mut [f64]) {
//!     for ((g, &v), &d) in d_x.iter_mut().zip(x).zip(d_out) { *g += 2.0 * v * d; }
//! }
//!
//! # fn main() -> Result<(), ferrograd_torch::Error> {
//! let x = Tensor::from_slice(&[1.0f64, 2.0, 3.0]).set_requires_grad(true);
//! let y = slice_node(
//!     "square",
//!     &[&x],
//!     &[3],
//!     |[x], out| Ok(square(out, x)),
//!     |(), p: Pullback<f64, 1>| {
//!         let [x] = p.inputs;
//!         let [d_x] = p.d_inputs;
//!         Ok(square_pullback(x, p.d_out, d_x))
//!     },
//! )?;
//! ferrograd_torch::backward(&y.f_sum(Kind::Double)?)?; // x.grad() = [2, 4, 6]
//! # Ok(()) }
//! ```

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Mutex;

use tch::{Device, Tensor};

use crate::{
    apply, as_slice_mut, to_vec, BackwardContext, CustomFunction, Element, Error, ForwardContext,
};

/// The error type of node closures: anything `?` can convert (`KernelError`,
/// `ShapeError`, [`Error`], `String`, ...).
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// What node closures return.
pub type NodeResult<T = ()> = Result<T, BoxError>;

// ---------------------------------------------------------------------------
// Tensor level

/// Runs `forward` on `inputs` as one autograd node whose backward is `backward`.
///
/// `forward` runs once, with autograd disabled, and returns the output. All inputs are
/// saved for backward; `backward(saved_inputs, grad_output)` returns one entry per input:
/// `Some(gradient)` with the input's shape, or `None` (no gradient). Panics in either
/// closure (e.g. from panicking `tch` ops) are caught and returned as [`Error::Panic`]
/// (from this call for `forward`, from [`crate::backward`] for `backward`). LibTorch
/// checks the gradients' shapes.
pub fn apply_fn<F, B>(
    name: &'static str,
    inputs: &[&Tensor],
    forward: F,
    backward: B,
) -> Result<Tensor, Error>
where
    F: Fn(&[Tensor]) -> Tensor + Send + 'static,
    B: Fn(&[Tensor], &Tensor) -> Vec<Option<Tensor>> + Send + 'static,
{
    apply_fn_saving(
        name,
        inputs,
        move |i| Ok((forward(i), Vec::new())),
        move |i, _, d| Ok(backward(i, d)),
    )
}

/// [`apply_fn`] whose forward also returns the intermediates its backward needs:
/// `forward(inputs) -> (output, saved)`, `backward(inputs, saved, grad_output)`. Both
/// are fallible: an `Err` (e.g. from a rule in [`crate::rules`] given a tensor it cannot
/// handle) comes back unchanged from this call (forward) or from [`crate::backward`]
/// (backward), so generated code propagates rule errors with `?` instead of panicking.
///
/// Inputs and `saved` are kept as LibTorch saved variables, exactly like a native op's:
/// they are released as soon as the node's backward has run (unless the graph is
/// retained), a second backward through a released graph is LibTorch's usual error, and
/// in-place changes to them in between are detected. Releasing them early matters for
/// speed as well as memory: intermediates that outlive the backward pass change the
/// allocator's heap layout and made a large gradient product page-fault every step (W1a:
/// 14 faults per step).
///
/// This is what the AD macro emits for tensor-level `#[differentiable]` functions; keep
/// the signature stable.
pub fn apply_fn_saving<F, B>(
    name: &'static str,
    inputs: &[&Tensor],
    forward: F,
    backward: B,
) -> Result<Tensor, Error>
where
    F: FnOnce(&[Tensor]) -> Result<(Tensor, Vec<Tensor>), Error> + Send + 'static,
    B: Fn(&[Tensor], &[Tensor], &Tensor) -> Result<Vec<Option<Tensor>>, Error> + Send + 'static,
{
    let node = FnNode {
        name,
        n_inputs: inputs.len(),
        forward: Some(forward),
        backward,
    };
    single_output(name, apply(node, inputs)?)
}

struct FnNode<F, B> {
    name: &'static str,
    n_inputs: usize,
    /// Taken by the one forward call.
    forward: Option<F>,
    backward: B,
}

impl<F, B> CustomFunction for FnNode<F, B>
where
    F: FnOnce(&[Tensor]) -> Result<(Tensor, Vec<Tensor>), Error> + Send + 'static,
    B: Fn(&[Tensor], &[Tensor], &Tensor) -> Result<Vec<Option<Tensor>>, Error> + Send + 'static,
{
    fn name(&self) -> &str {
        self.name
    }

    fn forward(
        &mut self,
        ctx: &mut ForwardContext,
        inputs: &[Tensor],
    ) -> Result<Vec<Tensor>, Error> {
        let forward = self
            .forward
            .take()
            .ok_or_else(|| Error::msg(format!("`{}`: forward ran twice", self.name)))?;
        let (out, saved) = forward(inputs)?;
        let mut all: Vec<&Tensor> = inputs.iter().collect();
        all.extend(saved.iter());
        ctx.save_for_backward(&all);
        Ok(vec![out])
    }

    fn backward(
        &self,
        ctx: &BackwardContext,
        grad_outputs: &[Tensor],
    ) -> Result<Vec<Option<Tensor>>, Error> {
        let saved = ctx.saved_tensors();
        let (inputs, extra) = saved.split_at(self.n_inputs.min(saved.len()));
        (self.backward)(inputs, extra, &grad_outputs[0])
    }
}

// ---------------------------------------------------------------------------
// Slice level

/// What a [`slice_node`] pullback gets, following ferrograd's pullback contract.
pub struct Pullback<'a, T, const N: usize> {
    /// The inputs' values: copies of the saved input tensors' elements.
    pub inputs: [&'a [T]; N],
    /// The output as forward wrote it (an owned copy, which the pullback may
    /// overwrite, e.g. when a generated pullback recomputes the forward).
    pub out: &'a mut [T],
    /// The output's adjoint: the incoming gradient (an owned, contiguous copy, which the
    /// pullback may zero, as kernels do).
    pub d_out: &'a mut [T],
    /// One adjoint per input, zero on entry, to be **accumulated** into: the storage of
    /// the gradient tensor returned to LibTorch. Empty (`&mut []`, "not wanted" for
    /// ferrograd kernels and generated pullbacks) for inputs that need no gradient.
    pub d_inputs: [&'a mut [T]; N],
}

/// Runs a slice-level function on `inputs` as one autograd node with output shape
/// `out_shape` (`&[]` for a scalar).
///
/// - `forward(inputs, out)` runs now: `inputs` are copies of the input tensors' elements
///   (see the module docs for what is accepted), `out` is the zero-filled storage of the
///   output tensor (`out_shape.iter().product()` elements). It returns a state `S`
///   that backward gets back, e.g. intermediate activations (`()` if none).
/// - `pullback(state, Pullback { inputs, out, d_out, d_inputs })` runs in
///   `loss.backward()`, at most once per forward unless the graph is retained.
///
/// Non-tensor arguments (dims, labels) are captured by the closures; `forward` may
/// borrow, `pullback` must own (`move`). Typical use with a generated function
/// `f(out, x, w, n)` and its `f_pullback(out, x, w, n, d_out, d_x, d_w)`:
///
/// ```ignore
/// let y = slice_node("f", &[&x, &w], &[n as i64], move |[x, w], out| Ok(f(out, x, w, n)?),
///     move |(), p| { let ([x, w], [d_x, d_w]) = (p.inputs, p.d_inputs);
///                    Ok(f_pullback(p.out, x, w, n, p.d_out, d_x, d_w)?) })?;
/// ```
///
/// # Errors
/// [`Error::InputCount`] unless `inputs.len() == N`; dtype, device, layout and
/// contiguity errors naming the input; errors and panics of `forward` (e.g. a kernel's
/// length check when an input has the wrong shape). Errors of `pullback` surface from
/// [`crate::backward`].
pub fn slice_node<T, S, F, B, const N: usize>(
    name: &'static str,
    inputs: &[&Tensor],
    out_shape: &[i64],
    forward: F,
    pullback: B,
) -> Result<Tensor, Error>
where
    T: Element,
    S: Send + 'static,
    F: FnOnce([&[T]; N], &mut [T]) -> NodeResult<S>,
    B: Fn(&mut S, Pullback<'_, T, N>) -> NodeResult + Send + 'static,
{
    let copies = input_copies::<T, N>(name, inputs)?;
    let views = copies.each_ref().map(Vec::as_slice);
    let mut out = Tensor::f_zeros(out_shape, (T::KIND, Device::Cpu))?;
    let state = {
        let out_slice = as_slice_mut::<T>(&mut out)?;
        run(name, "forward", || forward(views, out_slice))?
    };
    let node = SliceNode::<T, S, B, N> {
        name,
        out: Some(out),
        state: Mutex::new(state),
        pullback,
        _element: std::marker::PhantomData,
    };
    single_output(name, apply(node, inputs)?)
}

struct SliceNode<T, S, B, const N: usize> {
    name: &'static str,
    /// The output computed before `apply`; handed to LibTorch by `forward`.
    out: Option<Tensor>,
    state: Mutex<S>,
    pullback: B,
    _element: std::marker::PhantomData<fn() -> T>,
}

impl<T, S, B, const N: usize> CustomFunction for SliceNode<T, S, B, N>
where
    T: Element,
    S: Send + 'static,
    B: Fn(&mut S, Pullback<'_, T, N>) -> NodeResult + Send + 'static,
{
    fn name(&self) -> &str {
        self.name
    }

    fn num_inputs(&self) -> Option<usize> {
        Some(N)
    }

    fn forward(
        &mut self,
        ctx: &mut ForwardContext,
        inputs: &[Tensor],
    ) -> Result<Vec<Tensor>, Error> {
        let out = self
            .out
            .take()
            .ok_or_else(|| Error::msg(format!("`{}`: forward ran twice", self.name)))?;
        // Inputs, then the output (LibTorch saves an output without a reference cycle).
        let mut saved: Vec<&Tensor> = inputs.iter().collect();
        saved.push(&out);
        ctx.save_for_backward(&saved);
        Ok(vec![out])
    }

    fn backward(
        &self,
        ctx: &BackwardContext,
        grad_outputs: &[Tensor],
    ) -> Result<Vec<Option<Tensor>>, Error> {
        let name = self.name;
        let saved = ctx.saved_tensors();
        let (inputs, out) = (&saved[..N], &saved[N]);
        let copies = input_copies::<T, N>(name, &inputs.iter().collect::<Vec<_>>())?;
        let views = copies.each_ref().map(Vec::as_slice);
        let mut out = to_vec::<T>(out).map_err(|e| named(e, format!("output of `{name}`")))?;
        let mut d_out = to_vec::<T>(&grad_outputs[0])
            .map_err(|e| named(e, format!("gradient of the output of `{name}`")))?;
        let mut grads = new_grads::<T>(inputs, |i, _| ctx.needs_input_grad(i))?;
        let d_inputs = grad_views::<T, N>(name, &mut grads)?;
        let mut state = self
            .state
            .lock()
            .map_err(|_| Error::msg(format!("`{name}`: state poisoned by an earlier panic")))?;
        run(name, "backward", || {
            (self.pullback)(
                &mut state,
                Pullback {
                    inputs: views,
                    out: &mut out,
                    d_out: &mut d_out,
                    d_inputs,
                },
            )
        })?;
        Ok(grads)
    }
}

// ---------------------------------------------------------------------------
// Scalar losses: value and gradient in one sweep

/// Runs a scalar function with its gradient as one autograd node, computing both at
/// once: `value_and_grad(inputs, d_inputs)` returns the value and **adds** ∂value/∂input
/// into `d_inputs` (exactly a generated `f_grad`). Backward returns those gradients
/// times the incoming seed. Compared with [`slice_node`] plus a generated pullback, the
/// forward is not run a second time in backward.
///
/// `d_inputs[i]` is the zeroed storage of input `i`'s gradient when gradients are being
/// recorded (grad mode on) and input `i` requires grad; otherwise it is empty ("not
/// wanted"). Inputs are copied as in [`slice_node`]. The result is a scalar tensor.
///
/// # Errors
/// As [`slice_node`]; here every error of the closure surfaces from this call.
pub fn value_and_grad_node<T, F, const N: usize>(
    name: &'static str,
    inputs: &[&Tensor],
    value_and_grad: F,
) -> Result<Tensor, Error>
where
    T: Element,
    F: FnOnce([&[T]; N], [&mut [T]; N]) -> NodeResult<T>,
{
    let copies = input_copies::<T, N>(name, inputs)?;
    let views = copies.each_ref().map(Vec::as_slice);
    let recording = inputs.iter().any(|t| t.requires_grad()) && crate::ffi::grad_mode_enabled();
    let mut grads = new_grads::<T>(inputs.iter().copied(), |_, t| {
        recording && t.requires_grad()
    })?;
    let d_inputs = grad_views::<T, N>(name, &mut grads)?;
    let value = run(name, "forward", || value_and_grad(views, d_inputs))?;
    let mut out = Tensor::f_empty([0i64; 0], (T::KIND, Device::Cpu))?;
    as_slice_mut::<T>(&mut out)?[0] = value;
    let node = GradNode::<T> {
        name,
        out: Some(out),
        mask: grads.iter().map(Option::is_some).collect(),
        grads,
        _element: std::marker::PhantomData,
    };
    single_output(name, apply(node, inputs)?)
}

struct GradNode<T> {
    name: &'static str,
    out: Option<Tensor>,
    /// Moved into the autograd context by `forward`.
    grads: Vec<Option<Tensor>>,
    /// Which inputs have a gradient among the saved tensors, in order.
    mask: Vec<bool>,
    _element: std::marker::PhantomData<fn() -> T>,
}

impl<T: Element> CustomFunction for GradNode<T> {
    fn name(&self) -> &str {
        self.name
    }

    fn forward(
        &mut self,
        ctx: &mut ForwardContext,
        _inputs: &[Tensor],
    ) -> Result<Vec<Tensor>, Error> {
        let out = self
            .out
            .take()
            .ok_or_else(|| Error::msg(format!("`{}`: forward ran twice", self.name)))?;
        // Saved tensors, so LibTorch frees them with the graph and rejects a second
        // backward without `retain_graph`; which input each belongs to is in `mask`.
        let present: Vec<&Tensor> = self.grads.iter().flatten().collect();
        ctx.save_for_backward(&present);
        self.grads.clear();
        Ok(vec![out])
    }

    fn backward(
        &self,
        ctx: &BackwardContext,
        grad_outputs: &[Tensor],
    ) -> Result<Vec<Option<Tensor>>, Error> {
        let mask = &self.mask;
        let seed = &grad_outputs[0];
        // Read from memory: the seed is a contiguous one-element `T` tensor (the output's
        // dtype), and a dispatched `.item()` would cost a microsecond.
        let unit = to_vec::<T>(seed).is_ok_and(|s| s == [T::ONE]);
        let mut saved = ctx.saved_tensors().iter();
        mask.iter()
            .enumerate()
            .map(
                |(i, &present)| match present.then(|| saved.next()).flatten() {
                    Some(g) if ctx.needs_input_grad(i) && unit => Ok(Some(g.shallow_clone())),
                    Some(g) if ctx.needs_input_grad(i) => Ok(Some(g.f_mul(seed)?)),
                    _ => Ok(None),
                },
            )
            .collect()
    }
}

// ---------------------------------------------------------------------------
// Helpers

/// Copies the elements of `inputs` (`N` of them, checked first) out of their storage.
fn input_copies<T: Element, const N: usize>(
    name: &str,
    inputs: &[&Tensor],
) -> Result<[Vec<T>; N], Error> {
    if inputs.len() != N {
        return Err(Error::InputCount {
            function: name.to_owned(),
            expected: N,
            got: inputs.len(),
        });
    }
    let views = inputs
        .iter()
        .enumerate()
        .map(|(i, t)| to_vec::<T>(t).map_err(|e| named(e, format!("input {i} of `{name}`"))))
        .collect::<Result<Vec<_>, _>>()?;
    views
        .try_into()
        .map_err(|_| Error::msg("unreachable: input count checked"))
}

/// Fresh (not yet zeroed) gradient tensors for the inputs `wanted(index, input)` selects;
/// [`grad_views`] zeroes them.
fn new_grads<'t, T: Element>(
    inputs: impl IntoIterator<Item = &'t Tensor>,
    wanted: impl Fn(usize, &Tensor) -> bool,
) -> Result<Vec<Option<Tensor>>, Error> {
    inputs
        .into_iter()
        .enumerate()
        .map(|(i, t)| {
            if wanted(i, t) {
                Tensor::f_empty(t.size(), (T::KIND, Device::Cpu)).map(Some)
            } else {
                Ok(None)
            }
        })
        .collect::<Result<_, _>>()
        .map_err(Error::from)
}

/// Zeroed mutable views of fresh gradient tensors; `&mut []` where there is none.
///
/// Zeroed here rather than by `Tensor::zeros` (one dispatched op less per gradient).
/// (Zeroing in one piece per kernel thread, so that each piece sits where the row-split
/// weight-gradient product accumulates, measured 20-40 µs slower per W1a step in a kept-warm
/// rayon pool: the hand-offs disturb it.)
fn grad_views<'a, T: Element, const N: usize>(
    name: &str,
    grads: &'a mut [Option<Tensor>],
) -> Result<[&'a mut [T]; N], Error> {
    let views = grads
        .iter_mut()
        .enumerate()
        .map(|(i, g)| match g {
            Some(t) => {
                let v = as_slice_mut::<T>(t)
                    .map_err(|e| named(e, format!("gradient of input {i} of `{name}`")))?;
                v.fill(T::default());
                Ok(v)
            }
            None => Ok(<&mut [T]>::default()),
        })
        .collect::<Result<Vec<_>, Error>>()?;
    views
        .try_into()
        .map_err(|_| Error::msg("unreachable: gradient count checked"))
}

/// Runs user code, turning its errors and panics into [`Error`]s that name the node.
fn run<R>(name: &str, phase: &'static str, f: impl FnOnce() -> NodeResult<R>) -> Result<R, Error> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(r)) => Ok(r),
        Ok(Err(e)) => Err(Error::msg(format!("`{name}` {phase}: {e}"))),
        Err(payload) => Err(Error::Panic {
            function: name.to_owned(),
            phase,
            message: payload
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "non-string panic payload".to_owned()),
        }),
    }
}

/// Replaces the generic "to_vec"/"as_slice_mut" in a view error with which tensor it was.
fn named(error: Error, tensor: String) -> Error {
    match error {
        Error::Dtype { expected, got, .. } => Error::Dtype {
            what: tensor,
            expected,
            got,
        },
        Error::NotContiguous { .. } => Error::NotContiguous { what: tensor },
        Error::Device { device, .. } => Error::Device {
            what: tensor,
            device,
        },
        Error::Layout { .. } => Error::Layout { what: tensor },
        Error::Undefined { .. } => Error::Undefined { what: tensor },
        Error::SharedStorage {
            handles, storages, ..
        } => Error::SharedStorage {
            what: tensor,
            handles,
            storages,
        },
        Error::RequiresGrad { .. } => Error::RequiresGrad { what: tensor },
        other => other,
    }
}

fn single_output(name: &str, mut outputs: Vec<Tensor>) -> Result<Tensor, Error> {
    match outputs.len() {
        1 => outputs
            .pop()
            .ok_or_else(|| Error::msg("unreachable: one output")),
        n => Err(Error::msg(format!(
            "`{name}`: expected exactly one output, got {n}"
        ))),
    }
}
