//! Event-weighted softmax cross-entropy: the loss of a batch whose examples carry weights
//! (Monte Carlo event weights in physics), as a kernel with its pullback in the
//! `#[differentiable]` calling convention (output first, `<kernel>_ARG_MODES`).

use ferrograd::kernels::KernelError;
use ferrograd::ArgMode;

const K: &str = "weighted_softmax_cross_entropy";
const KP: &str = "weighted_softmax_cross_entropy_pullback";

fn len_err(kernel: &'static str, arg: &'static str, actual: usize, expected: usize) -> KernelError {
    KernelError::Length {
        kernel,
        arg,
        expected,
        actual,
        shape: if arg == "labels" || arg == "weights" || arg == "d_weights" {
            "[batch]"
        } else {
            "[batch, classes]"
        },
    }
}

fn check(
    kernel: &'static str,
    probs: usize,
    logits: usize,
    labels: &[usize],
    weights: usize,
    batch: usize,
    classes: usize,
) -> Result<(), KernelError> {
    for (arg, v) in [("batch", batch), ("classes", classes)] {
        if v == 0 {
            return Err(KernelError::Dim {
                kernel,
                arg,
                value: v,
                requirement: "at least 1",
            });
        }
    }
    let n = batch.checked_mul(classes).ok_or(KernelError::Overflow {
        kernel,
        dims: [batch, classes, 0, 0],
    })?;
    for (arg, actual, expected) in [
        ("probs", probs, n),
        ("logits", logits, n),
        ("labels", labels.len(), batch),
        ("weights", weights, batch),
    ] {
        if actual != expected {
            return Err(len_err(kernel, arg, actual, expected));
        }
    }
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

/// `logsumexp(x) − x[label]`, the cross-entropy of one row, computed without `log 0`.
fn row_ce(x: &[f32], label: usize) -> f64 {
    let max = x.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let sum: f64 = x.iter().map(|&v| f64::from(v - max).exp()).sum();
    sum.ln() - f64::from(x[label] - max)
}

/// Weighted softmax cross-entropy, mean over the batch:
/// `probs = softmax(logits)` row-wise and returns `(1/batch) Σ_r w_r·(−log probs[r, labels[r]])`.
/// `probs, logits: [batch, classes]`, `labels, weights: [batch]`. With every weight 1 this is
/// `softmax_cross_entropy`. Weights are used as given (normalise them, e.g. to mean 1 over
/// the training set, so that the learning rate keeps its meaning).
pub fn weighted_softmax_cross_entropy(
    probs: &mut [f32],
    logits: &[f32],
    labels: &[usize],
    weights: &[f32],
    batch: usize,
    classes: usize,
) -> Result<f32, KernelError> {
    check(
        K,
        probs.len(),
        logits.len(),
        labels,
        weights.len(),
        batch,
        classes,
    )?;
    let mut total = 0.0f64;
    for (((p, x), &label), &w) in probs
        .chunks_exact_mut(classes)
        .zip(logits.chunks_exact(classes))
        .zip(labels)
        .zip(weights)
    {
        let max = x.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let mut sum = 0.0f32;
        for (o, &v) in p.iter_mut().zip(x) {
            *o = (v - max).exp();
            sum += *o;
        }
        let inv = 1.0 / sum;
        for o in p.iter_mut() {
            *o *= inv;
        }
        total += f64::from(w) * row_ce(x, label);
    }
    Ok((total / batch as f64) as f32)
}

/// Pullback of [`weighted_softmax_cross_entropy`]:
/// `d_logits[r] += d_ret·w_r/batch·(probs[r] − onehot(labels[r]))`,
/// `d_weights[r] += d_ret/batch·(−log probs[r, labels[r]])`, plus the softmax pullback of
/// `d_probs` (`d_x += p ⊙ (d_p − ⟨d_p, p⟩)`, non-zero only when the caller also used
/// `probs`); zeroes `d_probs`. An empty adjoint is not computed (an empty `d_probs` is a zero
/// seed).
#[expect(
    clippy::too_many_arguments,
    reason = "the kernel-level AD calling convention"
)]
pub fn weighted_softmax_cross_entropy_pullback(
    probs: &mut [f32],
    logits: &[f32],
    labels: &[usize],
    weights: &[f32],
    batch: usize,
    classes: usize,
    d_ret: f32,
    d_probs: &mut [f32],
    d_logits: &mut [f32],
    d_weights: &mut [f32],
) -> Result<(), KernelError> {
    check(
        KP,
        probs.len(),
        logits.len(),
        labels,
        weights.len(),
        batch,
        classes,
    )?;
    let n = probs.len();
    for (arg, len, want) in [
        ("d_probs", d_probs.len(), n),
        ("d_logits", d_logits.len(), n),
        ("d_weights", d_weights.len(), batch),
    ] {
        if len != 0 && len != want {
            return Err(len_err(KP, arg, len, want));
        }
    }
    let scale = d_ret / batch as f32;
    if !d_logits.is_empty() {
        for (r, ((p, dx), (&label, &w))) in probs
            .chunks_exact(classes)
            .zip(d_logits.chunks_exact_mut(classes))
            .zip(labels.iter().zip(weights))
            .enumerate()
        {
            if !d_probs.is_empty() {
                let dp = &d_probs[r * classes..(r + 1) * classes];
                let dot: f32 = dp.iter().zip(p).map(|(a, b)| a * b).sum();
                for ((g, &pv), &dpv) in dx.iter_mut().zip(p).zip(dp) {
                    *g += pv * (dpv - dot);
                }
            }
            let s = scale * w;
            for (g, &pv) in dx.iter_mut().zip(p) {
                *g += s * pv;
            }
            dx[label] -= s;
        }
    }
    if !d_weights.is_empty() {
        for ((dw, x), &label) in d_weights
            .iter_mut()
            .zip(logits.chunks_exact(classes))
            .zip(labels)
        {
            *dw += scale * row_ce(x, label) as f32;
        }
    }
    d_probs.fill(0.0);
    Ok(())
}

/// Parameter modes of [`weighted_softmax_cross_entropy`] for `#[differentiable]`: output
/// first (`probs`), the rest inputs.
#[expect(
    non_upper_case_globals,
    reason = "named after the kernel, by the macro's convention"
)]
pub const weighted_softmax_cross_entropy_ARG_MODES: &[ArgMode] = &ArgMode::output_first::<6>();
