//! The scalar derivative rules: every elementary function is defined once, next to its
//! derivative, for any type implementing [`Real`] (`f32`, `f64` and [`crate::Dual`]).
//!
//! The AD compiler never names a concrete type: it emits calls such as
//! `::ferrograd::__private::Partials::sin_d(x, y)` and rustc picks the implementation. For `f32`/`f64`
//! everything is `#[inline(always)]`, so the generated derivative compiles to the same
//! machine code as a hand-written one.
//!
//! Convention: `<op>_d` returns the partial derivative(s) of `y = op(args)` with respect to
//! each argument, given the arguments and the primal result `y` (so rules like `exp`, `sqrt`
//! and `tanh` reuse `y`). Forward mode multiplies partials by tangents, reverse mode by the
//! output adjoint: one definition serves both (scalar derivatives are self-transpose).

use core::ops::{Add, AddAssign, Div, DivAssign, Mul, MulAssign, Neg, Rem, Sub, SubAssign};

/// The runtime half of the scalar primitives, generated from their one declaration in
/// `ferrograd-prims`: the [`Real`] trait, its `f32`/`f64` impls, and the [`Partials`] rules.
macro_rules! define_real {
    (
        unary { $( $f:ident $fd:ident ($x:tt, $y:tt) $cost:ident => $rule:expr; )* }
        binary { $( $g:ident $gd:ident ($a:tt, $b:tt, $gy:tt) => $grule:expr; )* }
    ) => {
        /// A differentiable real scalar.
        pub trait Real:
            Copy
            + PartialOrd
            + Default
            + core::fmt::Debug
            + Add<Output = Self>
            + Sub<Output = Self>
            + Mul<Output = Self>
            + Div<Output = Self>
            + Rem<Output = Self>
            + Neg<Output = Self>
            + AddAssign
            + SubAssign
            + MulAssign
            + DivAssign
            + crate::tape::TapeValue
            + crate::lanes::Lanes
            + Send
            + Sync
        {
            /// Converts a constant (literal, `f64::consts`, integer cast) into this type.
            fn from_f64(v: f64) -> Self;
            /// The primal value as `f64` (drops tangents of dual numbers).
            fn to_f64(self) -> f64;
            fn zero() -> Self {
                Self::from_f64(0.0)
            }
            fn one() -> Self {
                Self::from_f64(1.0)
            }
            $( fn $f(self) -> Self; )*
            $( fn $g(self, o: Self) -> Self; )*
            fn powi(self, n: i32) -> Self;
            fn mul_add(self, a: Self, b: Self) -> Self;
            /// `x` where `a < b`, else `y`: the derivative rules' `if`, as a value. On SIMD
            /// lanes it selects lane by lane (lanes may disagree, and generated vectorised code
            /// never branches on values); dual numbers compare their values, as their order
            /// does. NaN compares false, as in `if a < b`.
            fn select_lt(a: Self, b: Self, x: Self, y: Self) -> Self;
            /// `x` where `a <= b`, else `y` (see [`select_lt`](Real::select_lt)).
            fn select_le(a: Self, b: Self, x: Self, y: Self) -> Self;
            /// `x` where `a == b`, else `y` (see [`select_lt`](Real::select_lt)).
            fn select_eq(a: Self, b: Self, x: Self, y: Self) -> Self;
        }

        macro_rules! impl_real {
            ($t:ty) => {
                impl Real for $t {
                    #[inline(always)]
                    fn from_f64(v: f64) -> Self {
                        v as $t
                    }
                    #[inline(always)]
                    fn to_f64(self) -> f64 {
                        self as f64
                    }
                    $( #[inline(always)] fn $f(self) -> Self { <$t>::$f(self) } )*
                    $( #[inline(always)] fn $g(self, o: Self) -> Self { <$t>::$g(self, o) } )*
                    #[inline(always)]
                    fn powi(self, n: i32) -> Self {
                        <$t>::powi(self, n)
                    }
                    #[inline(always)]
                    fn mul_add(self, a: Self, b: Self) -> Self {
                        <$t>::mul_add(self, a, b)
                    }
                    #[inline(always)]
                    fn select_lt(a: Self, b: Self, x: Self, y: Self) -> Self {
                        if a < b { x } else { y }
                    }
                    #[inline(always)]
                    fn select_le(a: Self, b: Self, x: Self, y: Self) -> Self {
                        if a <= b { x } else { y }
                    }
                    #[inline(always)]
                    fn select_eq(a: Self, b: Self, x: Self, y: Self) -> Self {
                        if a == b { x } else { y }
                    }
                }
            };
        }
        impl_real!(f32);
        impl_real!(f64);

        /// Partial derivatives of the elementary functions. Each takes the argument(s) and the
        /// primal result `y`; see the module docs. Implemented once for every [`Real`]; the
        /// rules themselves are in `ferrograd-prims`, next to each primitive's name.
        pub trait Partials: Real {
            $(
                #[inline(always)]
                fn $fd($x: Self, $y: Self) -> Self {
                    $rule
                }
            )*
            $(
                #[inline(always)]
                fn $gd($a: Self, $b: Self, $gy: Self) -> (Self, Self) {
                    $grule
                }
            )*
            // d xⁿ = n xⁿ⁻¹
            #[inline(always)]
            fn powi_d(x: Self, n: i32, _y: Self) -> Self {
                if n == 0 {
                    Self::zero()
                } else {
                    Self::from_f64(f64::from(n)) * x.powi(n - 1)
                }
            }
            // y = a·b + c: ∂a = b, ∂b = a, ∂c = 1
            #[inline(always)]
            fn mul_add_d(a: Self, b: Self, _c: Self, _y: Self) -> (Self, Self, Self) {
                (b, a, Self::one())
            }
            // y = a·b
            #[inline(always)]
            fn mul_d(a: Self, b: Self) -> (Self, Self) {
                (b, a)
            }
            // y = a/b: ∂a = 1/b, ∂b = -y/b
            #[inline(always)]
            fn div_d(_a: Self, b: Self, y: Self) -> (Self, Self) {
                let r = b.recip();
                (r, -y * r)
            }
        }
    };
}
ferrograd_prims::scalar_primitives!(define_real);

impl<T: Real> Partials for T {}
