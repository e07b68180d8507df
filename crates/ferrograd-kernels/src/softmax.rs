//! Row-wise softmax, the fused softmax + cross-entropy loss, and the mean squared error.

use crate::error::{check_adj, check_len, check_positive, size, KernelError};
use crate::lanes;

fn check_rows(
    kernel: &'static str,
    arg: &'static str,
    len: usize,
    rows: usize,
    cols: usize,
) -> Result<(), KernelError> {
    check_len(
        kernel,
        arg,
        len,
        size(kernel, &[rows, cols])?,
        "[rows, cols]",
    )
}

/// `e^x` in f32 (within 2 ulp of `f32::exp` for normal results) as plain arithmetic, so that a
/// loop of it vectorises (a call to libm's `expf` does not, and it dominated the loss on MLP
/// shapes). Cephes' method: `e^x = 2ⁿ·e^r` with `n = ⌊x·log₂e⌉`, `r = x − n·ln 2` (two-part
/// constant), and a degree-6 polynomial for `e^r`. Results below `f32::MIN_POSITIVE` flush to
/// 0; NaN stays NaN.
#[inline(always)]
pub(crate) fn exp(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    const MAX: f32 = 88.722_83;
    const MIN: f32 = -87.336_55;
    let xc = x.clamp(MIN, MAX);
    let n = (xc * LOG2E + 0.5).floor();
    let r = xc - n * LN2_HI - n * LN2_LO;
    let r2 = r * r;
    let p = ((((1.987_569_2e-4 * r + 1.398_199_9e-3) * r + 8.333_452e-3) * r + 4.166_579_6e-2) * r
        + 1.666_666_5e-1)
        * r
        + 0.5;
    let er = p * r2 + r + 1.0;
    // 2ⁿ with n in [-126, 128]: build 2^(n/2) twice so that n = 128 does not overflow the
    // exponent field.
    let half = (n * 0.5).floor();
    let y = er * pow2(half) * pow2(n - half);
    if x < MIN {
        0.0
    } else if x > MAX {
        f32::INFINITY
    } else {
        y
    }
}

/// `2^k` for an integer-valued `k` in [-126, 127], read off the bits of `k + 1.5·2²³` (the
/// magic-number trick) rather than through `k as i32`: Rust's saturating float-to-int cast
/// does not vectorise (LLVM emits it lane by lane with NaN checks), and it made every loop
/// calling [`exp`] (GELU, softmax, attention) run partly scalar. A NaN `k` gives some finite
/// power of two; `exp` multiplies it into a NaN, so NaN still propagates.
#[inline(always)]
fn pow2(k: f32) -> f32 {
    const MAGIC: f32 = 12_582_912.0; // 1.5·2²³: k + MAGIC holds k in its low mantissa bits
    let t = (k + MAGIC).to_bits();
    f32::from_bits(
        t.wrapping_sub(MAGIC.to_bits())
            .wrapping_add(127)
            .wrapping_shl(23),
    )
}

/// `out[i] = e^(x[i] − shift)` and returns `Σ out` (summed apart, in lanes: a running sum in
/// the same loop kept the exponentials scalar); cloned for AVX-512 / AVX2.
#[multiversion::multiversion(targets = "simd")]
fn exp_shifted(out: &mut [f32], x: &[f32], shift: f32) -> f32 {
    for (o, &v) in out.iter_mut().zip(x) {
        *o = exp(v - shift);
    }
    lanes::sum(out)
}

/// `x[i] = e^x[i]`; cloned for AVX-512 / AVX2.
#[multiversion::multiversion(targets = "simd")]
fn exp_in_place(x: &mut [f32]) {
    for v in x.iter_mut() {
        *v = exp(*v);
    }
}

/// Numerically stable softmax of one row into `out`; returns the row's max and `Σ e^(x−max)`.
fn softmax_row(out: &mut [f32], x: &[f32]) -> (f32, f32) {
    let max = lanes::max(x);
    let sum = exp_shifted(out, x, max);
    let inv = 1.0 / sum;
    for o in out.iter_mut() {
        *o *= inv;
    }
    (max, sum)
}

/// `d_x += y ⊙ (d_y − ⟨d_y, y⟩)` for one row.
fn softmax_row_pullback(y: &[f32], d_y: &[f32], d_x: &mut [f32]) {
    let dot = lanes::dot(y, d_y);
    for ((g, &p), &dy) in d_x.iter_mut().zip(y).zip(d_y) {
        *g += p * (dy - dot);
    }
}

