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
