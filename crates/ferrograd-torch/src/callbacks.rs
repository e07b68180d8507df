//! The callbacks LibTorch calls for a custom autograd node (forward, backward, drop) and
//! `apply`, which creates one: the layer between the raw FFI (`ffi.rs`) and the public
//! custom-function API (`function.rs`). It knows the node's Rust side only through
//! `context.rs`, so the layers have no cycle.

use std::ffi::c_void;
use std::panic::{catch_unwind, AssertUnwindSafe};

use ferrograd_torch_sys as sys;
use tch::Tensor;

use crate::context::{BackwardContext, CustomFunction, ForwardContext, Values};
use crate::ffi::{panic_message, push, set_error, take_error, Borrowed, TensorVec};
use crate::Error;

/// The Rust side of one autograd node, owned by the node (capsule in saved_data).
struct State<F> {
    function: F,
    name: String,
    values: Values,
}

/// Per-`apply` channel for forward's typed error.
struct ApplyEnv {
    error: Option<Error>,
}

/// # Safety
/// Called by the shim only: `state` is the `State<F>` passed to `fg_apply`, not
/// used concurrently; `env` is that call's `ApplyEnv`; the pointer arguments are
/// valid for the call.
unsafe extern "C" fn forward_cb<F: CustomFunction>(
    state: *mut c_void,
    env: *mut c_void,
    inputs: *const sys::fg_tensor,
    n_inputs: usize,
    outputs: *mut sys::fg_tensor_vec,
    saved: *mut sys::fg_tensor_vec,
    non_differentiable: *mut sys::fg_tensor_vec,
    materialize_grads: *mut u8,
    err: *mut sys::fg_string,
) -> i32 {
    // SAFETY: see the function's contract.
    let (state, env) = unsafe { (&mut *state.cast::<State<F>>(), &mut *env.cast::<ApplyEnv>()) };
    // SAFETY: `inputs` holds `n_inputs` handles valid for this call.
    let inputs = unsafe { Borrowed::new(inputs, n_inputs) };
    let name = &state.name;
    let result = catch_unwind(AssertUnwindSafe(|| {
        let mut ctx = ForwardContext::new();
        let outs = state.function.forward(&mut ctx, inputs.tensors())?;
        Ok((outs, ctx))
    }))
    .unwrap_or_else(|p| {
        Err(Error::Panic {
            function: name.clone(),
            phase: "forward",
            message: panic_message(&*p),
        })
    })
    .and_then(|(outs, ctx)| {
        for &index in &ctx.non_differentiable {
            let out = outs.get(index).ok_or_else(|| Error::OutputIndex {
                function: name.clone(),
                index,
                outputs: outs.len(),
            })?;
            push(non_differentiable, Some(out))?;
        }
        for out in &outs {
            push(outputs, Some(out))?;
        }
        for t in &ctx.saved {
            push(saved, Some(t))?;
        }
        // SAFETY: valid out-parameter for this call.
        unsafe { *materialize_grads = u8::from(ctx.materialize_grads) };
        state.values = ctx.values;
        Ok(())
    });
    match result {
        Ok(()) => 0,
        Err(e) => {
            set_error(err, &format!("`{name}` forward failed: {e}"));
            env.error = Some(e);
            1
        }
    }
}

/// # Safety
/// Called by the shim only: `state` is a live `State<F>` (the node serialises
/// backward calls); the pointer arguments are valid for the call.
unsafe extern "C" fn backward_cb<F: CustomFunction>(
    state: *mut c_void,
    saved: *const sys::fg_tensor,
    n_saved: usize,
    grads: *const sys::fg_tensor,
    n_grads: usize,
    needs_input_grad: *const u8,
    n_inputs: usize,
    grad_inputs: *mut sys::fg_tensor_vec,
    err: *mut sys::fg_string,
) -> i32 {
    // SAFETY: see the function's contract; backward only reads the state.
    let state = unsafe { &*state.cast::<State<F>>() };
    // SAFETY: `saved`/`grads` hold `n_saved`/`n_grads` handles valid for this call.
    let (saved, grads) = unsafe { (Borrowed::new(saved, n_saved), Borrowed::new(grads, n_grads)) };
    let needs: &[u8] = if n_inputs == 0 {
        &[]
    } else {
        // SAFETY: `needs_input_grad` holds `n_inputs` bytes valid for this call.
        unsafe { std::slice::from_raw_parts(needs_input_grad, n_inputs) }
    };
    let name = &state.name;
    let result = catch_unwind(AssertUnwindSafe(|| {
        let ctx = BackwardContext {
            function: name,
            saved: saved.tensors(),
            values: &state.values,
            needs_input_grad: needs,
        };
        state.function.backward(&ctx, grads.tensors())
    }))
    .unwrap_or_else(|p| {
        Err(Error::Panic {
            function: name.clone(),
            phase: "backward",
            message: panic_message(&*p),
        })
    })
    .and_then(|gs| {
        if gs.len() != n_inputs {
            return Err(Error::GradCount {
                function: name.clone(),
                expected: n_inputs,
                got: gs.len(),
            });
        }
        gs.iter().try_for_each(|g| push(grad_inputs, g.as_ref()))
    });
    match result {
        Ok(()) => 0,
        Err(e) => {
            set_error(err, &format!("`{name}` backward failed: {e}"));
            1
        }
    }
}

/// # Safety
/// Called by the shim exactly once per `fg_apply`, with the state it was given.
unsafe extern "C" fn drop_cb<F: CustomFunction>(state: *mut c_void) {
    // SAFETY: `state` came from Box::into_raw in `apply` and is dropped once.
    let state = unsafe { Box::from_raw(state.cast::<State<F>>()) };
    // A panicking Drop must not unwind into C++; the state is gone either way.
    let _ = catch_unwind(AssertUnwindSafe(move || drop(state)));
}

pub(crate) fn apply<F: CustomFunction>(
    function: F,
    name: String,
    inputs: &[&Tensor],
) -> Result<Vec<Tensor>, Error> {
    let outputs = TensorVec::new()?;
    let ptrs: Vec<sys::fg_tensor> = inputs.iter().map(|t| t.as_ptr().cast_mut()).collect();
    let vtable = sys::fg_vtable {
        forward: forward_cb::<F>,
        backward: backward_cb::<F>,
        drop: drop_cb::<F>,
    };
    // The state owns the name (its heap buffer does not move with the box), which the shim
    // reads only while it holds the state.
    let (name_ptr, name_len) = (name.as_ptr(), name.len());
    let state = Box::into_raw(Box::new(State {
        function,
        name,
        values: Values::new(),
    }));
    let mut env = ApplyEnv { error: None };
    // SAFETY: fg_apply takes ownership of `state` (released through drop_cb
    // exactly once, after fg_apply has used the name it owns) and copies the vtable;
    // `env`, `ptrs` (live handles borrowed from `inputs`) and `outputs` outlive the call.
    let err = unsafe {
        sys::fg_apply(
            state.cast(),
            &vtable,
            (&raw mut env).cast(),
            name_ptr.cast(),
            name_len,
            ptrs.as_ptr(),
            ptrs.len(),
            outputs.0,
        )
    };
    if let Some(msg) = take_error(err) {
        return Err(env.error.take().unwrap_or(Error::Torch(msg)));
    }
    outputs
        .into_tensors()?
        .into_iter()
        .map(|t| t.ok_or_else(|| Error::Torch("forward returned an undefined tensor".into())))
        .collect()
}