/// Softmax over each row: `out[r, c] = e^{x[r,c]} / Σ_c' e^{x[r,c']}`; `out, x: [rows, cols]`,
/// `cols >= 1`.
pub fn softmax(out: &mut [f32], x: &[f32], rows: usize, cols: usize) -> Result<(), KernelError> {
    const K: &str = "softmax";
    check_positive(K, "cols", cols)?;
    check_rows(K, "out", out.len(), rows, cols)?;
    check_rows(K, "x", x.len(), rows, cols)?;
    for (o, r) in out.chunks_exact_mut(cols).zip(x.chunks_exact(cols)) {
        softmax_row(o, r);
    }
    Ok(())
}

/// Pullback of [`softmax`]: `d_x[r] += out[r] ⊙ (d_out[r] − ⟨d_out[r], out[r]⟩)`; zeroes `d_out`.
/// An empty `d_x` is not computed; an empty `d_out` means a zero seed.
pub fn softmax_pullback(
    out: &mut [f32],
    x: &[f32],
    rows: usize,
    cols: usize,
    d_out: &mut [f32],
    d_x: &mut [f32],
) -> Result<(), KernelError> {
    const K: &str = "softmax_pullback";
    check_positive(K, "cols", cols)?;
    check_rows(K, "out", out.len(), rows, cols)?;
    check_rows(K, "x", x.len(), rows, cols)?;
    let need_out = check_adj(K, "d_out", d_out.len(), x.len(), "[rows, cols]")?;
    let need_x = check_adj(K, "d_x", d_x.len(), x.len(), "[rows, cols]")?;
    if need_out && need_x {
        for ((y, dy), dx) in out
            .chunks_exact(cols)
            .zip(d_out.chunks_exact(cols))
            .zip(d_x.chunks_exact_mut(cols))
        {
            softmax_row_pullback(y, dy, dx);
        }
    }
    d_out.fill(0.0);
    Ok(())
}

fn check_ce(
    kernel: &'static str,
    probs: usize,
    logits: usize,
    labels: &[usize],
    batch: usize,
    classes: usize,
) -> Result<(), KernelError> {
    check_positive(kernel, "batch", batch)?;
    check_positive(kernel, "classes", classes)?;
    let n = size(kernel, &[batch, classes])?;
    check_len(kernel, "probs", probs, n, "[batch, classes]")?;
    check_len(kernel, "logits", logits, n, "[batch, classes]")?;
    check_len(kernel, "labels", labels.len(), batch, "[batch]")?;
    match labels.iter().position(|&l| l >= classes) {
        Some(position) => Err(KernelError::Index {
            kernel,
            arg: "labels",
            position,
            value: labels[position],
            bound: classes,
        }),
        None => Ok(()),
    }
}

/// Fused softmax + cross-entropy, mean over the batch:
/// `probs = softmax(logits)` row-wise and returns `−(1/batch) Σ_r log probs[r, labels[r]]`.
/// `probs, logits: [batch, classes]`, `labels: [batch]` with values `< classes`.
/// The log-probability is computed as `x − max − log Σ e^{x−max}`, so it never takes `log 0`.
pub fn softmax_cross_entropy(
    probs: &mut [f32],
    logits: &[f32],
    labels: &[usize],
    batch: usize,
    classes: usize,
) -> Result<f32, KernelError> {
    check_ce(
        "softmax_cross_entropy",
        probs.len(),
        logits.len(),
        labels,
        batch,
        classes,
    )?;
    // Three flat passes, so that the exponentials of the whole batch run as one vector loop
    // (rows are often only 10 wide): shift each row by its max and take the label's term,
    // exponentiate everything, then normalise each row and add its log-sum.
    let mut total = 0.0f64;
    for ((p, x), &label) in probs
        .chunks_exact_mut(classes)
        .zip(logits.chunks_exact(classes))
        .zip(labels)
    {
        let max = lanes::max(x);
        for (o, &v) in p.iter_mut().zip(x) {
            *o = v - max;
        }
        total -= f64::from(p[label]);
    }
    exp_in_place(probs);
    for p in probs.chunks_exact_mut(classes) {
        let sum = lanes::sum(p);
        let inv = 1.0 / sum;
        for o in p.iter_mut() {
            *o *= inv;
        }
        total += f64::from(sum.ln());
    }
    Ok((total / batch as f64) as f32)
}

