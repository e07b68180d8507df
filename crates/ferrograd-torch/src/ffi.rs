//! The raw FFI layer (the bottom of the crate, above `error` and `dtype` only): owned C++
//! objects, the autograd entry points and raw tensor memory access. With `callbacks.rs`
//! (the functions LibTorch calls), the only `unsafe` of this crate.
//!
//! Ownership rules (see `csrc/shim.h`): tensor handles passed into callbacks are
//! borrowed for the call; handles taken from a `TensorVec` are owned; C++ strings
//! returned as errors are owned and freed here.

use std::ffi::c_void;
use std::mem::ManuallyDrop;
use std::panic::{catch_unwind, AssertUnwindSafe};

use ferrograd_torch_sys as sys;
use tch::Tensor;

use crate::dtype::{Element, Viewable};
use crate::Error;

// ---------------------------------------------------------------------------
// Owned C++ objects

/// Takes ownership of an error string returned by the shim (NULL = success).
pub(crate) fn take_error(s: *mut sys::fg_string) -> Option<String> {
    if s.is_null() {
        return None;
    }
    // SAFETY: a non-null fg_string* returned by the shim is an owned, valid
    // std::string; data/len describe its bytes; it is freed exactly once here.
    let msg = unsafe {
        let bytes =
            std::slice::from_raw_parts(sys::fg_string_data(s).cast::<u8>(), sys::fg_string_len(s));
        let msg = String::from_utf8_lossy(bytes).into_owned();
        sys::fg_string_free(s);
        msg
    };
    Some(msg)
}

/// Writes `msg` into a callback's error out-parameter.
pub(crate) fn set_error(err: *mut sys::fg_string, msg: &str) {
    // SAFETY: `err` is the valid std::string* the shim passed to the callback;
    // fg_string_set copies `msg.len()` bytes from `msg` and catches all exceptions.
    unsafe { sys::fg_string_set(err, msg.as_ptr().cast(), msg.len()) }
}

/// An owned `std::vector<at::Tensor>`.
pub(crate) struct TensorVec(pub(crate) *mut sys::fg_tensor_vec);

impl TensorVec {
    pub(crate) fn new() -> Result<Self, Error> {
        // SAFETY: plain allocation; returns NULL on failure, checked below.
        let v = unsafe { sys::fg_tensor_vec_new() };
        if v.is_null() {
            Err(Error::Torch(
                "out of memory allocating a tensor vector".into(),
            ))
        } else {
            Ok(TensorVec(v))
        }
    }

    /// Moves the elements out as owned tch tensors (`None` for undefined ones).
    pub(crate) fn into_tensors(self) -> Result<Vec<Option<Tensor>>, Error> {
        // SAFETY: self.0 is a valid vector owned by self.
        let n = unsafe { sys::fg_tensor_vec_len(self.0) };
        let mut out = Vec::with_capacity(n);
        for i in 0..n {
            // SAFETY: i < len; the returned handle is a new heap `at::Tensor`
            // (or NULL on allocation failure) that we own.
            let ptr = unsafe { sys::fg_tensor_vec_take(self.0, i) };
            if ptr.is_null() {
                return Err(Error::Torch("out of memory taking a tensor".into()));
            }
            // SAFETY: `ptr` is an owned handle; tch's Tensor frees it on drop.
            let t = unsafe { Tensor::from_ptr(ptr) };
            out.push(t.defined().then_some(t));
        }
        Ok(out)
    }
}

impl Drop for TensorVec {
    fn drop(&mut self) {
        // SAFETY: self.0 was allocated by fg_tensor_vec_new and is freed once.
        unsafe { sys::fg_tensor_vec_free(self.0) }
    }
}

/// Pushes a (possibly absent) tensor to a shim-owned vector.
pub(crate) fn push(v: *mut sys::fg_tensor_vec, t: Option<&Tensor>) -> Result<(), Error> {
    let ptr = t.map_or(std::ptr::null_mut(), |t| t.as_ptr().cast_mut());
    // SAFETY: `v` is a valid vector passed by the shim for this call; `ptr` is
    // NULL or a live tensor handle, which the shim only reads (copies).
    let err = unsafe { sys::fg_tensor_vec_push(v, ptr) };
    take_error(err).map_or(Ok(()), |m| Err(Error::Torch(m)))
}

