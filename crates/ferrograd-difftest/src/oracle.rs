//! The independent oracle: forward-mode dual numbers by operator overloading, run on the
//! *primal* program written generically (`fn p_g<T: Num>(..)`).
//!
//! Nothing here comes from `ferrograd`: the numeric trait, the dual type and every derivative
//! rule are written out below, so a bug in the AD compiler's rules or in its source
//! transformation cannot hide in the oracle too.

use std::cmp::Ordering;
use std::ops::{Add, AddAssign, Div, DivAssign, Mul, MulAssign, Neg, Sub, SubAssign};

/// The float operations a generated program uses. Implemented by `f32`, `f64` (plain
/// evaluation) and [`Dual`] (value and one directional derivative).
pub trait Num:
    Copy
    + PartialOrd
    + Add<Output = Self>
    + Sub<Output = Self>
    + Mul<Output = Self>
    + Div<Output = Self>
    + Neg<Output = Self>
    + AddAssign
    + SubAssign
    + MulAssign
    + DivAssign
{
    /// A constant (rounded to the precision of `Self`).
    fn c(v: f64) -> Self;
    /// The value as `f64` (drops the derivative).
    fn value(self) -> f64;
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
    fn hypot(self, b: Self) -> Self;
    fn max(self, b: Self) -> Self;
    fn min(self, b: Self) -> Self;
    fn log(self, base: Self) -> Self;
    fn mul_add(self, a: Self, b: Self) -> Self;
}

macro_rules! float_num {
    ($t:ident) => {
        impl Num for $t {
            fn c(v: f64) -> Self {
                v as $t
            }
            fn value(self) -> f64 {
                f64::from(self)
            }
            float_num!(@unary $t: sin cos tan asin acos atan sinh cosh tanh asinh acosh atanh exp
                exp2 exp_m1 ln log10 log2 ln_1p sqrt cbrt abs recip signum floor ceil round trunc);
            float_num!(@binary $t: powf atan2 hypot max min log);
            fn powi(self, n: i32) -> Self {
                $t::powi(self, n)
            }
            fn mul_add(self, a: Self, b: Self) -> Self {
                $t::mul_add(self, a, b)
            }
        }
    };
    (@unary $t:ident: $($f:ident)*) => {
        $(fn $f(self) -> Self { $t::$f(self) })*
    };
    (@binary $t:ident: $($f:ident)*) => {
        $(fn $f(self, b: Self) -> Self { $t::$f(self, b) })*
    };
}

float_num!(f64);
float_num!(f32);

/// `v + t·ε` with `ε² = 0`: the value and the derivative along one direction.
#[derive(Clone, Copy, Debug, Default)]
pub struct Dual<S> {
    pub v: S,
    pub t: S,
}

impl<S: Num> Dual<S> {
    pub fn new(v: S, t: S) -> Self {
        Dual { v, t }
    }

    /// `f(v)` with derivative `f'(v) = d`.
    fn chain(self, v: S, d: S) -> Self {
        Dual { v, t: self.t * d }
    }
}

impl<S: Num> PartialEq for Dual<S> {
    fn eq(&self, o: &Self) -> bool {
        self.v == o.v
    }
}

/// Branches compare values only.
impl<S: Num> PartialOrd for Dual<S> {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        self.v.partial_cmp(&o.v)
    }
}

impl<S: Num> Add for Dual<S> {
    type Output = Self;
    fn add(self, o: Self) -> Self {
        Dual::new(self.v + o.v, self.t + o.t)
    }
}

impl<S: Num> Sub for Dual<S> {
    type Output = Self;
    fn sub(self, o: Self) -> Self {
        Dual::new(self.v - o.v, self.t - o.t)
    }
}

// (ab)' = a'b + ab'
impl<S: Num> Mul for Dual<S> {
    type Output = Self;
    fn mul(self, o: Self) -> Self {
        Dual::new(self.v * o.v, self.t * o.v + self.v * o.t)
    }
}

// (a/b)' = (a' − (a/b)·b') / b
impl<S: Num> Div for Dual<S> {
    type Output = Self;
    fn div(self, o: Self) -> Self {
        let q = self.v / o.v;
        Dual::new(q, (self.t - q * o.t) / o.v)
    }
}

impl<S: Num> Neg for Dual<S> {
    type Output = Self;
    fn neg(self) -> Self {
        Dual::new(-self.v, -self.t)
    }
}