/// Pullback of [`softmax_cross_entropy`]:
/// `d_logits[r] += d_ret/batch·(probs[r] − onehot(labels[r]))`, plus the softmax pullback of
/// `d_probs` (non-zero only when the caller also used `probs`); zeroes `d_probs`. An empty
/// `d_probs` is a zero seed; an empty `d_logits` is not computed.
pub fn softmax_cross_entropy_pullback(
    probs: &mut [f32],
    logits: &[f32],
    labels: &[usize],
    batch: usize,
    classes: usize,
    d_ret: f32,
    d_probs: &mut [f32],
    d_logits: &mut [f32],
) -> Result<(), KernelError> {
    const K: &str = "softmax_cross_entropy_pullback";
    check_ce(K, probs.len(), logits.len(), labels, batch, classes)?;
    let need_probs = check_adj(K, "d_probs", d_probs.len(), probs.len(), "[batch, classes]")?;
    let need_logits = check_adj(
        K,
        "d_logits",
        d_logits.len(),
        logits.len(),
        "[batch, classes]",
    )?;
    if need_logits {
        let scale = d_ret / batch as f32;
        for (r, ((p, dx), &label)) in probs
            .chunks_exact(classes)
            .zip(d_logits.chunks_exact_mut(classes))
            .zip(labels)
            .enumerate()
        {
            if need_probs {
                let dp = &d_probs[r * classes..(r + 1) * classes];
                if dp.iter().any(|&v| v != 0.0) {
                    softmax_row_pullback(p, dp, dx);
                }
            }
            for (g, &pv) in dx.iter_mut().zip(p) {
                *g += scale * pv;
            }
            dx[label] -= scale;
        }
    }
    d_probs.fill(0.0);
    Ok(())
}

/// Mean squared error `(1/n) Σ (pred − target)²` over `pred, target: [n]`, `n >= 1`.
pub fn mse(pred: &[f32], target: &[f32]) -> Result<f32, KernelError> {
    check_positive("mse", "pred.len()", pred.len())?;
    check_len(
        "mse",
        "target",
        target.len(),
        pred.len(),
        "[n] (same as pred)",
    )?;
    let sum: f64 = pred
        .iter()
        .zip(target)
        .map(|(&p, &t)| f64::from(p - t).powi(2))
        .sum();
    Ok((sum / pred.len() as f64) as f32)
}

/// Pullback of [`mse`]: `d_pred += d_ret·2(pred − target)/n`, `d_target −= the same`; an
/// empty `d_pred` or `d_target` is not computed (e.g. fixed targets).
pub fn mse_pullback(
    pred: &[f32],
    target: &[f32],
    d_ret: f32,
    d_pred: &mut [f32],
    d_target: &mut [f32],
) -> Result<(), KernelError> {
    const K: &str = "mse_pullback";
    check_positive(K, "pred.len()", pred.len())?;
    let n = pred.len();
    check_len(K, "target", target.len(), n, "[n] (same as pred)")?;
    let need_pred = check_adj(K, "d_pred", d_pred.len(), n, "[n] (same as pred)")?;
    let need_target = check_adj(K, "d_target", d_target.len(), n, "[n] (same as pred)")?;
    let scale = 2.0 * d_ret / n as f32;
    if need_pred {
        for ((gp, &p), &t) in d_pred.iter_mut().zip(pred).zip(target) {
            *gp += scale * (p - t);
        }
    }
    if need_target {
        for ((gt, &p), &t) in d_target.iter_mut().zip(pred).zip(target) {
            *gt -= scale * (p - t);
        }
    }
    Ok(())
}

#[cfg(test)]
mod exp_tests {
    #[test]
    fn exp_matches_std_within_two_ulp() {
        let mut worst = 0u32;
        let mut x = -87.0f32;
        while x < 88.5 {
            let (a, b) = (super::exp(x), x.exp());
            worst = worst.max(a.to_bits().abs_diff(b.to_bits()));
            x += 0.000_731;
        }
        assert!(worst <= 2, "{worst} ulp");
        assert_eq!(super::exp(0.0), 1.0);
        assert_eq!(super::exp(-100.0), 0.0);
        assert_eq!(super::exp(f32::NEG_INFINITY), 0.0);
        assert_eq!(super::exp(100.0), f32::INFINITY);
        assert!(super::exp(f32::NAN).is_nan());
    }
}

#[cfg(test)]
mod tests {
    use super::{exp, pow2};

    #[test]
    fn pow2_is_exact_over_its_range() {
        for k in -126..=127 {
            assert_eq!(pow2(k as f32), 2f32.powi(k), "2^{k}");
        }
    }

    #[test]
    fn exp_matches_std_and_keeps_special_values() {
        let mut worst = 0u32;
        let mut x = -87.0f32;
        while x < 88.7 {
            let (got, want) = (exp(x), x.exp());
            worst = worst.max(got.to_bits().abs_diff(want.to_bits()));
            x += 1e-3;
        }
        assert!(worst <= 2, "{worst} ulp");
        assert!(exp(f32::NAN).is_nan());
        assert_eq!(exp(f32::INFINITY), f32::INFINITY);
        assert_eq!(exp(f32::NEG_INFINITY), 0.0);
        assert_eq!(exp(-100.0), 0.0);
        assert_eq!(exp(100.0), f32::INFINITY);
        assert_eq!(exp(0.0), 1.0);
    }
}