/// Tensor handles borrowed from C++ for the duration of a callback.
pub(crate) struct Borrowed(Vec<ManuallyDrop<Tensor>>);

impl Borrowed {
    /// # Safety
    /// `ptrs` must point to `n` valid `at::Tensor*` that outlive `Self`.
    pub(crate) unsafe fn new(ptrs: *const sys::fg_tensor, n: usize) -> Self {
        if n == 0 {
            return Borrowed(Vec::new());
        }
        // SAFETY: guaranteed by the caller.
        let ptrs = unsafe { std::slice::from_raw_parts(ptrs, n) };
        // SAFETY: each handle is valid for the callback; ManuallyDrop keeps tch
        // from freeing a handle it does not own.
        Borrowed(
            ptrs.iter()
                .map(|&p| ManuallyDrop::new(unsafe { Tensor::from_ptr(p) }))
                .collect(),
        )
    }

    pub(crate) fn tensors(&self) -> &[Tensor] {
        // SAFETY: ManuallyDrop<T> is #[repr(transparent)] over T.
        unsafe { std::slice::from_raw_parts(self.0.as_ptr().cast::<Tensor>(), self.0.len()) }
    }
}

pub(crate) fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "non-string panic payload".to_owned()
    }
}

// ---------------------------------------------------------------------------
// Autograd entry points

fn handles(ts: &[&Tensor]) -> Vec<sys::fg_tensor> {
    ts.iter().map(|t| t.as_ptr().cast_mut()).collect()
}

pub(crate) fn backward(
    tensors: &[&Tensor],
    grad_tensors: &[&Tensor],
    retain_graph: bool,
    create_graph: bool,
) -> Result<(), Error> {
    let (ts, gs) = (handles(tensors), handles(grad_tensors));
    // SAFETY: the handle arrays are live for the call and only read; the shim
    // catches every exception.
    let err = unsafe {
        sys::fg_backward(
            ts.as_ptr(),
            ts.len(),
            gs.as_ptr(),
            gs.len(),
            i32::from(retain_graph),
            i32::from(create_graph),
        )
    };
    take_error(err).map_or(Ok(()), |m| Err(Error::Torch(m)))
}

pub(crate) fn grad(
    outputs: &[&Tensor],
    inputs: &[&Tensor],
    grad_outputs: &[&Tensor],
    retain_graph: bool,
    create_graph: bool,
    allow_unused: bool,
) -> Result<Vec<Option<Tensor>>, Error> {
    let (os, is, gs) = (handles(outputs), handles(inputs), handles(grad_outputs));
    let results = TensorVec::new()?;
    // SAFETY: the handle arrays are live for the call and only read; `results`
    // is a valid vector we own; the shim catches every exception.
    let err = unsafe {
        sys::fg_grad(
            os.as_ptr(),
            os.len(),
            is.as_ptr(),
            is.len(),
            gs.as_ptr(),
            gs.len(),
            i32::from(retain_graph),
            i32::from(create_graph),
            i32::from(allow_unused),
            results.0,
        )
    };
    if let Some(m) = take_error(err) {
        return Err(Error::Torch(m));
    }
    results.into_tensors()
}

// ---------------------------------------------------------------------------
// Raw tensor memory

pub(crate) fn tensor_info(t: &Tensor) -> Result<sys::fg_tensor_info, Error> {
    let mut info = sys::fg_tensor_info::default();
    // SAFETY: `t` is a live handle; `info` is a valid out-parameter.
    let err = unsafe { sys::fg_tensor_get_info(t.as_ptr().cast_mut(), &mut info) };
    take_error(err).map_or(Ok(info), |m| Err(Error::Torch(m)))
}

/// Checks every tensor-level entry point makes on its inputs: defined, dense (strided),
/// at least one element. Dtype, device and contiguity are the caller's to check: LibTorch
/// ops accept them all, zero-copy views do not (see [`checked_data`]).
/// `what` names the tensor in the error (built only on error).
pub(crate) fn check_input(t: &Tensor, what: impl Fn() -> String) -> Result<(), Error> {
    let info = tensor_info(t)?;
    if info.defined == 0 {
        return Err(Error::Undefined { what: what() });
    }
    if info.is_strided == 0 {
        return Err(Error::Layout { what: what() });
    }
    if info.numel == 0 {
        return Err(Error::Empty {
            what: what(),
            shape: t.size(),
        });
    }
    Ok(())
}