macro_rules! assign_op {
    ($tr:ident, $f:ident, $op:tt) => {
        impl<S: Num> $tr for Dual<S> {
            fn $f(&mut self, o: Self) {
                *self = *self $op o;
            }
        }
    };
}

assign_op!(AddAssign, add_assign, +);
assign_op!(SubAssign, sub_assign, -);
assign_op!(MulAssign, mul_assign, *);
assign_op!(DivAssign, div_assign, /);

impl<S: Num> Num for Dual<S> {
    fn c(v: f64) -> Self {
        Dual::new(S::c(v), S::c(0.0))
    }
    fn value(self) -> f64 {
        self.v.value()
    }
    fn sin(self) -> Self {
        self.chain(self.v.sin(), self.v.cos())
    }
    fn cos(self) -> Self {
        self.chain(self.v.cos(), -self.v.sin())
    }
    // tan' = 1 + tan²
    fn tan(self) -> Self {
        let y = self.v.tan();
        self.chain(y, S::c(1.0) + y * y)
    }
    // asin' = 1/√(1−v²)
    fn asin(self) -> Self {
        self.chain(self.v.asin(), (S::c(1.0) - self.v * self.v).sqrt().recip())
    }
    fn acos(self) -> Self {
        self.chain(self.v.acos(), -(S::c(1.0) - self.v * self.v).sqrt().recip())
    }
    fn atan(self) -> Self {
        self.chain(self.v.atan(), (S::c(1.0) + self.v * self.v).recip())
    }
    fn sinh(self) -> Self {
        self.chain(self.v.sinh(), self.v.cosh())
    }
    fn cosh(self) -> Self {
        self.chain(self.v.cosh(), self.v.sinh())
    }
    // tanh' = 1 − tanh²
    fn tanh(self) -> Self {
        let y = self.v.tanh();
        self.chain(y, S::c(1.0) - y * y)
    }
    fn asinh(self) -> Self {
        self.chain(self.v.asinh(), (self.v * self.v + S::c(1.0)).sqrt().recip())
    }
    fn acosh(self) -> Self {
        self.chain(self.v.acosh(), (self.v * self.v - S::c(1.0)).sqrt().recip())
    }
    fn atanh(self) -> Self {
        self.chain(self.v.atanh(), (S::c(1.0) - self.v * self.v).recip())
    }
    fn exp(self) -> Self {
        let y = self.v.exp();
        self.chain(y, y)
    }
    // (2^v)' = 2^v · ln 2
    fn exp2(self) -> Self {
        let y = self.v.exp2();
        self.chain(y, y * S::c(std::f64::consts::LN_2))
    }
    fn exp_m1(self) -> Self {
        self.chain(self.v.exp_m1(), self.v.exp())
    }
    fn ln(self) -> Self {
        self.chain(self.v.ln(), self.v.recip())
    }
    fn log10(self) -> Self {
        self.chain(
            self.v.log10(),
            (self.v * S::c(std::f64::consts::LN_10)).recip(),
        )
    }
    fn log2(self) -> Self {
        self.chain(
            self.v.log2(),
            (self.v * S::c(std::f64::consts::LN_2)).recip(),
        )
    }
    fn ln_1p(self) -> Self {
        self.chain(self.v.ln_1p(), (S::c(1.0) + self.v).recip())
    }
    // √' = 1/(2√v)
    fn sqrt(self) -> Self {
        let y = self.v.sqrt();
        self.chain(y, (S::c(2.0) * y).recip())
    }
    // ∛' = 1/(3∛v²)
    fn cbrt(self) -> Self {
        let y = self.v.cbrt();
        self.chain(y, (S::c(3.0) * y * y).recip())
    }
    fn abs(self) -> Self {
        self.chain(self.v.abs(), self.v.signum())
    }
    // (1/v)' = −1/v²
    fn recip(self) -> Self {
        let y = self.v.recip();
        self.chain(y, -(y * y))
    }
    // Piecewise constant: derivative zero almost everywhere.
    fn signum(self) -> Self {
        self.chain(self.v.signum(), S::c(0.0))
    }
    fn floor(self) -> Self {
        self.chain(self.v.floor(), S::c(0.0))
    }
    fn ceil(self) -> Self {
        self.chain(self.v.ceil(), S::c(0.0))
    }
    fn round(self) -> Self {
        self.chain(self.v.round(), S::c(0.0))
    }
    fn trunc(self) -> Self {
        self.chain(self.v.trunc(), S::c(0.0))
    }
    // (vⁿ)' = n·vⁿ⁻¹
    fn powi(self, n: i32) -> Self {
        self.chain(self.v.powi(n), S::c(f64::from(n)) * self.v.powi(n - 1))
    }
    // (aᵇ)' = b·aᵇ⁻¹·a' + aᵇ·ln a·b'   (a > 0 in generated programs)
    fn powf(self, e: Self) -> Self {
        let y = self.v.powf(e.v);
        Dual::new(
            y,
            self.t * e.v * self.v.powf(e.v - S::c(1.0)) + e.t * y * self.v.ln(),
        )
    }
    // atan2(a, b)' = (b·a' − a·b') / (a² + b²)
    fn atan2(self, x: Self) -> Self {
        let r2 = self.v * self.v + x.v * x.v;
        Dual::new(self.v.atan2(x.v), (x.v * self.t - self.v * x.t) / r2)
    }
    // hypot(a, b)' = (a·a' + b·b') / hypot(a, b)
    fn hypot(self, b: Self) -> Self {
        let h = self.v.hypot(b.v);
        Dual::new(h, (self.v * self.t + b.v * b.t) / h)
    }
    fn max(self, b: Self) -> Self {
        if self.v >= b.v {
            self
        } else {
            b
        }
    }
    fn min(self, b: Self) -> Self {
        if self.v <= b.v {
            self
        } else {
            b
        }
    }
    // log_b a = ln a / ln b
    fn log(self, base: Self) -> Self {
        let v = self.v.log(base.v);
        let lb = base.v.ln();
        Dual::new(v, (self.t / self.v - v * base.t / base.v) / lb)
    }
    // (v·a + b)' = v'·a + v·a' + b'
    fn mul_add(self, a: Self, b: Self) -> Self {
        Dual::new(self.v.mul_add(a.v, b.v), self.t * a.v + self.v * a.t + b.t)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each rule against a central difference of the plain function.
    #[test]
    fn rules_match_finite_differences() {
        type F = fn(Dual<f64>) -> Dual<f64>;
        let cases: &[(&str, F, f64)] = &[
            ("sin", |a| a.sin(), 0.7),
            ("cos", |a| a.cos(), 0.7),
            ("tan", |a| a.tan(), 0.4),
            ("asin", |a| a.asin(), 0.3),
            ("acos", |a| a.acos(), 0.3),
            ("atan", |a| a.atan(), 0.7),
            ("sinh", |a| a.sinh(), 0.7),
            ("cosh", |a| a.cosh(), 0.7),
            ("tanh", |a| a.tanh(), 0.7),
            ("asinh", |a| a.asinh(), 0.7),
            ("acosh", |a| a.acosh(), 1.7),
            ("atanh", |a| a.atanh(), 0.3),
            ("exp", |a| a.exp(), 0.7),
            ("exp2", |a| a.exp2(), 0.7),
            ("exp_m1", |a| a.exp_m1(), 0.7),
            ("ln", |a| a.ln(), 0.7),
            ("log10", |a| a.log10(), 0.7),
            ("log2", |a| a.log2(), 0.7),
            ("ln_1p", |a| a.ln_1p(), 0.7),
            ("sqrt", |a| a.sqrt(), 0.7),
            ("cbrt", |a| a.cbrt(), 0.7),
            ("abs", |a| a.abs(), -0.7),
            ("recip", |a| a.recip(), 0.7),
            ("powi", |a| a.powi(3), 0.7),
            ("powf", |a| a.powf(a * Dual::c(0.5)), 0.7),
            ("atan2", |a| a.atan2(a * a + Dual::c(0.3)), 0.7),
            ("hypot", |a| a.hypot(a * Dual::c(2.0)), 0.7),
            ("log", |a| (a + Dual::c(1.0)).log(a + Dual::c(2.0)), 0.7),
            ("mul_add", |a| a.mul_add(a, a * a), 0.7),
            ("div", |a| a / (a * a + Dual::c(1.0)), 0.7),
        ];
        let h = 1e-6;
        for (name, f, x) in cases {
            let d = f(Dual::new(*x, 1.0)).t;
            let fd = (f(Dual::c(x + h)).v - f(Dual::c(x - h)).v) / (2.0 * h);
            assert!(
                (d - fd).abs() < 1e-7 * (1.0 + d.abs()),
                "{name}: {d} vs {fd}"
            );
        }
    }
}
