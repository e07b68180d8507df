//! The scalar derivative rules: every elementary function is defined once, next to its
//! derivative, for any type implementing [`Real`] (`f32`, `f64` and [`crate::Dual`]).
//!
//! The AD compiler never names a concrete type: it emits calls such as
//! `::ferrograd::Real::sin_d(&x, &y)` and rustc picks the implementation. For `f32`/`f64`
//! everything is `#[inline(always)]`, so the generated derivative compiles to the same
//! machine code as a hand-written one.
//!
//! Convention: `<op>_d` returns the partial derivative(s) of `y = op(args)` with respect to
//! each argument, given the arguments and the primal result `y` (so rules like `exp`, `sqrt`
//! and `tanh` reuse `y`). Forward mode multiplies partials by tangents, reverse mode by the
//! output adjoint: one definition serves both (scalar derivatives are self-transpose).

use core::ops::{Add, AddAssign, Div, DivAssign, Mul, MulAssign, Neg, Rem, Sub, SubAssign};

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

    fn sin(self) -> Self;
    fn cos(self) -> Self;
    fn tan(self) -> Self;
    fn asin(self) -> Self;
    fn acos(self) -> Self;
    fn atan(self) -> Self;
    fn sinh(self) -> Self;
    fn cosh(self) -> Self;
    fn tanh(self) -> Self;
    fn asinh(self) -> Self;
    fn acosh(self) -> Self;
    fn atanh(self) -> Self;
    fn exp(self) -> Self;
    fn exp2(self) -> Self;
    fn exp_m1(self) -> Self;
    fn ln(self) -> Self;
    fn log10(self) -> Self;
    fn log2(self) -> Self;
    fn ln_1p(self) -> Self;
    fn sqrt(self) -> Self;
    fn cbrt(self) -> Self;
    fn abs(self) -> Self;
    fn recip(self) -> Self;
    fn signum(self) -> Self;
    fn floor(self) -> Self;
    fn ceil(self) -> Self;
    fn round(self) -> Self;
    fn trunc(self) -> Self;
    fn powi(self, n: i32) -> Self;
    fn powf(self, e: Self) -> Self;
    fn atan2(self, x: Self) -> Self;
    fn hypot(self, y: Self) -> Self;
    fn max(self, y: Self) -> Self;
    fn min(self, y: Self) -> Self;
    fn mul_add(self, a: Self, b: Self) -> Self;
    fn log(self, base: Self) -> Self;
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
            impl_real!(@unary $t; sin cos tan asin acos atan sinh cosh tanh asinh acosh atanh exp exp2
                exp_m1 ln log10 log2 ln_1p sqrt cbrt abs recip signum floor ceil round trunc);
            #[inline(always)]
            fn powi(self, n: i32) -> Self {
                <$t>::powi(self, n)
            }
            impl_real!(@binary $t; powf atan2 hypot max min log);
            #[inline(always)]
            fn mul_add(self, a: Self, b: Self) -> Self {
                <$t>::mul_add(self, a, b)
            }
        }
    };
    (@unary $t:ty; $($f:ident)*) => {
        $(#[inline(always)] fn $f(self) -> Self { <$t>::$f(self) })*
    };
    (@binary $t:ty; $($f:ident)*) => {
        $(#[inline(always)] fn $f(self, o: Self) -> Self { <$t>::$f(self, o) })*
    };
}
impl_real!(f32);
impl_real!(f64);

/// Partial derivatives of the elementary functions. Each takes the argument(s) and the primal
/// result `y`; see the module docs. Implemented once for every [`Real`].
pub trait Partials: Real {
    // d sin x = cos x
    #[inline(always)]
    fn sin_d(x: Self, _y: Self) -> Self {
        x.cos()
    }
    // d cos x = -sin x
    #[inline(always)]
    fn cos_d(x: Self, _y: Self) -> Self {
        -x.sin()
    }
    // d tan x = 1 + tan² x
    #[inline(always)]
    fn tan_d(_x: Self, y: Self) -> Self {
        Self::one() + y * y
    }
    // d asin x = 1/√(1-x²)
    #[inline(always)]
    fn asin_d(x: Self, _y: Self) -> Self {
        (Self::one() - x * x).sqrt().recip()
    }
    // d acos x = -1/√(1-x²)
    #[inline(always)]
    fn acos_d(x: Self, _y: Self) -> Self {
        -(Self::one() - x * x).sqrt().recip()
    }
    // d atan x = 1/(1+x²)
    #[inline(always)]
    fn atan_d(x: Self, _y: Self) -> Self {
        (Self::one() + x * x).recip()
    }
    // d sinh x = cosh x
    #[inline(always)]
    fn sinh_d(x: Self, _y: Self) -> Self {
        x.cosh()
    }
    // d cosh x = sinh x
    #[inline(always)]
    fn cosh_d(x: Self, _y: Self) -> Self {
        x.sinh()
    }
    // d tanh x = 1 - tanh² x
    #[inline(always)]
    fn tanh_d(_x: Self, y: Self) -> Self {
        Self::one() - y * y
    }
    // d asinh x = 1/√(x²+1)
    #[inline(always)]
    fn asinh_d(x: Self, _y: Self) -> Self {
        (x * x + Self::one()).sqrt().recip()
    }
    // d acosh x = 1/√(x²-1)
    #[inline(always)]
    fn acosh_d(x: Self, _y: Self) -> Self {
        (x * x - Self::one()).sqrt().recip()
    }
    // d atanh x = 1/(1-x²)
    #[inline(always)]
    fn atanh_d(x: Self, _y: Self) -> Self {
        (Self::one() - x * x).recip()
    }
    // d eˣ = eˣ
    #[inline(always)]
    fn exp_d(_x: Self, y: Self) -> Self {
        y
    }
    // d 2ˣ = 2ˣ ln 2
    #[inline(always)]
    fn exp2_d(_x: Self, y: Self) -> Self {
        y * Self::from_f64(core::f64::consts::LN_2)
    }
    // d (eˣ-1) = eˣ = y + 1
    #[inline(always)]
    fn exp_m1_d(_x: Self, y: Self) -> Self {
        y + Self::one()
    }
    // d ln x = 1/x
    #[inline(always)]
    fn ln_d(x: Self, _y: Self) -> Self {
        x.recip()
    }
    // d log10 x = 1/(x ln 10)
    #[inline(always)]
    fn log10_d(x: Self, _y: Self) -> Self {
        (x * Self::from_f64(core::f64::consts::LN_10)).recip()
    }
    // d log2 x = 1/(x ln 2)
    #[inline(always)]
    fn log2_d(x: Self, _y: Self) -> Self {
        (x * Self::from_f64(core::f64::consts::LN_2)).recip()
    }
    // d ln(1+x) = 1/(1+x)
    #[inline(always)]
    fn ln_1p_d(x: Self, _y: Self) -> Self {
        (Self::one() + x).recip()
    }
    // d √x = 1/(2√x)
    #[inline(always)]
    fn sqrt_d(_x: Self, y: Self) -> Self {
        Self::from_f64(0.5) / y
    }
    // d ∛x = 1/(3 ∛x²)
    #[inline(always)]
    fn cbrt_d(_x: Self, y: Self) -> Self {
        (Self::from_f64(3.0) * y * y).recip()
    }
    // d |x| = sign x (0 at 0, the subgradient PyTorch uses)
    #[inline(always)]
    fn abs_d(x: Self, _y: Self) -> Self {
        if x > Self::zero() {
            Self::one()
        } else if x < Self::zero() {
            -Self::one()
        } else {
            Self::zero()
        }
    }
    // d (1/x) = -1/x² = -y²
    #[inline(always)]
    fn recip_d(_x: Self, y: Self) -> Self {
        -(y * y)
    }
    // piecewise constant: derivative 0 almost everywhere
    #[inline(always)]
    fn signum_d(_x: Self, _y: Self) -> Self {
        Self::zero()
    }
    #[inline(always)]
    fn floor_d(_x: Self, _y: Self) -> Self {
        Self::zero()
    }
    #[inline(always)]
    fn ceil_d(_x: Self, _y: Self) -> Self {
        Self::zero()
    }
    #[inline(always)]
    fn round_d(_x: Self, _y: Self) -> Self {
        Self::zero()
    }
    #[inline(always)]
    fn trunc_d(_x: Self, _y: Self) -> Self {
        Self::zero()
    }
    // d xⁿ = n xⁿ⁻¹
    #[inline(always)]
    fn powi_d(x: Self, n: i32, _y: Self) -> Self {
        if n == 0 {
            Self::zero()
        } else {
            Self::from_f64(f64::from(n)) * x.powi(n - 1)
        }
    }
    // y = aᵇ: ∂a = b aᵇ⁻¹, ∂b = aᵇ ln a (0 where a = 0, as PyTorch)
    #[inline(always)]
    fn powf_d(a: Self, b: Self, y: Self) -> (Self, Self) {
        let da = if b == Self::zero() {
            Self::zero()
        } else {
            b * a.powf(b - Self::one())
        };
        let db = if a > Self::zero() {
            y * a.ln()
        } else {
            Self::zero()
        };
        (da, db)
    }
    // y = atan2(a, b): ∂a = b/(a²+b²), ∂b = -a/(a²+b²)
    #[inline(always)]
    fn atan2_d(a: Self, b: Self, _y: Self) -> (Self, Self) {
        let r2 = a * a + b * b;
        (b / r2, -a / r2)
    }
    // y = √(a²+b²): ∂a = a/y, ∂b = b/y
    #[inline(always)]
    fn hypot_d(a: Self, b: Self, y: Self) -> (Self, Self) {
        (a / y, b / y)
    }
    // y = max(a, b): the larger argument gets the derivative (a on ties, as f64::max keeps a)
    #[inline(always)]
    fn max_d(a: Self, b: Self, _y: Self) -> (Self, Self) {
        if a >= b {
            (Self::one(), Self::zero())
        } else {
            (Self::zero(), Self::one())
        }
    }
    // y = min(a, b)
    #[inline(always)]
    fn min_d(a: Self, b: Self, _y: Self) -> (Self, Self) {
        if a <= b {
            (Self::one(), Self::zero())
        } else {
            (Self::zero(), Self::one())
        }
    }
    // y = log_b(a) = ln a / ln b: ∂a = 1/(a ln b), ∂b = -y/(b ln b)
    #[inline(always)]
    fn log_d(a: Self, b: Self, y: Self) -> (Self, Self) {
        let lb = b.ln();
        ((a * lb).recip(), -y / (b * lb))
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

impl<T: Real> Partials for T {}
