//! Differentiable helpers called by the generated programs (calls between differentiable
//! functions, with scalar, slice, integer-slice and `&mut` output arguments), in three
//! versions: `f64` (`helper`), `f32` (`helper_f32`) and generic over `ferrograd::Real`
//! (`helper_r`, called by the generic programs), each marked `#[differentiable]`; and generic
//! over the oracle's [`Num`](crate::oracle::Num) (`helper_g`).
//!
//! `hiter`'s slice has length [`ARR`](crate::gen::ARR) and every `idx` entry is below it;
//! `hsum` gets two slices of one length, `hout`/`hacc` an input at least as long as its output (the
//! generated programs pass sub-slices `&a[i..j]` to both).

use crate::oracle::Num;

macro_rules! helpers {
    ($F:ident, $helper:ident, $hsum:ident, $hout:ident, $hacc:ident, $hiter:ident) => {
        /// Scalar helper: `sin(ab) + a/(1 + b²)`.
        #[ferrograd::differentiable(hessian)]
        pub fn $helper(a: $F, b: $F) -> $F {
            (a * b).sin() + a / (1.0 + b * b)
        }

        /// Two slices (often the same array twice) and a scalar; `|result| ≤ max(|x|, 2)`.
        #[ferrograd::differentiable(hessian)]
        pub fn $hsum(a: &[$F], b: &[$F], x: $F) -> $F {
            let mut s = x;
            for i in 0..a.len() {
                s = 0.5 * s + (a[i] * b[i]).tanh();
            }
            s
        }

        /// Writes every element of `out` (which it never reads).
        #[ferrograd::differentiable]
        pub fn $hout(a: &[$F], x: $F, out: &mut [$F]) {
            for i in 0..out.len() {
                out[i] = (a[i] * x).sin() + 0.5 * a[i];
            }
        }

        /// Reads and writes every element of `out` (bounded elements stay bounded).
        #[ferrograd::differentiable]
        pub fn $hacc(a: &[$F], x: $F, out: &mut [$F]) {
            for i in 0..out.len() {
                out[i] = 0.5 * out[i] + (a[i] * x).tanh();
            }
        }

        /// `.iter().enumerate()`, `break`, an integer-slice index; `|result| < 1`.
        #[ferrograd::differentiable(hessian)]
        pub fn $hiter(a: &[$F], idx: &[usize], n: usize) -> $F {
            let mut s = 0.0;
            for (k, &v) in a.iter().enumerate() {
                if k >= n {
                    break;
                }
                s += v * a[idx[k]];
            }
            s.tanh()
        }
    };
}

helpers!(f64, helper, hsum, hout, hacc, hiter);
helpers!(f32, helper_f32, hsum_f32, hout_f32, hacc_f32, hiter_f32);

/// The helpers again, generic over `ferrograd::Real` (one definition, derivatives generic too).
#[ferrograd::differentiable]
pub fn helper_r<T: ferrograd::Real>(a: T, b: T) -> T {
    (a * b).sin() + a / (T::one() + b * b)
}

#[ferrograd::differentiable]
pub fn hsum_r<T: ferrograd::Real>(a: &[T], b: &[T], x: T) -> T {
    let mut s = x;
    for i in 0..a.len() {
        s = T::from_f64(0.5) * s + (a[i] * b[i]).tanh();
    }
    s
}

#[ferrograd::differentiable]
pub fn hout_r<T: ferrograd::Real>(a: &[T], x: T, out: &mut [T]) {
    for i in 0..out.len() {
        out[i] = (a[i] * x).sin() + T::from_f64(0.5) * a[i];
    }
}

#[ferrograd::differentiable]
pub fn hacc_r<T: ferrograd::Real>(a: &[T], x: T, out: &mut [T]) {
    for i in 0..out.len() {
        out[i] = T::from_f64(0.5) * out[i] + (a[i] * x).tanh();
    }
}

