//! Dual numbers with `N` tangents, `v + Σ_k t_k·ε_k` (ε_j·ε_k = 0): `f_hessian` runs the
//! generated pullback once per `N` directions instead of once per direction, so the primal
//! and each elementary function's value and local derivative are computed once for all of
//! them. Each tangent is computed exactly as [`crate::Dual`]'s is (the same operations in the
//! same order), so a Hessian column is the same bit for bit either way.

#![allow(
    clippy::suspicious_arithmetic_impl,
    reason = "dual arithmetic is the product and quotient rules"
)]
#![allow(
    clippy::needless_range_loop,
    reason = "tangent k of every lane: indexed as the math is written"
)]

use crate::lanes::Lanes;
use crate::real::{Partials, Real};
use crate::tape::{Tape, TapeValue};
use core::ops::{Add, AddAssign, Div, DivAssign, Mul, MulAssign, Neg, Rem, Sub, SubAssign};

/// A dual number with `N` tangents.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct DualN<T, const N: usize> {
    pub v: T,
    pub t: [T; N],
}

impl<T: Real, const N: usize> DualN<T, N> {
    pub fn new(v: T, t: [T; N]) -> Self {
        DualN { v, t }
    }
    #[inline(always)]
    pub fn constant(v: T) -> Self {
        DualN {
            v,
            t: [T::zero(); N],
        }
    }
    #[inline(always)]
    fn with(v: T, f: impl Fn(usize) -> T) -> Self {
        let mut t = [T::zero(); N];
        for (k, x) in t.iter_mut().enumerate() {
            *x = f(k);
        }
        DualN { v, t }
    }
}

impl<T: Real, const N: usize> Default for DualN<T, N> {
    fn default() -> Self {
        Self::constant(T::zero())
    }
}

impl<T: PartialOrd, const N: usize> PartialOrd for DualN<T, N> {
    /// Orders by value only: branches of the generated code follow the primal values.
    fn partial_cmp(&self, other: &Self) -> Option<core::cmp::Ordering> {
        self.v.partial_cmp(&other.v)
    }
}

impl<T: Real, const N: usize> Add for DualN<T, N> {
    type Output = Self;
    #[inline(always)]
    fn add(self, o: Self) -> Self {
        Self::with(self.v + o.v, |k| self.t[k] + o.t[k])
    }
}
impl<T: Real, const N: usize> Sub for DualN<T, N> {
    type Output = Self;
    #[inline(always)]
    fn sub(self, o: Self) -> Self {
        Self::with(self.v - o.v, |k| self.t[k] - o.t[k])
    }
}
impl<T: Real, const N: usize> Mul for DualN<T, N> {
    type Output = Self;
    #[inline(always)]
    fn mul(self, o: Self) -> Self {
        Self::with(self.v * o.v, |k| {
            self.t[k].mul_add_lanes(o.v, self.v * o.t[k])
        })
    }
}
impl<T: Real, const N: usize> Div for DualN<T, N> {
    type Output = Self;
    #[inline(always)]
    fn div(self, o: Self) -> Self {
        let y = self.v / o.v;
        Self::with(y, |k| (self.t[k] - y * o.t[k]) / o.v)
    }
}
impl<T: Real, const N: usize> Rem for DualN<T, N> {
    type Output = Self;
    #[inline(always)]
    fn rem(self, o: Self) -> Self {
        let q = (self.v / o.v).trunc();
        Self::with(self.v % o.v, |k| self.t[k] - q * o.t[k])
    }
}
impl<T: Real, const N: usize> Neg for DualN<T, N> {
    type Output = Self;
    #[inline(always)]
    fn neg(self) -> Self {
        Self::with(-self.v, |k| -self.t[k])
    }
}
macro_rules! assign_ops {
    ($($tr:ident $f:ident $op:tt),*) => {$(
        impl<T: Real, const N: usize> $tr for DualN<T, N> {
            #[inline(always)]
            fn $f(&mut self, o: Self) {
                *self = *self $op o;
            }
        }
    )*};
}
assign_ops!(AddAssign add_assign +, SubAssign sub_assign -, MulAssign mul_assign *, DivAssign div_assign /);

impl<T: Real, const N: usize> TapeValue for DualN<T, N> {
    #[inline(always)]
    fn push_to(self, tape: &mut Tape) {
        self.v.push_to(tape);
        for x in self.t {
            x.push_to(tape);
        }
    }
    #[inline(always)]
    fn pop_from(tape: &mut Tape) -> Self {
        let mut t = [T::zero(); N];
        for x in t.iter_mut().rev() {
            *x = T::pop_from(tape);
        }
        DualN {
            v: T::pop_from(tape),
            t,
        }
    }
}

