//! SIMD lanes of the scalar types, for vectorised reduction loops (`#[differentiable(simd)]`).
//!
//! A reduction loop over events is outlined by the AD compiler into a body function generic
//! over [`Real`]; [`crate::vloop`] runs that same generated code on [`F64x8`] / [`F32x16`]
//! (eight or sixteen events at a time) and on `Dual<F64x8>` for Hessians. Every [`Real`] type
//! says here what its lanes are: `f64` → [`F64x8`], `f32` → [`F32x16`], `Dual<T>` →
//! `Dual<T::Wide>`, and the lane types themselves are their own one-lane wide type. The
//! primal's loop and the fused value-and-gradient pass take two wide values at a time as one
//! [`Lanes::Pair`] (`f64` → [`F64x16`], `f32` → [`F32x32`]); dual numbers do not pair.
//!
//! Why hand-written lane types rather than a SIMD crate: the lanes must implement [`Real`]
//! (every primitive of the table, tape, ordering) so that the generated code runs on them
//! unchanged, and they must compile to AVX-512 or AVX2 under runtime dispatch
//! (`multiversion`), which crates that pick their instructions at compile time (`wide`) do
//! not do. Plain fixed-size arrays with element-wise loops do both: LLVM vectorises each
//! operation to the widest registers of the function it is inlined into.

use crate::real::Real;
use crate::tape::{Tape, TapeValue};
use crate::Dual;
use core::ops::{Add, AddAssign, Div, DivAssign, Mul, MulAssign, Neg, Rem, Sub, SubAssign};

/// The SIMD view of a scalar type: how many events one wide value holds and how to move
/// events in and out. Implemented for every [`Real`] type (a supertrait of it).
pub trait Lanes: Sized + Copy {
    /// The wide type: `LANES` values of `Self` side by side, itself a [`Real`].
    type Wide: Real;
    /// Events per wide value.
    const LANES: usize;
    /// The wide value whose lane `k` is `f(k)`.
    fn wide_from_fn(f: impl FnMut(usize) -> Self) -> Self::Wide;
    /// Lane `k` of a wide value.
    fn lane(w: &Self::Wide, k: usize) -> Self;

    /// Two wide values side by side (`2·LANES` events), for the primal's loop and the fused
    /// value-and-gradient pass: one value of
    /// this type is evaluated operation by operation on both halves, so that each half's
    /// latency hides behind the other's work (two separate wide evaluations in a row are not
    /// interleaved by LLVM). Meaningful only where [`PAIRED`](Self::PAIRED).
    type Pair: Real;
    /// Whether [`Pair`](Self::Pair) holds two wide values (`f64`, `f32`); otherwise the
    /// drivers never build one and it is the wide type itself.
    const PAIRED: bool;
    /// Whether sums over lane groups follow the primal's paired order (even and odd groups
    /// apart, added at the end): the paired types themselves, and dual numbers over them,
    /// which run one group at a time but whose primal part then has the primal's bits (the
    /// value `f_hessian` returns).
    const SUMS_PAIRED: bool = Self::PAIRED;
    /// `self` with its tangents zeroed (dual numbers); a plain value unchanged. With
    /// [`with_primal`](Self::with_primal), a sum's primal part can follow another order than
    /// its tangents (see `vloop`'s Hessian pass).
    #[inline(always)]
    fn primal_part(self) -> Self {
        self
    }
    /// `self` with its primal part replaced by `p`'s (dual numbers); for a plain value, `p`.
    #[inline(always)]
    fn with_primal(self, p: Self) -> Self {
        p
    }
    /// `self·a + b`, fused into one rounding where that is one instruction: on the lane types,
    /// which run inside the dispatched AVX2/AVX-512 clones, lane by lane `mul_add`; on plain
    /// floats the unfused expression (outside those clones a `mul_add` on `f64` is a libm
    /// call), so scalar dual numbers keep their bits. The dual numbers' tangent updates use
    /// it: the NLL's vectorised Hessian −16–18% (side by side).
    #[inline(always)]
    fn mul_add_lanes(self, a: Self, b: Self) -> Self
    where
        Self: Real,
    {
        self * a + b
    }
    /// The pair whose lane `k` (of `2·LANES`) is `f(k)`.
    fn pair_from_fn(f: impl FnMut(usize) -> Self) -> Self::Pair;
    /// The two halves of a pair: lanes `0..LANES` and `LANES..2·LANES`.
    fn halves(p: &Self::Pair) -> (Self::Wide, Self::Wide);

