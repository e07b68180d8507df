//! Zero-copy views of exclusively held tensor storage as Rust slices, and copies of
//! (possibly shared) tensors' elements.
//!
//! Only dense, contiguous CPU tensors of the exact dtype are accepted; anything
//! else is **rejected** with an [`Error`] — never copied implicitly, so a view is
//! always the tensor's own memory. Call `.contiguous()` / `.to_kind(..)` /
//! `.to_device(Cpu)` first if a copy is what you want.
//!
//! # Aliasing
//! tch lets every handle to a tensor write its storage in place, and makes new handles
//! from a shared reference (`shallow_clone`, views). So a view is handed out only when it
//! is exclusive: [`as_slice`] and [`as_slice_mut`] take the handle **mutably** and check at
//! runtime that it is the only handle to its tensor and that no other tensor (view,
//! shallow clone, autograd saved tensor) shares its storage; otherwise they return
//! [`Error::SharedStorage`]. For a tensor that may be shared, [`to_vec`] copies the
//! elements out.

use tch::Tensor;

pub use crate::dtype::Element;
use crate::{ffi, Error};

/// Views a contiguous CPU tensor of dtype `T` as `&[T]` (row-major, no copy).
///
/// The tensor must be the only handle to its storage (e.g. a tensor this code created and
/// has not shared): it is borrowed mutably while the view lives, so that no other handle
/// can write the memory meanwhile (see the module docs). Use [`to_vec`] for a tensor that
/// may be shared (a model parameter, a saved tensor, an input of a custom function).
///
/// # Errors
/// Undefined tensor, sparse/mkldnn layout, CUDA/meta device, other dtype, non-contiguous
/// (including expanded, stride-0) tensors, no elements; [`Error::SharedStorage`] when
/// another handle or tensor shares the storage.
pub fn as_slice<T: Element>(tensor: &mut Tensor) -> Result<&[T], Error> {
    ffi::as_slice(tensor, "as_slice")
}

/// Copies the elements of a contiguous CPU tensor of dtype `T` into a `Vec` (row-major).
///
/// Works on shared tensors (it hands out no view of their storage). Like the views, it
/// never converts or gathers implicitly.
///
/// # Errors
/// As [`as_slice`], except that the storage may be shared.
pub fn to_vec<T: Element>(tensor: &Tensor) -> Result<Vec<T>, Error> {
    ffi::to_vec(tensor, "to_vec")
}

/// Views a contiguous CPU tensor of dtype `T` as `&mut [T]` (no copy).
///
/// Besides the checks of [`as_slice`] (the same exclusivity), the tensor must not require
/// grad (e.g. a freshly created output or gradient buffer); the write is recorded in the
/// tensor's version counter, so autograd reports stale saved tensors.
///
/// # Errors
/// As [`as_slice`], plus [`Error::RequiresGrad`].
pub fn as_slice_mut<T: Element>(tensor: &mut Tensor) -> Result<&mut [T], Error> {
    ffi::as_slice_mut(tensor, "as_slice_mut")
}

/// A copy of `tensor`'s metadata (shape, dtype, strides) on LibTorch's meta
/// device: no data, for shape inference and for testing device checks.
pub fn to_meta(tensor: &Tensor) -> Result<Tensor, Error> {
    ffi::to_meta(tensor)
}
