//! Zero-copy views of tensor storage as Rust slices.
//!
//! Only dense, contiguous CPU tensors of the exact dtype are accepted; anything
//! else is **rejected** with an [`Error`] — never copied implicitly, so a view is
//! always the tensor's own memory. Call `.contiguous()` / `.to_kind(..)` /
//! `.to_device(Cpu)` first if a copy is what you want.
//!
//! # Aliasing
//! [`as_slice_mut`] checks at runtime that no other handle (shallow clone, view,
//! autograd saved tensor) shares the tensor or its storage, so the mutable slice
//! is exclusive. [`as_slice`] cannot check that: tch lets any handle mutate
//! shared storage in place, so while a `&[T]` from [`as_slice`] is alive, do not
//! write to the same storage through another handle (views, `shallow_clone`s,
//! in-place ops) — the same contract tch's own `data_ptr` has.

use tch::{Kind, Tensor};

use crate::{ffi, Error};

mod sealed {
    pub trait Sealed {}
    impl Sealed for f32 {}
    impl Sealed for f64 {}
}

/// Element types a tensor can be viewed as: `f32` and `f64`.
pub trait Element: sealed::Sealed + Copy + Default + PartialEq + Send + Sync + 'static {
    /// The matching tch dtype.
    const KIND: Kind;
    /// The matching `c10::ScalarType` code.
    #[doc(hidden)]
    const SCALAR_TYPE: i32;
    /// 1 (a unit seed, which backward passes on without scaling).
    #[doc(hidden)]
    const ONE: Self;
}

impl Element for f32 {
    const KIND: Kind = Kind::Float;
    const SCALAR_TYPE: i32 = 6;
    const ONE: Self = 1.0;
}

impl Element for f64 {
    const KIND: Kind = Kind::Double;
    const SCALAR_TYPE: i32 = 7;
    const ONE: Self = 1.0;
}

/// Views a contiguous CPU tensor of dtype `T` as `&[T]` (row-major, no copy).
///
/// Errors: undefined tensor, sparse/mkldnn layout, CUDA/meta device, other dtype,
/// non-contiguous (including expanded, stride-0) tensors. See the module docs for
/// the aliasing contract.
/// What [`crate::ffi`] can view as a slice: the [`Element`] types, plus `i64` for reading
/// class targets (crate-internal; `i64` views are read-only).
pub(crate) trait Viewable: Copy + 'static {
    const KIND: Kind;
    const SCALAR_TYPE: i32;
}

impl<T: Element> Viewable for T {
    const KIND: Kind = <T as Element>::KIND;
    const SCALAR_TYPE: i32 = <T as Element>::SCALAR_TYPE;
}

impl Viewable for i64 {
    const KIND: Kind = Kind::Int64;
    const SCALAR_TYPE: i32 = 4;
}

pub fn as_slice<T: Element>(tensor: &Tensor) -> Result<&[T], Error> {
    ffi::as_slice(tensor, "as_slice")
}

/// Views a contiguous CPU tensor of dtype `T` as `&mut [T]` (no copy).
///
/// Besides the checks of [`as_slice`], the tensor must not require grad and must
/// be the only handle to its storage (e.g. a freshly created output or gradient
/// buffer); the write is recorded in the tensor's version counter, so autograd
/// reports stale saved tensors.
pub fn as_slice_mut<T: Element>(tensor: &mut Tensor) -> Result<&mut [T], Error> {
    ffi::as_slice_mut(tensor, "as_slice_mut")
}

/// A copy of `tensor`'s metadata (shape, dtype, strides) on LibTorch's meta
/// device: no data, for shape inference and for testing device checks.
pub fn to_meta(tensor: &Tensor) -> Result<Tensor, Error> {
    ffi::to_meta(tensor)
}
