//! W1: the MNIST MLP `Linear(in→hidden) → ReLU → Linear(hidden→classes)` with softmax
//! cross-entropy (mean over the batch).

use ferrograd::kernels::{
    linear, linear_pullback, relu, relu_pullback, softmax_cross_entropy,
    softmax_cross_entropy_pullback, KernelError,
};

/// Mean cross-entropy of the MLP on a batch. Shapes: `x: [batch, in_f]`, `labels: [batch]`,
/// `w1: [hidden, in_f]`, `b1: [hidden]`, `w2: [classes, hidden]`, `b2: [classes]`;
/// activations `h, a: [batch, hidden]` (pre/post ReLU), `logits, probs: [batch, classes]`.
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

/// Gradient of [`mlp_loss`] with respect to `w1, b1, w2, b2` — the body
/// `#[differentiable(wrt(w1, b1, w2, b2))]` generates: adds `∂loss/∂p` into `d_w1 … d_b2`,
/// uses `d_h … d_probs` (zero on entry, zero on exit) for the activations' adjoints, and
/// returns the loss.
#[expect(
    clippy::too_many_arguments,
    reason = "the kernel-level AD calling convention"
)]
pub fn mlp_loss_grad(
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
    d_w1: &mut [f32],
    d_b1: &mut [f32],
    d_w2: &mut [f32],
    d_b2: &mut [f32],
    d_h: &mut [f32],
    d_a: &mut [f32],
    d_logits: &mut [f32],
    d_probs: &mut [f32],
) -> Result<f32, KernelError> {
    let _ = d_probs; // `probs` is not read after the loss: its adjoint stays zero
    linear(h, x, w1, b1, batch, in_f, hidden)?;
    relu(a, h)?;
    linear(logits, a, w2, b2, batch, hidden, classes)?;
    let loss = softmax_cross_entropy(probs, logits, labels, batch, classes)?;
    softmax_cross_entropy_pullback(
        probs,
        logits,
        labels,
        batch,
        classes,
        1.0,
        &mut [],
        d_logits,
    )?;
    linear_pullback(
        logits, a, w2, b2, batch, hidden, classes, d_logits, d_a, d_w2, d_b2,
    )?;
    relu_pullback(a, h, d_a, d_h)?;
    linear_pullback(h, x, w1, b1, batch, in_f, hidden, d_h, &mut [], d_w1, d_b1)?;
    Ok(loss)
}
