//! `#[differentiable(hessian, wrt(..))]`: the Hessian over the named parameters only (a
//! likelihood's parameters, not its events).

#![expect(
    clippy::needless_range_loop,
    reason = "the likelihood is written the way users write it"
)]

use ferrograd::differentiable;

#[differentiable(hessian, wrt(p, scale))]
fn nll(p: &[f64], scale: f64, x: &[f64]) -> f64 {
    let mut s = 0.0;
    for i in 0..x.len() {
        let r = (x[i] - p[0]) / p[1];
        s += 0.5 * r * r * scale + p[1].ln();
    }
    s
}

#[test]
fn hessian_over_the_wrt_parameters_only() {
    let x = [0.3, -1.2, 2.5, 0.9, 1.4];
    let p = [0.6, 1.3];
    let scale = 0.8;
    let mut h = [0.0; 9];
    let v = nll_hessian(&p, scale, &x, &mut h).expect("3 × 3");
    assert_eq!(v, nll(&p, scale, &x));
    // Exact second derivatives, (mu, sigma, scale):
    let (mu, sg) = (p[0], p[1]);
    let n = x.len() as f64;
    let s1: f64 = x.iter().map(|xi| xi - mu).sum();
    let s2: f64 = x.iter().map(|xi| (xi - mu) * (xi - mu)).sum();
    let want = [
        scale * n / (sg * sg),
        2.0 * scale * s1 / sg.powi(3),
        -s1 / (sg * sg),
        2.0 * scale * s1 / sg.powi(3),
        3.0 * scale * s2 / sg.powi(4) - n / (sg * sg),
        -s2 / sg.powi(3),
        -s1 / (sg * sg),
        -s2 / sg.powi(3),
        0.0,
    ];
    for (k, (g, w)) in h.iter().zip(&want).enumerate() {
        assert!(
            (g - w).abs() <= 1e-12 * w.abs().max(1.0),
            "h[{k}] = {g}, want {w}"
        );
    }
    // A Hessian buffer sized for every input (events included) is refused.
    let mut wrong = [0.0; 64];
    assert!(nll_hessian(&p, scale, &x, &mut wrong).is_err());
}