/// Checks that `t` can be viewed as `[T]` and returns its data pointer and length.
fn checked_data<T: Viewable>(
    t: &Tensor,
    what: &str,
) -> Result<(sys::fg_tensor_info, usize), Error> {
    let info = tensor_info(t)?;
    let what = || what.to_owned();
    if info.defined == 0 {
        return Err(Error::Undefined { what: what() });
    }
    if info.is_strided == 0 {
        return Err(Error::Layout { what: what() });
    }
    let device = match info.device_kind {
        0 => None,
        1 => Some("CUDA"),
        2 => Some("meta"),
        _ => Some("non-CPU"),
    };
    if let Some(device) = device {
        return Err(Error::Device {
            what: what(),
            device,
        });
    }
    if info.scalar_type != T::SCALAR_TYPE {
        let got = t.f_kind().map_or_else(
            |_| format!("ScalarType({})", info.scalar_type),
            |k| format!("{k:?}"),
        );
        return Err(Error::Dtype {
            what: what(),
            expected: T::KIND,
            got,
        });
    }
    if info.is_contiguous == 0 {
        return Err(Error::NotContiguous { what: what() });
    }
    let len = usize::try_from(info.numel).map_err(|_| Error::Torch("negative numel".into()))?;
    if len > 0 {
        if info.has_storage == 0 || info.data.is_null() {
            return Err(Error::Device {
                what: what(),
                device: "storage-less",
            });
        }
        if !info.data.cast::<T>().is_aligned() {
            return Err(Error::Torch(format!(
                "{}: data pointer is misaligned",
                what()
            )));
        }
    }
    Ok((info, len))
}

/// `checked_data` plus: at least one element.
fn checked_nonempty<T: Viewable>(
    t: &Tensor,
    what: &str,
) -> Result<(sys::fg_tensor_info, usize), Error> {
    let (info, len) = checked_data::<T>(t, what)?;
    if len == 0 {
        return Err(Error::Empty {
            what: what.to_owned(),
            shape: t.size(),
        });
    }
    Ok((info, len))
}

/// Errors unless `t` is the only handle to its `TensorImpl` and that `TensorImpl` the only
/// one on its storage: then, while `t` stays borrowed (mutably), no other handle, Rust or
/// C++, can exist or be made, so nothing else can read or write the memory.
fn check_exclusive(info: &sys::fg_tensor_info, what: &str) -> Result<(), Error> {
    if info.impl_use_count != 1 || info.storage_use_count > 1 {
        return Err(Error::SharedStorage {
            what: what.to_owned(),
            handles: info.impl_use_count,
            storages: info.storage_use_count,
        });
    }
    Ok(())
}

/// A read-only view of a tensor that is exclusively this handle's (see [`check_exclusive`]).
///
/// The handle is borrowed mutably for the view's lifetime although the view is read-only:
/// a shared borrow would let other code `shallow_clone` the handle and write the storage in
/// place while the view lives (every tch handle can mutate shared storage).
pub(crate) fn as_slice<'a, T: Element>(t: &'a mut Tensor, what: &str) -> Result<&'a [T], Error> {
    let (info, len) = checked_nonempty::<T>(t, what)?;
    check_exclusive(&info, what)?;
    // SAFETY: checked above: a defined, dense, contiguous CPU tensor of dtype T with `len`
    // elements at an aligned non-null `data`, whose TensorImpl has exactly one handle (this
    // one) and whose storage exactly one TensorImpl. The storage is kept alive by `t`, which
    // is borrowed mutably for 'a, so no other handle can be made from it (no `shallow_clone`,
    // no view, no in-place op) and none exists elsewhere: nothing writes this memory while
    // the slice lives.
    Ok(unsafe { std::slice::from_raw_parts(info.data.cast::<T>(), len) })
}