#[ferrograd::differentiable]
pub fn hiter_r<T: ferrograd::Real>(a: &[T], idx: &[usize], n: usize) -> T {
    let mut s = T::zero();
    for (k, &v) in a.iter().enumerate() {
        if k >= n {
            break;
        }
        s += v * a[idx[k]];
    }
    s.tanh()
}

pub fn helper_g<T: Num>(a: T, b: T) -> T {
    (a * b).sin() + a / (T::c(1.0) + b * b)
}

pub fn hsum_g<T: Num>(a: &[T], b: &[T], x: T) -> T {
    let mut s = x;
    for (&u, &v) in a.iter().zip(b) {
        s = T::c(0.5) * s + (u * v).tanh();
    }
    s
}

pub fn hout_g<T: Num>(a: &[T], x: T, out: &mut [T]) {
    for (o, &u) in out.iter_mut().zip(a) {
        *o = (u * x).sin() + T::c(0.5) * u;
    }
}

pub fn hacc_g<T: Num>(a: &[T], x: T, out: &mut [T]) {
    for (o, &u) in out.iter_mut().zip(a) {
        *o = T::c(0.5) * *o + (u * x).tanh();
    }
}

pub fn hiter_g<T: Num>(a: &[T], idx: &[usize], n: usize) -> T {
    let mut s = T::c(0.0);
    for (k, &v) in a.iter().enumerate().take(n) {
        s += v * a[idx[k]];
    }
    s.tanh()
}

/// A kernel with a stash ([`ferrograd::ArgMode::Stash`]) and a hand-written pullback and
/// pushforward: `pre[i] = a[i]·(x + 0.5)` (the stash), `out[i] = tanh(pre[i])`. The pullback
/// reads only the stash (`tanh` recomputed from `pre`, `out` unread), so a caller that lets the
/// stash change between the call and its pullback gets a wrong gradient, which the oracle
/// sees. `a` is at least as long as `out`, `pre` exactly as long.
macro_rules! stash_kernel {
    ($F:ident, $k:ident, $pb:ident, $pf:ident, $modes:ident) => {
        pub fn $k(a: &[$F], x: $F, out: &mut [$F], pre: &mut [$F]) {
            for i in 0..out.len() {
                pre[i] = a[i] * (x + 0.5);
                out[i] = pre[i].tanh();
            }
        }

        /// Kernel contract: adjoints added, the outputs' adjoints zeroed; an empty adjoint is
        /// not wanted. A seed on `pre` is honoured if one is given (method programs, whose
        /// stashes keep ordinary adjoints, hand one over).
        #[allow(clippy::too_many_arguments)]
        pub fn $pb(
            a: &[$F],
            x: $F,
            _out: &mut [$F],
            pre: &mut [$F],
            d_a: &mut [$F],
            d_x: &mut $F,
            d_out: &mut [$F],
            d_pre: &mut [$F],
        ) {
            for i in 0..pre.len() {
                let t = pre[i].tanh();
                let mut g = if d_out.is_empty() {
                    0.0
                } else {
                    d_out[i] * (1.0 - t * t)
                };
                if !d_pre.is_empty() {
                    g += d_pre[i];
                }
                if !d_a.is_empty() {
                    d_a[i] += g * (x + 0.5);
                }
                *d_x += g * a[i];
            }
            d_out.fill(0.0);
            d_pre.fill(0.0);
        }

        #[allow(clippy::too_many_arguments)]
        pub fn $pf(
            a: &[$F],
            x: $F,
            out: &mut [$F],
            pre: &mut [$F],
            t_a: &[$F],
            t_x: $F,
            t_out: &mut [$F],
            t_pre: &mut [$F],
        ) {
            $k(a, x, out, pre);
            for i in 0..out.len() {
                let tp = t_a[i] * (x + 0.5) + a[i] * t_x;
                t_pre[i] = tp;
                t_out[i] = tp * (1.0 - out[i] * out[i]);
            }
        }

        #[allow(non_upper_case_globals)]
        pub const $modes: &[ferrograd::ArgMode] = &[
            ferrograd::ArgMode::In,
            ferrograd::ArgMode::In,
            ferrograd::ArgMode::Out,
            ferrograd::ArgMode::Stash,
        ];
    };
}

