//! W2: the gravitational-wave 1D-CNN (see [`crate::ModelSpec::GwCnn`]) with softmax
//! cross-entropy.

// Kernels are found with their `_pullback`s by name.
use ferrograd::kernels::*;

use crate::model::CnnDims;

/// Mean cross-entropy of W2 on a batch. `x: [batch, 1, len]`; parameters in PyTorch layout
/// (`cw*: [c_out, c_in, k]`, `fw1: [64, flat]`, `fw2: [classes, 64]`); activations
/// `c* / r*` (conv / ReLU outputs `[batch, c_out, len_c]`), `p*` (pool outputs), `f1, a1:
/// [batch, 64]`, `logits, probs: [batch, classes]`; `am*` the pools' argmax. The last pool's
/// output `[batch, 64, len3]` is read directly as the flattened `[batch, flat]` (row-major, no
/// copy).
#[ferrograd::differentiable(wrt(cw1, cb1, cw2, cb2, cw3, cb3, fw1, fb1, fw2, fb2), reverse_only)]
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
