//! Row-wise softmax, the fused softmax + cross-entropy loss, and the mean squared error.

use crate::error::{check_adj, check_len, check_positive, size, KernelError};

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

/// Numerically stable softmax of one row into `out`.
fn softmax_row(out: &mut [f32], x: &[f32]) {
    let max = x.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let mut sum = 0.0f32;
    for (o, &v) in out.iter_mut().zip(x) {
        let e = (v - max).exp();
        *o = e;
        sum += e;
    }
    let inv = 1.0 / sum;
    for o in out.iter_mut() {
        *o *= inv;
    }
}

/// `d_x += y ⊙ (d_y − ⟨d_y, y⟩)` for one row.
fn softmax_row_pullback(y: &[f32], d_y: &[f32], d_x: &mut [f32]) {
    let dot: f32 = y.iter().zip(d_y).map(|(a, b)| a * b).sum();
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
    let mut total = 0.0f64;
    for ((p, x), &label) in probs
        .chunks_exact_mut(classes)
        .zip(logits.chunks_exact(classes))
        .zip(labels)
    {
        let max = x.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let mut sum = 0.0f32;
        for (o, &v) in p.iter_mut().zip(x) {
            let e = (v - max).exp();
            *o = e;
            sum += e;
        }
        let inv = 1.0 / sum;
        for o in p.iter_mut() {
            *o *= inv;
        }
        total += f64::from(sum.ln() - (x[label] - max));
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