    /// Every lane equal to `self`.
    #[inline(always)]
    fn splat(self) -> Self::Wide {
        Self::wide_from_fn(|_| self)
    }
    /// What this type lifts as a constant: a Hessian's constant event slices hold it, so
    /// that they are read as they are stored, with no copy into dual numbers and no tangents
    /// to load (`f64` for `f64` and for dual numbers over it; each lane type is its own).
    type Plain: Real;
    /// `p` as a value of this type with zero tangents.
    fn lift(p: Self::Plain) -> Self;
    /// Lanes `s[i..i + LANES]` of plain values, lifted.
    fn load_plain(s: &[Self::Plain], i: usize) -> Self::Wide;
    /// Lanes `s[i..i + 2·LANES]` of plain values as a pair, lifted.
    #[inline(always)]
    fn load_plain_pair(s: &[Self::Plain], i: usize) -> Self::Pair {
        let s = &s[i..i + 2 * Self::LANES];
        Self::pair_from_fn(|k| Self::lift(s[k]))
    }

    /// Lanes `s[i..i + LANES]`.
    #[inline(always)]
    fn load(s: &[Self], i: usize) -> Self::Wide {
        let s = &s[i..i + Self::LANES];
        Self::wide_from_fn(|k| s[k])
    }
    /// Every lane of a pair equal to `self`.
    #[inline(always)]
    fn splat_pair(self) -> Self::Pair {
        Self::pair_from_fn(|_| self)
    }
    /// Lanes `s[i..i + 2·LANES]` as a pair.
    #[inline(always)]
    fn load_pair(s: &[Self], i: usize) -> Self::Pair {
        let s = &s[i..i + 2 * Self::LANES];
        Self::pair_from_fn(|k| s[k])
    }
    /// The sum of the lanes, lane 0 first (a fixed order: results are reproducible).
    #[inline(always)]
    fn sum_lanes(w: &Self::Wide) -> Self
    where
        Self: Add<Output = Self>,
    {
        let mut s = Self::lane(w, 0);
        for k in 1..Self::LANES {
            s = s + Self::lane(w, k);
        }
        s
    }
}

// No `core::array::from_fn` in lane code: its closure wrapper is not inlined, so the lanes
// would run one by one through a call compiled without the dispatched target features.

