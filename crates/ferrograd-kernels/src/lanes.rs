//! Row reductions (sum, max, dot products) in 16 independent lanes.
//!
//! A plain `iter().sum()` or `fold(f32::max)` is one serial chain of dependent operations
//! (~4 cycles each) that LLVM may not reorder, and it keeps everything else in the loop
//! scalar too: inside softmax rows it left the exponentials unvectorised. Sixteen partial
//! results per vector register let the loop run at full width. The lane order is fixed, so a
//! result depends only on the row, never on the thread count. `#[inline(always)]`, so that
//! they vectorise inside the caller's AVX-512 / AVX2 clone.

pub(crate) const LANES: usize = 16;

/// `Σ x`.
#[inline(always)]
pub(crate) fn sum(x: &[f32]) -> f32 {
    let (chunks, rest) = x.as_chunks::<LANES>();
    let mut acc = [0.0f32; LANES];
    for c in chunks {
        for (a, &v) in acc.iter_mut().zip(c) {
            *a += v;
        }
    }
    acc.iter().sum::<f32>() + rest.iter().sum::<f32>()
}

/// `max x` as `x.iter().fold(−∞, f32::max)` computes it: NaNs are ignored (`−∞` for an
/// empty or all-NaN row).
#[inline(always)]
pub(crate) fn max(x: &[f32]) -> f32 {
    let (chunks, rest) = x.as_chunks::<LANES>();
    let mut acc = [f32::NEG_INFINITY; LANES];
    for c in chunks {
        for (a, &v) in acc.iter_mut().zip(c) {
            *a = a.max(v);
        }
    }
    let m = acc.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    rest.iter().copied().fold(m, f32::max)
}

/// `Σ a ⊙ b` over the shorter of the two.
#[inline(always)]
pub(crate) fn dot(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let (ac, ar) = a[..n].as_chunks::<LANES>();
    let (bc, br) = b[..n].as_chunks::<LANES>();
    let mut acc = [0.0f32; LANES];
    for (p, q) in ac.iter().zip(bc) {
        for ((s, &u), &v) in acc.iter_mut().zip(p).zip(q) {
            *s += u * v;
        }
    }
    acc.iter().sum::<f32>() + ar.iter().zip(br).map(|(u, v)| u * v).sum::<f32>()
}

/// `Σ a ⊙ b ⊙ (x − shift)` over the shortest of the three (layer norm's pullback: the
/// centred form, which does not cancel when `shift` is large against the row's spread).
#[inline(always)]
pub(crate) fn dot_centered(a: &[f32], b: &[f32], x: &[f32], shift: f32) -> f32 {
    let n = a.len().min(b.len()).min(x.len());
    let (ac, ar) = a[..n].as_chunks::<LANES>();
    let (bc, br) = b[..n].as_chunks::<LANES>();
    let (xc, xr) = x[..n].as_chunks::<LANES>();
    let mut acc = [0.0f32; LANES];
    for ((p, q), r) in ac.iter().zip(bc).zip(xc) {
        for (((s, &u), &v), &w) in acc.iter_mut().zip(p).zip(q).zip(r) {
            *s += u * v * (w - shift);
        }
    }
    let tail = ar.iter().zip(br).zip(xr);
    acc.iter().sum::<f32>() + tail.map(|((&u, &v), &w)| u * v * (w - shift)).sum::<f32>()
}

#[cfg(test)]
mod tests {
    /// Lengths around the lane count, against f64 references.
    #[test]
    fn reductions_match_references() {
        for n in [0usize, 1, 7, 15, 16, 17, 33, 64, 65, 100] {
            let x: Vec<f32> = (0..n).map(|i| ((i * 37) % 11) as f32 - 4.5).collect();
            let y: Vec<f32> = (0..n).map(|i| ((i * 13) % 7) as f32 * 0.25).collect();
            let s: f64 = x.iter().map(|&v| f64::from(v)).sum();
            let d: f64 = x.iter().zip(&y).map(|(&a, &b)| f64::from(a * b)).sum();
            let dc: f64 = x
                .iter()
                .zip(&y)
                .map(|(&a, &b)| f64::from(a * b * (a - 0.5)))
                .sum();
            let m = x.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            assert!((f64::from(super::sum(&x)) - s).abs() < 1e-4, "sum n={n}");
            assert!(
                (f64::from(super::dot(&x, &y)) - d).abs() < 1e-4,
                "dot n={n}"
            );
            assert_eq!(super::max(&x), m, "max n={n}");
            let got = f64::from(super::dot_centered(&x, &y, &x, 0.5));
            assert!((got - dc).abs() < 1e-3, "dot_centered n={n}");
        }
    }

    #[test]
    fn max_ignores_nan_like_f32_max() {
        let mut x = vec![1.0f32; 40];
        x[3] = f32::NAN;
        x[20] = 5.0;
        x[39] = f32::NAN;
        assert_eq!(super::max(&x), 5.0);
        assert_eq!(super::max(&[f32::NAN; 20]), f32::NEG_INFINITY);
        assert_eq!(super::max(&[]), f32::NEG_INFINITY);
    }
}
