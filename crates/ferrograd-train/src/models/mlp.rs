//! W1: the MNIST MLP `Linear(in→hidden) → ReLU → Linear(hidden→classes)` with softmax
//! cross-entropy (mean over the batch).

// Kernels are found with their `_pullback`s by name.
use ferrograd::kernels::*;

use crate::weighted::*;

/// Mean cross-entropy of the MLP on a batch. Shapes: `x: [batch, in_f]`, `labels: [batch]`,
/// `w1: [hidden, in_f]`, `b1: [hidden]`, `w2: [classes, hidden]`, `b2: [classes]`;
/// activations `h, a: [batch, hidden]` (pre/post ReLU), `logits, probs: [batch, classes]`.
#[ferrograd::differentiable(wrt(w1, b1, w2, b2), reverse_only)]
#[expect(
    clippy::too_many_arguments,
    reason = "the kernel-level AD calling convention"
)]
pub fn mlp_loss(
    x: &[f32],
    labels: &[usize],
    w1: &[f32],
    b1: &[f32],
    w2: &[f32],
    b2: &[f32],
    h: &mut [f32],
    a: &mut [f32],
    logits: &mut [f32],
    probs: &mut [f32],
    batch: usize,
    in_f: usize,
    hidden: usize,
    classes: usize,
) -> Result<f32, KernelError> {
    linear(h, x, w1, b1, batch, in_f, hidden)?;
    relu(a, h)?;
    linear(logits, a, w2, b2, batch, hidden, classes)?;
    let loss = softmax_cross_entropy(probs, logits, labels, batch, classes)?;
    Ok(loss)
}

/// [`mlp_loss`] with event weights: `(1/batch) Σ_r w_r·CE_r`, `weights: [batch]`
/// ([`crate::weighted::weighted_softmax_cross_entropy`]).
#[ferrograd::differentiable(wrt(w1, b1, w2, b2), reverse_only)]
#[expect(
    clippy::too_many_arguments,
    reason = "the kernel-level AD calling convention"
)]
pub fn mlp_weighted_loss(
    x: &[f32],
    labels: &[usize],
    weights: &[f32],
    w1: &[f32],
    b1: &[f32],
    w2: &[f32],
    b2: &[f32],
    h: &mut [f32],
    a: &mut [f32],
    logits: &mut [f32],
    probs: &mut [f32],
    batch: usize,
    in_f: usize,
    hidden: usize,
    classes: usize,
) -> Result<f32, KernelError> {
    linear(h, x, w1, b1, batch, in_f, hidden)?;
    relu(a, h)?;
    linear(logits, a, w2, b2, batch, hidden, classes)?;
    let loss = weighted_softmax_cross_entropy(probs, logits, labels, weights, batch, classes)?;
    Ok(loss)
}
