//! The element types tensors are viewed as (the bottom of the crate, with `error`).

use tch::Kind;

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