/// An owned copy of a tensor's elements (row-major), for tensors that may be shared.
///
/// Accepts what [`checked_data`] accepts (the exact dtype, contiguous, CPU), plus at least
/// one element; never converts or gathers implicitly.
pub(crate) fn to_vec<T: Viewable>(t: &Tensor, what: &str) -> Result<Vec<T>, Error> {
    let (info, len) = checked_nonempty::<T>(t, what)?;
    let mut out = Vec::<T>::with_capacity(len);
    // SAFETY: `info.data` is an aligned, non-null pointer to `len` initialised elements of
    // type T (a defined, dense, contiguous CPU tensor of dtype T, checked above), kept alive
    // by `t` for this call; `out` has capacity for `len` elements and does not overlap
    // LibTorch's storage; `set_len` follows the copy of all `len` elements. No Rust
    // reference to the (possibly shared) storage is created, and no other code runs on this
    // thread during the copy. (Another thread writing through another handle at this moment
    // would race with this copy exactly as with any LibTorch op reading the tensor.)
    unsafe {
        std::ptr::copy_nonoverlapping(info.data.cast::<T>(), out.as_mut_ptr(), len);
        out.set_len(len);
    }
    Ok(out)
}

pub(crate) fn as_slice_mut<'a, T: Element>(
    t: &'a mut Tensor,
    what: &str,
) -> Result<&'a mut [T], Error> {
    let (info, len) = checked_nonempty::<T>(t, what)?;
    if info.requires_grad != 0 {
        return Err(Error::RequiresGrad {
            what: what.to_owned(),
        });
    }
    check_exclusive(&info, what)?;
    // Autograd must see the write (saved-tensor version checks).
    // SAFETY: `t` is a live handle; the shim catches every exception.
    let err = unsafe { sys::fg_tensor_bump_version(t.as_mut_ptr()) };
    if let Some(m) = take_error(err) {
        return Err(Error::Torch(m));
    }
    // SAFETY: as in `as_slice`: a checked, exclusively held tensor (one handle, borrowed
    // mutably for 'a; one TensorImpl on the storage), so no other Rust or C++ handle can
    // read or write this memory while the slice lives.
    Ok(unsafe { std::slice::from_raw_parts_mut(info.data.cast::<T>(), len) })
}

pub(crate) fn to_meta(t: &Tensor) -> Result<Tensor, Error> {
    let mut out: sys::fg_tensor = std::ptr::null_mut();
    // SAFETY: `t` is a live handle; on success `out` is a new owned handle.
    let err = unsafe { sys::fg_tensor_to_meta(t.as_ptr().cast_mut(), &mut out) };
    if let Some(m) = take_error(err) {
        return Err(Error::Torch(m));
    }
    if out.is_null() {
        return Err(Error::Torch("to_meta: out of memory".into()));
    }
    // SAFETY: `out` is a non-null owned handle that tch frees on drop.
    Ok(unsafe { Tensor::from_ptr(out) })
}

/// Whether LibTorch records autograd graphs on this thread (`GradMode::is_enabled()`,
/// which tch does not expose).
pub(crate) fn grad_mode_enabled() -> bool {
    // SAFETY: reads a thread-local flag; cannot throw.
    unsafe { sys::fg_grad_mode_enabled() != 0 }
}

// ---------------------------------------------------------------------------
// LibTorch's intra-op threads

/// What `parallel_for`'s tasks share: the task and the first panic, if any.
struct ForkCtx<'a> {
    task: &'a (dyn Fn(usize) + Sync),
    panic: std::sync::Mutex<Option<Box<dyn std::any::Any + Send>>>,
}

/// # Safety
/// Called by the shim only, with the `ForkCtx` that `parallel_for` passed.
unsafe extern "C" fn fork_task(ctx: *mut c_void, i: usize) {
    // SAFETY: `ctx` is the live `ForkCtx` of the `parallel_for` call that is waiting for us;
    // it is only read (the panic slot is a Mutex).
    let ctx = unsafe { &*ctx.cast::<ForkCtx<'_>>() };
    // A panic must not unwind into C++: keep it and re-raise it on the caller's thread.
    if let Err(p) = catch_unwind(AssertUnwindSafe(|| (ctx.task)(i))) {
        if let Ok(mut slot) = ctx.panic.lock() {
            slot.get_or_insert(p);
        }
    }
}

pub(crate) fn parallel_for(n: usize, task: &(dyn Fn(usize) + Sync)) {
    let ctx = ForkCtx {
        task,
        panic: std::sync::Mutex::new(None),
    };
    // SAFETY: `ctx` outlives the call, which returns only when every task has run;
    // `fork_task` catches every panic, so nothing unwinds through C++.
    unsafe { sys::fg_parallel_for(n, fork_task, (&raw const ctx).cast_mut().cast()) };
    if let Some(p) = ctx.panic.into_inner().ok().flatten() {
        std::panic::resume_unwind(p);
    }
}