stash_kernel!(
    f64,
    hstash,
    hstash_pullback,
    hstash_pushforward,
    hstash_ARG_MODES
);
stash_kernel!(
    f32,
    hstash_f32,
    hstash_f32_pullback,
    hstash_f32_pushforward,
    hstash_f32_ARG_MODES
);

/// [`hstash`] generic over `ferrograd::Real`.
pub fn hstash_r<T: ferrograd::Real>(a: &[T], x: T, out: &mut [T], pre: &mut [T]) {
    for i in 0..out.len() {
        pre[i] = a[i] * (x + T::from_f64(0.5));
        out[i] = pre[i].tanh();
    }
}

#[allow(clippy::too_many_arguments)]
pub fn hstash_r_pullback<T: ferrograd::Real>(
    a: &[T],
    x: T,
    _out: &mut [T],
    pre: &mut [T],
    d_a: &mut [T],
    d_x: &mut T,
    d_out: &mut [T],
    d_pre: &mut [T],
) {
    for i in 0..pre.len() {
        let t = pre[i].tanh();
        let mut g = if d_out.is_empty() {
            T::zero()
        } else {
            d_out[i] * (T::one() - t * t)
        };
        if !d_pre.is_empty() {
            g += d_pre[i];
        }
        if !d_a.is_empty() {
            d_a[i] += g * (x + T::from_f64(0.5));
        }
        *d_x += g * a[i];
    }
    d_out.fill(T::zero());
    d_pre.fill(T::zero());
}

#[allow(clippy::too_many_arguments)]
pub fn hstash_r_pushforward<T: ferrograd::Real>(
    a: &[T],
    x: T,
    out: &mut [T],
    pre: &mut [T],
    t_a: &[T],
    t_x: T,
    t_out: &mut [T],
    t_pre: &mut [T],
) {
    hstash_r(a, x, out, pre);
    for i in 0..out.len() {
        let tp = t_a[i] * (x + T::from_f64(0.5)) + a[i] * t_x;
        t_pre[i] = tp;
        t_out[i] = tp * (T::one() - out[i] * out[i]);
    }
}

#[allow(non_upper_case_globals)]
pub const hstash_r_ARG_MODES: &[ferrograd::ArgMode] = hstash_ARG_MODES;

/// Two stash calls on one buffer, in generated code: the second overwrites the stash the first
/// call's pullback reads (the caller must restore it), and `pre`, written only by stashes, is
/// published as a stash of `hstash2` (its callers hand its pullback an empty adjoint too).
macro_rules! stash_twice {
    ($F:ident, $name:ident, $k:ident, $hsum:ident) => {
        #[ferrograd::differentiable]
        pub fn $name(a: &[$F], x: $F, out: &mut [$F], pre: &mut [$F]) {
            $k(a, x, out, pre);
            let s = $hsum(out, out, x);
            $k(a, 0.5 * s, out, pre);
        }
    };
}

stash_twice!(f64, hstash2, hstash, hsum);
stash_twice!(f32, hstash2_f32, hstash_f32, hsum_f32);

#[ferrograd::differentiable]
pub fn hstash2_r<T: ferrograd::Real>(a: &[T], x: T, out: &mut [T], pre: &mut [T]) {
    hstash_r(a, x, out, pre);
    let s = hsum_r(out, out, x);
    hstash_r(a, T::from_f64(0.5) * s, out, pre);
}

pub fn hstash_g<T: Num>(a: &[T], x: T, out: &mut [T], pre: &mut [T]) {
    for i in 0..out.len() {
        pre[i] = a[i] * (x + T::c(0.5));
        out[i] = pre[i].tanh();
    }
}

pub fn hstash2_g<T: Num>(a: &[T], x: T, out: &mut [T], pre: &mut [T]) {
    hstash_g(a, x, out, pre);
    let s = hsum_g(out, out, x);
    hstash_g(a, T::c(0.5) * s, out, pre);
}
