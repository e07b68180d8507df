//! Structs as differentiable parameters: the [`Differentiable`] trait (what
//! `#[derive(ferrograd::Differentiable)]` implements) and the compile-time probes that the
//! generated code uses to prove that a field it reads as a constant holds no float.
//!
//! `#[differentiable]` sees a function, never the struct definitions it uses, so it decides
//! from the function body which fields are floats (read in float arithmetic) and which are
//! not (loop bounds, indices, sizes handed to kernels). Both guesses are checked by rustc:
//! a field taken as a float is passed where a float is expected, and every field taken as a
//! constant goes through [`field_probe`] below, which does not compile for a float. A wrong
//! guess is therefore a compile error, never a derivative that is silently zero.

use core::marker::PhantomData;

/// A struct of parameters: its adjoint and tangent have the same type (`d_p: &mut S`,
/// `t_p: &S`). Derive it with `#[derive(ferrograd::Differentiable)]`.
pub trait Differentiable {
    /// A value of the same shape with every float zero (`Vec` fields sized like `self`;
    /// integer and other inactive fields copied), ready to have adjoints added into it.
    fn zero_like(&self) -> Self;

    /// Adds `other` into `self`, float by float (inactive fields untouched): how the
    /// adjoints of a struct handed whole to several calls are combined.
    fn add_from(&mut self, other: &Self);
}

/// Every scalar (`f64`, `f32`, dual numbers), so that structs generic over `T: Real` are
/// `Differentiable` for every `T`.
impl<T: crate::Real> Differentiable for T {
    fn zero_like(&self) -> Self {
        T::zero()
    }
    fn add_from(&mut self, other: &Self) {
        *self += *other;
    }
}

impl<T: Differentiable, const N: usize> Differentiable for [T; N] {
    fn zero_like(&self) -> Self {
        self.each_ref().map(Differentiable::zero_like)
    }
    fn add_from(&mut self, other: &Self) {
        for (a, b) in self.iter_mut().zip(other) {
            a.add_from(b);
        }
    }
}

impl<T: Differentiable> Differentiable for Vec<T> {
    fn zero_like(&self) -> Self {
        self.iter().map(Differentiable::zero_like).collect()
    }
    fn add_from(&mut self, other: &Self) {
        for (a, b) in self.iter_mut().zip(other) {
            a.add_from(b);
        }
    }
}

/// What [`field_probe`] answers for a field that holds no float: the generated code
/// expects exactly this type.
pub struct FieldHoldsNoFloat;

/// What [`field_probe`] answers for a float field (`f64`, `f32`, arrays, slices and `Vec`s
/// of them). Seeing this type in an error means `#[differentiable]` read a float field of a
/// struct parameter where it could not tell it was a float (e.g. only as the argument of a
/// call): bind it to a typed local first (`let mu: f64 = p.mu;`) or use it in arithmetic.
pub struct FloatFieldWouldBeTreatedAsAConstant;

/// The probe of a field's type, see [`ProbeFloat`] and [`ProbeOther`].
pub struct FieldProbe<T: ?Sized>(PhantomData<T>);

/// `(&field_probe(&p.f)).kind()` is [`FieldHoldsNoFloat`] unless `p.f` is a float
/// (auto-ref specialisation: the impls for float types are found one auto-ref earlier).
pub fn field_probe<T: ?Sized>(_field: &T) -> FieldProbe<T> {
    FieldProbe(PhantomData)
}

/// The float side of the probe.
pub trait ProbeFloat {
    fn kind(&self) -> FloatFieldWouldBeTreatedAsAConstant {
        FloatFieldWouldBeTreatedAsAConstant
    }
}

/// The fallback side of the probe (any other type).
pub trait ProbeOther {
    fn kind(&self) -> FieldHoldsNoFloat {
        FieldHoldsNoFloat
    }
}

impl<T: ?Sized> ProbeOther for &FieldProbe<T> {}

macro_rules! float_probes {
    ($($t:ty),*) => {$(
        impl ProbeFloat for FieldProbe<$t> {}
        impl ProbeFloat for FieldProbe<[$t]> {}
        impl ProbeFloat for FieldProbe<&[$t]> {}
        impl ProbeFloat for FieldProbe<&mut [$t]> {}
        impl ProbeFloat for FieldProbe<Vec<$t>> {}
        impl<const N: usize> ProbeFloat for FieldProbe<[$t; N]> {}
    )*};
}
float_probes!(f64, f32);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[allow(
        clippy::needless_borrow,
        reason = "auto-ref specialisation: the extra borrow is what picks the float impl"
    )]
    fn probes_tell_floats_from_the_rest() {
        fn is_float<T>(_: T) -> bool {
            core::any::type_name::<T>().contains("FloatFieldWouldBeTreatedAsAConstant")
        }
        assert!(is_float((&field_probe(&1.0f64)).kind()));
        assert!(is_float((&field_probe(&vec![1.0f32])).kind()));
        assert!(is_float((&field_probe(&[1.0f64; 3])).kind()));
        assert!(!is_float((&field_probe(&3usize)).kind()));
        assert!(!is_float((&field_probe(&vec![3usize])).kind()));
        assert!(!is_float((&field_probe(&"text")).kind()));
    }

    #[test]
    fn zero_like_keeps_the_shape() {
        let v = vec![[1.0f64, 2.0], [3.0, 4.0]];
        assert_eq!(v.zero_like(), vec![[0.0, 0.0], [0.0, 0.0]]);
    }
}
