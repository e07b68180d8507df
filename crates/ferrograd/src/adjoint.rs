//! Adjoint and tangent storage: how the generated code makes a zero of the right shape.

use crate::real::Real;

/// Values that have adjoints/tangents of their own type. `zero_like` is what the generated
/// code calls to declare the adjoint of a local (so the macro never names a type).
pub trait Adjoint {
    fn zero_like(&self) -> Self;
}

impl<T: Real> Adjoint for T {
    #[inline(always)]
    fn zero_like(&self) -> Self {
        T::zero()
    }
}

/// Local arrays (`[0.0; N]`) have arrays of adjoints.
pub trait ArrayAdjoint {
    fn zero_like(&self) -> Self;
}

impl<T: Real, const N: usize> ArrayAdjoint for [T; N] {
    #[inline(always)]
    fn zero_like(&self) -> Self {
        [T::zero(); N]
    }
}
