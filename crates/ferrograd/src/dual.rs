//! Dual numbers `v + t·ε` (ε² = 0): the scalar type that turns a generated reverse-mode
//! function into a Hessian-vector product (forward-over-reverse), used by `f_hessian`.

use crate::real::{Partials, Real};
use core::ops::{Add, AddAssign, Div, DivAssign, Mul, MulAssign, Neg, Rem, Sub, SubAssign};

/// A dual number: value `v` and tangent `t`.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Dual<T> {
    pub v: T,
    pub t: T,
}

impl<T: Real> Dual<T> {
    pub fn new(v: T, t: T) -> Self {
        Dual { v, t }
    }
    #[inline(always)]
    pub fn constant(v: T) -> Self {
        Dual { v, t: T::zero() }
    }
}

impl<T: PartialOrd> PartialOrd for Dual<T> {
    /// Orders by value only: branches of the generated code follow the primal values.
    fn partial_cmp(&self, other: &Self) -> Option<core::cmp::Ordering> {
        self.v.partial_cmp(&other.v)
    }
}

impl<T: Real> Add for Dual<T> {
    type Output = Self;
    #[inline(always)]
    fn add(self, o: Self) -> Self {
        Dual::new(self.v + o.v, self.t + o.t)
    }
}
impl<T: Real> Sub for Dual<T> {
    type Output = Self;
    #[inline(always)]
    fn sub(self, o: Self) -> Self {
        Dual::new(self.v - o.v, self.t - o.t)
    }
}
impl<T: Real> Mul for Dual<T> {
    type Output = Self;
    #[inline(always)]
    fn mul(self, o: Self) -> Self {
        Dual::new(self.v * o.v, self.t.mul_add_lanes(o.v, self.v * o.t))
    }
}
impl<T: Real> Div for Dual<T> {
    type Output = Self;
    #[inline(always)]
    fn div(self, o: Self) -> Self {
        let y = self.v / o.v;
        Dual::new(y, (self.t - y * o.t) / o.v)
    }
}
impl<T: Real> Rem for Dual<T> {
    type Output = Self;
    /// `a % b = a - trunc(a/b)·b`: derivative 1 in `a`, -trunc(a/b) in `b`.
    #[inline(always)]
    fn rem(self, o: Self) -> Self {
        let q = (self.v / o.v).trunc();
        Dual::new(self.v % o.v, self.t - q * o.t)
    }
}
impl<T: Real> Neg for Dual<T> {
    type Output = Self;
    #[inline(always)]
    fn neg(self) -> Self {
        Dual::new(-self.v, -self.t)
    }
}
macro_rules! assign_ops {
    ($($tr:ident $f:ident $op:tt),*) => {$(
        impl<T: Real> $tr for Dual<T> {
            #[inline(always)]
            fn $f(&mut self, o: Self) {
                *self = *self $op o;
            }
        }
    )*};
}
assign_ops!(AddAssign add_assign +, SubAssign sub_assign -, MulAssign mul_assign *, DivAssign div_assign /);

/// `Real` for dual numbers, generated from the primitives' one declaration
/// (`ferrograd-prims`): each method is the primal plus its tangent through the rule.
macro_rules! dual_real {
    (
        unary { $( $f:ident $fd:ident ($x:tt, $y:tt) $cost:ident => $rule:expr; )* }
        binary { $( $g:ident $gd:ident ($a:tt, $b:tt, $gy:tt) => $grule:expr; )* }
    ) => {
        impl<T: Real> Real for Dual<T> {
            fn from_f64(v: f64) -> Self {
                Dual::constant(T::from_f64(v))
            }
            fn to_f64(self) -> f64 {
                self.v.to_f64()
            }
            $(
                #[inline(always)]
                fn $f(self) -> Self {
                    let y = self.v.$f();
                    Dual::new(y, self.t * T::$fd(self.v, y))
                }
            )*
            $(
                #[inline(always)]
                fn $g(self, o: Self) -> Self {
                    let y = self.v.$g(o.v);
                    let (pa, pb) = T::$gd(self.v, o.v, y);
                    Dual::new(y, self.t.mul_add_lanes(pa, o.t * pb))
                }
            )*
            #[inline(always)]
            fn powi(self, n: i32) -> Self {
                let y = self.v.powi(n);
                Dual::new(y, self.t * T::powi_d(self.v, n, y))
            }
            #[inline(always)]
            fn mul_add(self, a: Self, b: Self) -> Self {
                let y = self.v.mul_add(a.v, b.v);
                Dual::new(y, self.t * a.v + self.v * a.t + b.t)
            }
            #[inline(always)]
            fn select_lt(a: Self, b: Self, x: Self, y: Self) -> Self {
                Dual::new(T::select_lt(a.v, b.v, x.v, y.v), T::select_lt(a.v, b.v, x.t, y.t))
            }
            #[inline(always)]
            fn select_le(a: Self, b: Self, x: Self, y: Self) -> Self {
                Dual::new(T::select_le(a.v, b.v, x.v, y.v), T::select_le(a.v, b.v, x.t, y.t))
            }
            #[inline(always)]
            fn select_eq(a: Self, b: Self, x: Self, y: Self) -> Self {
                Dual::new(T::select_eq(a.v, b.v, x.v, y.v), T::select_eq(a.v, b.v, x.t, y.t))
            }
        }
    };
}
ferrograd_prims::scalar_primitives!(dual_real);
