//! W2: the gravitational-wave 1D-CNN (see [`crate::ModelSpec::GwCnn`]) with softmax
//! cross-entropy.

use ferrograd::kernels::{
    conv1d, conv1d_pullback, linear, linear_pullback, max_pool1d, max_pool1d_pullback, relu,
    relu_pullback, softmax_cross_entropy, softmax_cross_entropy_pullback, KernelError,
};

use crate::model::CnnDims;

/// Mean cross-entropy of W2 on a batch. `x: [batch, 1, len]`; parameters in PyTorch layout
/// (`cw*: [c_out, c_in, k]`, `fw1: [64, flat]`, `fw2: [classes, 64]`); activations
/// `c* / r*` (conv / ReLU outputs `[batch, c_out, len_c]`), `p*` (pool outputs), `f1, a1:
/// [batch, 64]`, `logits, probs: [batch, classes]`; `am*` the pools' argmax. The last pool's
/// output `[batch, 64, len3]` is read directly as the flattened `[batch, flat]` (row-major, no
/// copy).
#[expect(
    clippy::too_many_arguments,
    reason = "the kernel-level AD calling convention"
)]
pub fn gw_cnn_loss(
    x: &[f32],
    labels: &[usize],
    cw1: &[f32],
    cb1: &[f32],
    cw2: &[f32],
    cb2: &[f32],
    cw3: &[f32],
    cb3: &[f32],
    fw1: &[f32],
    fb1: &[f32],
    fw2: &[f32],
    fb2: &[f32],
    c1: &mut [f32],
    r1: &mut [f32],
    p1: &mut [f32],
    c2: &mut [f32],
    r2: &mut [f32],
    p2: &mut [f32],
    c3: &mut [f32],
    r3: &mut [f32],
    p3: &mut [f32],
    f1: &mut [f32],
    a1: &mut [f32],
    logits: &mut [f32],
    probs: &mut [f32],
    am1: &mut [usize],
    am2: &mut [usize],
    am3: &mut [usize],
    d: &CnnDims,
) -> Result<f32, KernelError> {
    conv1d(c1, x, cw1, cb1, d.conv[0])?;
    relu(r1, c1)?;
    max_pool1d(p1, r1, am1, d.pool[0])?;
    conv1d(c2, p1, cw2, cb2, d.conv[1])?;
    relu(r2, c2)?;
    max_pool1d(p2, r2, am2, d.pool[1])?;
    conv1d(c3, p2, cw3, cb3, d.conv[2])?;
    relu(r3, c3)?;
    max_pool1d(p3, r3, am3, d.pool[2])?;
    linear(f1, p3, fw1, fb1, d.batch, d.flat, d.hidden)?;
    relu(a1, f1)?;
    linear(logits, a1, fw2, fb2, d.batch, d.hidden, d.classes)?;
    let loss = softmax_cross_entropy(probs, logits, labels, d.batch, d.classes)?;
    Ok(loss)
}

/// Gradient of [`gw_cnn_loss`] with respect to the ten parameters (the body the macro
/// generates, see the module docs of [`crate::models`]): adds into `d_cw1 … d_fb2`, uses the
/// activation adjoints (zero on entry and exit), returns the loss.
#[expect(
    clippy::too_many_arguments,
    reason = "the kernel-level AD calling convention"
)]
pub fn gw_cnn_loss_grad(
    x: &[f32],
    labels: &[usize],
    cw1: &[f32],
    cb1: &[f32],
    cw2: &[f32],
    cb2: &[f32],
    cw3: &[f32],
    cb3: &[f32],
    fw1: &[f32],
    fb1: &[f32],
    fw2: &[f32],
    fb2: &[f32],
    c1: &mut [f32],
    r1: &mut [f32],
    p1: &mut [f32],
    c2: &mut [f32],
    r2: &mut [f32],
    p2: &mut [f32],
    c3: &mut [f32],
    r3: &mut [f32],
    p3: &mut [f32],
    f1: &mut [f32],
    a1: &mut [f32],
    logits: &mut [f32],
    probs: &mut [f32],
    am1: &mut [usize],
    am2: &mut [usize],
    am3: &mut [usize],
    d: &CnnDims,
    d_cw1: &mut [f32],
    d_cb1: &mut [f32],
    d_cw2: &mut [f32],
    d_cb2: &mut [f32],
    d_cw3: &mut [f32],
    d_cb3: &mut [f32],
    d_fw1: &mut [f32],
    d_fb1: &mut [f32],
    d_fw2: &mut [f32],
    d_fb2: &mut [f32],
    d_c1: &mut [f32],
    d_r1: &mut [f32],
    d_p1: &mut [f32],
    d_c2: &mut [f32],
    d_r2: &mut [f32],
    d_p2: &mut [f32],
    d_c3: &mut [f32],
    d_r3: &mut [f32],
    d_p3: &mut [f32],
    d_f1: &mut [f32],
    d_a1: &mut [f32],
    d_logits: &mut [f32],
    d_probs: &mut [f32],
) -> Result<f32, KernelError> {
    let _ = d_probs; // `probs` is not read after the loss: its adjoint stays zero
    let loss = gw_cnn_loss(
        x, labels, cw1, cb1, cw2, cb2, cw3, cb3, fw1, fb1, fw2, fb2, c1, r1, p1, c2, r2, p2, c3,
        r3, p3, f1, a1, logits, probs, am1, am2, am3, d,
    )?;
    let (b, h, k) = (d.batch, d.hidden, d.classes);
    softmax_cross_entropy_pullback(probs, logits, labels, b, k, 1.0, &mut [], d_logits)?;
    linear_pullback(logits, a1, fw2, fb2, b, h, k, d_logits, d_a1, d_fw2, d_fb2)?;
    relu_pullback(a1, f1, d_a1, d_f1)?;
    linear_pullback(f1, p3, fw1, fb1, b, d.flat, h, d_f1, d_p3, d_fw1, d_fb1)?;
    max_pool1d_pullback(p3, r3, am3, d.pool[2], d_p3, d_r3)?;
    relu_pullback(r3, c3, d_r3, d_c3)?;
    conv1d_pullback(c3, p2, cw3, cb3, d.conv[2], d_c3, d_p2, d_cw3, d_cb3)?;
    max_pool1d_pullback(p2, r2, am2, d.pool[1], d_p2, d_r2)?;
    relu_pullback(r2, c2, d_r2, d_c2)?;
    conv1d_pullback(c2, p1, cw2, cb2, d.conv[1], d_c2, d_p1, d_cw2, d_cb2)?;
    max_pool1d_pullback(p1, r1, am1, d.pool[0], d_p1, d_r1)?;
    relu_pullback(r1, c1, d_r1, d_c1)?;
    conv1d_pullback(c1, x, cw1, cb1, d.conv[0], d_c1, &mut [], d_cw1, d_cb1)?;
    Ok(loss)
}