impl<T: Real, const N: usize> Lanes for DualN<T, N> {
    type Wide = DualN<T::Wide, N>;
    const LANES: usize = T::LANES;
    type Plain = T::Plain;
    #[inline(always)]
    fn lift(p: T::Plain) -> Self {
        Self::constant(T::lift(p))
    }
    #[inline(always)]
    fn load_plain(s: &[T::Plain], i: usize) -> DualN<T::Wide, N> {
        DualN::constant(T::load_plain(s, i))
    }
    #[inline(always)]
    fn wide_from_fn(mut f: impl FnMut(usize) -> Self) -> DualN<T::Wide, N> {
        debug_assert!(T::LANES <= 16);
        let mut buf = [[T::zero(); 16]; N];
        let v = T::wide_from_fn(|l| {
            let d = f(l);
            for k in 0..N {
                buf[k][l] = d.t[k];
            }
            d.v
        });
        let mut t = [<T::Wide as Real>::zero(); N];
        for k in 0..N {
            t[k] = T::wide_from_fn(|l| buf[k][l]);
        }
        DualN { v, t }
    }
    #[inline(always)]
    fn lane(w: &DualN<T::Wide, N>, l: usize) -> Self {
        let mut t = [T::zero(); N];
        for k in 0..N {
            t[k] = T::lane(&w.t[k], l);
        }
        DualN {
            v: T::lane(&w.v, l),
            t,
        }
    }
    // Dual lanes already hold several registers: pairing them would spill.
    crate::lanes::unpaired!();
    const SUMS_PAIRED: bool = T::SUMS_PAIRED;
    #[inline(always)]
    fn primal_part(self) -> Self {
        Self::constant(self.v)
    }
    #[inline(always)]
    fn with_primal(self, p: Self) -> Self {
        DualN { v: p.v, t: self.t }
    }
}

/// `Real` for `DualN`, generated from the primitives' one declaration (`ferrograd-prims`), as
/// for `Dual`: the primal, and each tangent through the rule.
macro_rules! dualn_real {
    (
        unary { $( $f:ident $fd:ident ($x:tt, $y:tt) $cost:ident => $rule:expr; )* }
        binary { $( $g:ident $gd:ident ($a:tt, $b:tt, $gy:tt) => $grule:expr; )* }
    ) => {
        impl<T: Real, const N: usize> Real for DualN<T, N> {
            fn from_f64(v: f64) -> Self {
                DualN::constant(T::from_f64(v))
            }
            fn to_f64(self) -> f64 {
                self.v.to_f64()
            }
            $(
                #[inline(always)]
                fn $f(self) -> Self {
                    let y = self.v.$f();
                    let d = T::$fd(self.v, y);
                    Self::with(y, |k| self.t[k] * d)
                }
            )*
            $(
                #[inline(always)]
                fn $g(self, o: Self) -> Self {
                    let y = self.v.$g(o.v);
                    let (pa, pb) = T::$gd(self.v, o.v, y);
                    Self::with(y, |k| self.t[k].mul_add_lanes(pa, o.t[k] * pb))
                }
            )*
            #[inline(always)]
            fn powi(self, n: i32) -> Self {
                let y = self.v.powi(n);
                let d = T::powi_d(self.v, n, y);
                Self::with(y, |k| self.t[k] * d)
            }
            #[inline(always)]
            fn mul_add(self, a: Self, b: Self) -> Self {
                let y = self.v.mul_add(a.v, b.v);
                Self::with(y, |k| self.t[k] * a.v + self.v * a.t[k] + b.t[k])
            }
            #[inline(always)]
            fn select_lt(a: Self, b: Self, x: Self, y: Self) -> Self {
                let v = T::select_lt(a.v, b.v, x.v, y.v);
                Self::with(v, |k| T::select_lt(a.v, b.v, x.t[k], y.t[k]))
            }
            #[inline(always)]
            fn select_le(a: Self, b: Self, x: Self, y: Self) -> Self {
                let v = T::select_le(a.v, b.v, x.v, y.v);
                Self::with(v, |k| T::select_le(a.v, b.v, x.t[k], y.t[k]))
            }
            #[inline(always)]
            fn select_eq(a: Self, b: Self, x: Self, y: Self) -> Self {
                let v = T::select_eq(a.v, b.v, x.v, y.v);
                Self::with(v, |k| T::select_eq(a.v, b.v, x.t[k], y.t[k]))
            }
        }
    };
}
ferrograd_prims::scalar_primitives!(dualn_real);