/// Lane-wise scalar math for a lane type: the default of every primitive is the standard
/// library's; [`crate::simd_math`] replaces the expensive ones by branch-free versions that
/// LLVM vectorises across the lanes.
macro_rules! lane_math {
    (
        unary { $( $f:ident $fd:ident ($x:tt, $y:tt) $cost:ident => $rule:expr; )* }
        binary { $( $g:ident $gd:ident ($a:tt, $b:tt, $gy:tt) => $grule:expr; )* }
    ) => {
        /// Per-lane `f64` functions used by [`F64x8`].
        pub trait LaneMathF64 {
            $( #[inline(always)] fn $f(x: f64) -> f64 { f64::$f(x) } )*
            $( #[inline(always)] fn $g(a: f64, b: f64) -> f64 { f64::$g(a, b) } )*
        }
        /// Per-lane `f32` functions used by [`F32x16`].
        pub trait LaneMathF32 {
            $( #[inline(always)] fn $f(x: f32) -> f32 { f32::$f(x) } )*
            $( #[inline(always)] fn $g(a: f32, b: f32) -> f32 { f32::$g(a, b) } )*
        }
    };
}
ferrograd_prims::scalar_primitives!(lane_math);

/// The lane functions of [`F64x8`] and [`F32x16`].
pub struct LaneFns;

impl LaneMathF64 for LaneFns {
    #[inline(always)]
    fn exp(x: f64) -> f64 {
        crate::simd_math::exp(x)
    }
    #[inline(always)]
    fn exp_m1(x: f64) -> f64 {
        crate::simd_math::exp_m1(x)
    }
    #[inline(always)]
    fn ln(x: f64) -> f64 {
        crate::simd_math::ln(x)
    }
    #[inline(always)]
    fn sin(x: f64) -> f64 {
        crate::simd_math::sin(x)
    }
    #[inline(always)]
    fn cos(x: f64) -> f64 {
        crate::simd_math::cos(x)
    }
    #[inline(always)]
    fn tanh(x: f64) -> f64 {
        crate::simd_math::tanh(x)
    }
    #[inline(always)]
    fn powf(x: f64, y: f64) -> f64 {
        crate::simd_math::powf(x, y)
    }
}
impl LaneMathF32 for LaneFns {
    #[inline(always)]
    fn exp(x: f32) -> f32 {
        crate::simd_math::exp_f32(x)
    }
    #[inline(always)]
    fn ln(x: f32) -> f32 {
        crate::simd_math::ln_f32(x)
    }
    #[inline(always)]
    fn sin(x: f32) -> f32 {
        crate::simd_math::sin_f32(x)
    }
    #[inline(always)]
    fn cos(x: f32) -> f32 {
        crate::simd_math::cos_f32(x)
    }
    #[inline(always)]
    fn tanh(x: f32) -> f32 {
        crate::simd_math::tanh_f32(x)
    }
    #[inline(always)]
    fn powf(x: f32, y: f32) -> f32 {
        crate::simd_math::powf_f32(x, y)
    }
}

/// `Real` for a lane type, generated from the primitives' table: each primitive lane-wise.
macro_rules! real_for_lanes {
    (
        $name:ident, $t:ty, $n:literal, $math:ident;
        unary { $( $f:ident $fd:ident ($x:tt, $y:tt) $cost:ident => $rule:expr; )* }
        binary { $( $g:ident $gd:ident ($a:tt, $b:tt, $gy:tt) => $grule:expr; )* }
    ) => {
        impl Real for $name {
            #[inline(always)]
            fn from_f64(v: f64) -> Self {
                $name([v as $t; $n])
            }
            /// Lane 0 (the generated code of a vectorised body never converts).
            fn to_f64(self) -> f64 {
                f64::from(self.0[0])
            }
            // Direct calls in the lane loops, not `map`/`zip` with the function as a value:
            // its `Fn::call` shim is not `inline(always)`, and LLVM leaves a shim as large as
            // `powf`'s out of line, so the lanes would run one by one through calls.
            $(
                #[inline(always)]
                fn $f(self) -> Self {
                    let mut r = self.0;
                    for k in 0..$n {
                        r[k] = <LaneFns as $math>::$f(self.0[k]);
                    }
                    $name(r)
                }
            )*
            $(
                #[inline(always)]
                fn $g(self, o: Self) -> Self {
                    let mut r = self.0;
                    for k in 0..$n {
                        r[k] = <LaneFns as $math>::$g(self.0[k], o.0[k]);
                    }
                    $name(r)
                }
            )*
            #[inline(always)]
            fn powi(self, n: i32) -> Self {
                self.map(|a| a.powi(n))
            }
            #[inline(always)]
            fn mul_add(self, a: Self, b: Self) -> Self {
                // One rounding per lane, like the scalar path's `mul_add`.
                let mut r = self.0;
                for k in 0..$n {
                    r[k] = self.0[k].mul_add(a.0[k], b.0[k]);
                }
                $name(r)
            }
            #[inline(always)]
            fn select_lt(a: Self, b: Self, x: Self, y: Self) -> Self {
                Self::select(a, b, x, y, |a, b| a < b)
            }
            #[inline(always)]
            fn select_le(a: Self, b: Self, x: Self, y: Self) -> Self {
                Self::select(a, b, x, y, |a, b| a <= b)
            }
            #[inline(always)]
            fn select_eq(a: Self, b: Self, x: Self, y: Self) -> Self {
                Self::select(a, b, x, y, |a, b| a == b)
            }
        }
    };
}

macro_rules! lane_type {
    ($name:ident, $t:ty, $n:literal, $math:ident, $doc:literal) => {
        #[doc = $doc]
        #[derive(Clone, Copy, Debug, PartialEq)]
        #[repr(transparent)]
        pub struct $name(pub [$t; $n]);

        impl $name {
            #[inline(always)]
            fn map(self, f: impl Fn($t) -> $t) -> Self {
                let mut r = self.0;
                for k in 0..$n {
                    r[k] = f(self.0[k]);
                }
                $name(r)
            }
            #[inline(always)]
            fn zip(self, o: Self, f: impl Fn($t, $t) -> $t) -> Self {
                let mut r = self.0;
                for k in 0..$n {
                    r[k] = f(self.0[k], o.0[k]);
                }
                $name(r)
            }
            /// Lane k of `x` where `c(a_k, b_k)`, else of `y` (a blend, no branch).
            #[inline(always)]
            fn select(a: Self, b: Self, x: Self, y: Self, c: impl Fn($t, $t) -> bool) -> Self {
                let mut r = y.0;
                for k in 0..$n {
                    r[k] = if c(a.0[k], b.0[k]) { x.0[k] } else { y.0[k] };
                }
                $name(r)
            }
        }

        impl Default for $name {
            #[inline(always)]
            fn default() -> Self {
                $name([0.0; $n])
            }
        }

        /// Lane-wise order, defined only where every lane agrees (`None` otherwise). The AD
        /// compiler vectorises only loop bodies without comparisons, and the derivative rules
        /// compare through [`Real::select_lt`] and its siblings, so generated code never
        /// branches on lane values; this exists because [`Real`] requires it.
        impl PartialOrd for $name {
            fn partial_cmp(&self, o: &Self) -> Option<core::cmp::Ordering> {
                let first = self.0[0].partial_cmp(&o.0[0])?;
                self.0
                    .iter()
                    .zip(&o.0)
                    .all(|(a, b)| a.partial_cmp(b) == Some(first))
                    .then_some(first)
            }
        }

        impl Add for $name {
            type Output = Self;
            #[inline(always)]
            fn add(self, o: Self) -> Self {
                self.zip(o, |a, b| a + b)
            }
        }
        impl Sub for $name {
            type Output = Self;
            #[inline(always)]
            fn sub(self, o: Self) -> Self {
                self.zip(o, |a, b| a - b)
            }
        }
        impl Mul for $name {
            type Output = Self;
            #[inline(always)]
            fn mul(self, o: Self) -> Self {
                self.zip(o, |a, b| a * b)
            }
        }
        impl Div for $name {
            type Output = Self;
            #[inline(always)]
            fn div(self, o: Self) -> Self {
                self.zip(o, |a, b| a / b)
            }
        }
        impl Rem for $name {
            type Output = Self;
            #[inline(always)]
            fn rem(self, o: Self) -> Self {
                self.zip(o, |a, b| a % b)
            }
        }
        impl Neg for $name {
            type Output = Self;
            #[inline(always)]
            fn neg(self) -> Self {
                self.map(|a| -a)
            }
        }
        impl AddAssign for $name {
            #[inline(always)]
            fn add_assign(&mut self, o: Self) {
                *self = *self + o;
            }
        }
        impl SubAssign for $name {
            #[inline(always)]
            fn sub_assign(&mut self, o: Self) {
                *self = *self - o;
            }
        }
        impl MulAssign for $name {
            #[inline(always)]
            fn mul_assign(&mut self, o: Self) {
                *self = *self * o;
            }
        }
        impl DivAssign for $name {
            #[inline(always)]
            fn div_assign(&mut self, o: Self) {
                *self = *self / o;
            }
        }
        impl TapeValue for $name {
            #[inline(always)]
            fn push_to(self, tape: &mut Tape) {
                for v in self.0 {
                    v.push_to(tape);
                }
            }
            #[inline(always)]
            fn pop_from(tape: &mut Tape) -> Self {
                let mut v = [0.0; $n];
                for x in v.iter_mut().rev() {
                    *x = <$t>::pop_from(tape);
                }
                $name(v)
            }
        }
        impl Lanes for $name {
            type Wide = $name;
            const LANES: usize = 1;
            type Plain = $name;
            #[inline(always)]
            fn lift(p: Self) -> Self {
                p
            }
            #[inline(always)]
            fn load_plain(s: &[Self], i: usize) -> Self {
                Self::load(s, i)
            }
            #[inline(always)]
            fn mul_add_lanes(self, a: Self, b: Self) -> Self {
                Real::mul_add(self, a, b)
            }
            #[inline(always)]
            fn wide_from_fn(mut f: impl FnMut(usize) -> Self) -> Self {
                f(0)
            }
            #[inline(always)]
            fn lane(w: &Self, _k: usize) -> Self {
                *w
            }
            unpaired!();
        }

        ferrograd_prims::scalar_primitives!(real_for_lanes, $name, $t, $n, $math);
    };
}

/// The [`Lanes`] pair items of a type whose drivers never pair (see [`Lanes::PAIRED`]): the
/// "pair" is one wide value.
macro_rules! unpaired {
    () => {
        type Pair = Self::Wide;
        const PAIRED: bool = false;
        #[inline(always)]
        fn pair_from_fn(f: impl FnMut(usize) -> Self) -> Self::Wide {
            Self::wide_from_fn(f)
        }
        #[inline(always)]
        fn halves(p: &Self::Wide) -> (Self::Wide, Self::Wide) {
            (*p, <Self::Wide as Real>::zero())
        }
    };
}
pub(crate) use unpaired;

/// [`Lanes`] of a scalar type: `$wide` holds `$n` of it, `$pair` two `$wide` side by side.
macro_rules! scalar_lanes {
    ($t:ty, $wide:ident, $n:literal, $pair:ident) => {
        impl Lanes for $t {
            type Wide = $wide;
            const LANES: usize = $n;
            type Plain = $t;
            #[inline(always)]
            fn lift(p: Self) -> Self {
                p
            }
            #[inline(always)]
            fn load_plain(s: &[Self], i: usize) -> $wide {
                Self::load(s, i)
            }
            #[inline(always)]
            fn load_plain_pair(s: &[Self], i: usize) -> $pair {
                Self::load_pair(s, i)
            }
            #[inline(always)]
            fn wide_from_fn(mut f: impl FnMut(usize) -> Self) -> $wide {
                let mut r = [0.0; $n];
                for (k, v) in r.iter_mut().enumerate() {
                    *v = f(k);
                }
                $wide(r)
            }
            #[inline(always)]
            fn lane(w: &$wide, k: usize) -> Self {
                w.0[k]
            }
            type Pair = $pair;
            const PAIRED: bool = true;
            #[inline(always)]
            fn pair_from_fn(mut f: impl FnMut(usize) -> Self) -> $pair {
                let mut r = [0.0; 2 * $n];
                for (k, v) in r.iter_mut().enumerate() {
                    *v = f(k);
                }
                $pair(r)
            }
            #[inline(always)]
            fn halves(p: &$pair) -> ($wide, $wide) {
                let (mut lo, mut hi) = ([0.0; $n], [0.0; $n]);
                for k in 0..$n {
                    lo[k] = p.0[k];
                    hi[k] = p.0[$n + k];
                }
                ($wide(lo), $wide(hi))
            }
        }
    };
}

lane_type!(
    F64x8,
    f64,
    8,
    LaneMathF64,
    "Eight `f64` lanes (one AVX-512 register, two AVX2 registers)."
);
lane_type!(
    F32x16,
    f32,
    16,
    LaneMathF32,
    "Sixteen `f32` lanes (one AVX-512 register, two AVX2 registers)."
);
lane_type!(
    F64x16,
    f64,
    16,
    LaneMathF64,
    "Sixteen `f64` lanes: a pair of [`F64x8`], for the primal's loop and the fused gradient pass (see [`Lanes::Pair`])."
);
lane_type!(
    F32x32,
    f32,
    32,
    LaneMathF32,
    "Thirty-two `f32` lanes: a pair of [`F32x16`], for the primal's loop and the fused gradient pass (see [`Lanes::Pair`])."
);
scalar_lanes!(f64, F64x8, 8, F64x16);
scalar_lanes!(f32, F32x16, 16, F32x32);

impl<T: Real> Lanes for Dual<T> {
    type Wide = Dual<T::Wide>;
    const LANES: usize = T::LANES;
    type Plain = T::Plain;
    #[inline(always)]
    fn lift(p: T::Plain) -> Self {
        Dual::constant(T::lift(p))
    }
    #[inline(always)]
    fn load_plain(s: &[T::Plain], i: usize) -> Dual<T::Wide> {
        Dual::constant(T::load_plain(s, i))
    }
    #[inline(always)]
    fn wide_from_fn(mut f: impl FnMut(usize) -> Self) -> Dual<T::Wide> {
        debug_assert!(T::LANES <= 16);
        let mut t = [T::zero(); 16];
        let v = T::wide_from_fn(|k| {
            let d = f(k);
            t[k] = d.t;
            d.v
        });
        Dual {
            v,
            t: T::wide_from_fn(|k| t[k]),
        }
    }
    #[inline(always)]
    fn lane(w: &Dual<T::Wide>, k: usize) -> Self {
        Dual {
            v: T::lane(&w.v, k),
            t: T::lane(&w.t, k),
        }
    }
    // Dual lanes already hold twice the registers: pairing them would spill.
    unpaired!();
    const SUMS_PAIRED: bool = T::SUMS_PAIRED;
    #[inline(always)]
    fn primal_part(self) -> Self {
        Dual::constant(self.v)
    }
    #[inline(always)]
    fn with_primal(self, p: Self) -> Self {
        Dual { v: p.v, t: self.t }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::real::Partials;

    fn close(a: f64, b: f64) -> bool {
        a.to_bits() == b.to_bits()
            || a.is_nan() && b.is_nan()
            || (a - b).abs() <= 1e-13 * a.abs().max(b.abs())
    }

    /// Every derivative rule of the table, on eight lanes that disagree in sign, order and
    /// equality (zeros, ties, both orders), against the same rule on each lane's `f64`: a rule
    /// that branched on the lanes' common order (`None` where they disagree) would differ. The
    /// lane math (`simd_math`) may differ from std by an ulp, hence `close`.
    macro_rules! rules_lane_by_lane {
        (
            unary { $( $f:ident $fd:ident ($x:tt, $y:tt) $cost:ident => $rule:expr; )* }
            binary { $( $g:ident $gd:ident ($a:tt, $b:tt, $gy:tt) => $grule:expr; )* }
        ) => {
            #[test]
            fn every_rule_is_exact_lane_by_lane() {
                let xs = [-2.5, -0.5, 0.0, 0.3, 0.9, 1.5, 3.0, -0.0];
                let a = [-2.0, 0.0, 0.5, 1.5, 2.0, 3.0, -1.0, 0.0];
                let b = [1.0, 0.0, 0.5, -1.0, 2.5, 0.0, -3.0, 1.5];
                let mut checked = 0;
                $(
                    let mut ys = [0.0; 8];
                    for k in 0..8 {
                        ys[k] = xs[k].$f();
                    }
                    let got = <F64x8 as Partials>::$fd(F64x8(xs), F64x8(ys));
                    for k in 0..8 {
                        let want = <f64 as Partials>::$fd(xs[k], ys[k]);
                        assert!(
                            close(got.0[k], want),
                            "{}: lane {k} (x = {}): {} vs {want}",
                            stringify!($fd),
                            xs[k],
                            got.0[k]
                        );
                    }
                    checked += 1;
                )*
                $(
                    let mut ys = [0.0; 8];
                    for k in 0..8 {
                        ys[k] = a[k].$g(b[k]);
                    }
                    let (ga, gb) = <F64x8 as Partials>::$gd(F64x8(a), F64x8(b), F64x8(ys));
                    for k in 0..8 {
                        let (wa, wb) = <f64 as Partials>::$gd(a[k], b[k], ys[k]);
                        assert!(
                            close(ga.0[k], wa) && close(gb.0[k], wb),
                            "{}: lane {k} (a = {}, b = {}): ({}, {}) vs ({wa}, {wb})",
                            stringify!($gd),
                            a[k],
                            b[k],
                            ga.0[k],
                            gb.0[k]
                        );
                    }
                    checked += 1;
                )*
                assert!(checked > 30);
            }
        };
    }
    ferrograd_prims::scalar_primitives!(rules_lane_by_lane);

    /// Dual numbers select by their values: the tangent follows the same side as the value.
    #[test]
    fn dual_selects_follow_the_values() {
        let d = |v: f64, t: f64| Dual::new(v, t);
        let r = <Dual<f64> as Real>::select_lt(d(1.0, 9.0), d(2.0, -9.0), d(3.0, 4.0), d(5.0, 6.0));
        assert_eq!((r.v, r.t), (3.0, 4.0));
        let r = <Dual<f64> as Real>::select_le(d(2.0, 0.0), d(1.0, 0.0), d(3.0, 4.0), d(5.0, 6.0));
        assert_eq!((r.v, r.t), (5.0, 6.0));
        let r = <Dual<f64> as Real>::select_eq(
            d(f64::NAN, 0.0),
            d(f64::NAN, 0.0),
            d(3.0, 4.0),
            d(5.0, 6.0),
        );
        assert_eq!((r.v, r.t), (5.0, 6.0));
        let w = |v: [f64; 8]| F64x8(v);
        let r = <Dual<F64x8> as Real>::select_lt(
            Dual::new(w([0.0, 1.0, 2.0, 3.0, 0.0, 1.0, 2.0, 3.0]), w([0.0; 8])),
            Dual::new(w([1.5; 8]), w([0.0; 8])),
            Dual::new(w([1.0; 8]), w([2.0; 8])),
            Dual::new(w([-1.0; 8]), w([-2.0; 8])),
        );
        assert_eq!(r.v.0, [1.0, 1.0, -1.0, -1.0, 1.0, 1.0, -1.0, -1.0]);
        assert_eq!(r.t.0, [2.0, 2.0, -2.0, -2.0, 2.0, 2.0, -2.0, -2.0]);
    }
}
