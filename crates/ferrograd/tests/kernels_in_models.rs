//! `#[differentiable]` functions that call kernels (statements writing `&mut [f32]` outputs,
//! and a loss returning a value), checked against central finite differences.

use ferrograd::differentiable;
// Kernels are found with their `_pullback`s by name: import both (a glob does).
use ferrograd::kernels::*;
use ferrograd_testkit::fd::central_diff;

#[differentiable(wrt(w, b), reverse_only)]
#[expect(
    clippy::too_many_arguments,
    reason = "a model's buffers are its arguments"
)]
fn model_loss(
    x: &[f32],
    labels: &[usize],
    w: &[f32],
    b: &[f32],
    h: &mut [f32],
    a: &mut [f32],
    probs: &mut [f32],
    batch: usize,
) -> Result<f32, KernelError> {
    linear(h, x, w, b, batch, 3, 4)?;
    relu(a, h)?;
    let loss = softmax_cross_entropy(probs, a, labels, batch, 4)?;
    Ok(loss * 2.0)
}

fn loss_at(x: &[f32], labels: &[usize], w: &[f32], b: &[f32]) -> f64 {
    let (mut h, mut a, mut p) = ([0.0f32; 8], [0.0f32; 8], [0.0f32; 8]);
    f64::from(model_loss(x, labels, w, b, &mut h, &mut a, &mut p, 2).unwrap())
}

#[test]
fn kernel_calls_are_differentiated() {
    let x = [0.3f32, -0.8, 1.2, 0.5, 0.9, -0.4];
    let labels = [2usize, 0];
    let w: Vec<f32> = (0..12)
        .map(|i| ((i * 7 % 11) as f32 - 5.0) * 0.15)
        .collect();
    let b = [0.1f32, -0.2, 0.3, 0.05];
    let (mut h, mut a, mut p) = ([0.0f32; 8], [0.0f32; 8], [0.0f32; 8]);
    let (mut dh, mut da, mut dp) = ([0.0f32; 8], [0.0f32; 8], [0.0f32; 8]);
    let (mut dw, mut db) = (vec![0.0f32; 12], [0.0f32; 4]);
    let v = model_loss_grad(
        &x, &labels, &w, &b, &mut h, &mut a, &mut p, 2, &mut dw, &mut db, &mut dh, &mut da, &mut dp,
    )
    .unwrap();
    assert!((f64::from(v) - loss_at(&x, &labels, &w, &b)).abs() < 1e-6);
    // The input `x` is not in `wrt`: the generated code passes an empty adjoint slice.
    assert!(model_loss_GRAD_SOURCE.contains("&mut []"));
    // Central differences in f32 parameters (step 1e-2, exact in both types).
    let eps = f64::from(1e-2f32);
    let mut max = 0.0f64;
    for k in 0..12 {
        let fd = central_diff(eps, |s| {
            let mut wq = w.clone();
            wq[k] += s as f32;
            loss_at(&x, &labels, &wq, &b)
        });
        max = max.max((fd - f64::from(dw[k])).abs());
    }
    for k in 0..4 {
        let fd = central_diff(eps, |s| {
            let mut bq = b;
            bq[k] += s as f32;
            loss_at(&x, &labels, &w, &bq)
        });
        max = max.max((fd - f64::from(db[k])).abs());
    }
    println!("kernel model: max |reverse - fd| = {max:.2e}");
    assert!(max < 2e-3, "max diff {max}");
    assert!(dw.iter().any(|g| *g != 0.0));
    // Wrong buffer sizes are errors from the kernels, not panics.
    let mut small = [0.0f32; 3];
    assert!(model_loss(&x, &labels, &w, &b, &mut small, &mut a, &mut p, 2).is_err());
}
