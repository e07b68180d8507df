//! Finite-difference oracles shared by the tests (on `ferrograd-testkit`'s).
#![allow(dead_code)]

pub use ferrograd_testkit::assert_close;

/// Central difference of `f` with respect to every entry of `x` (h = 1e-6).
pub fn fd_grad(x: &[f64], f: impl Fn(&[f64]) -> f64) -> Vec<f64> {
    ferrograd_testkit::fd::central_grad(x, 1e-6, f)
}

/// Checks `grad` (value and gradient against central differences) and `pushforward` (one call
/// per direction, against the gradient to `fwd_tol`) of a function of a flat input vector;
/// returns the gradient.
#[track_caller]
pub fn check_modes(
    name: &str,
    x: &[f64],
    f: impl Fn(&[f64]) -> f64,
    grad: impl Fn(&[f64], &mut [f64]) -> f64,
    jvp: impl Fn(&[f64], &[f64]) -> (f64, f64),
    fwd_tol: f64,
) -> Vec<f64> {
    let mut g = vec![0.0; x.len()];
    let v = grad(x, &mut g);
    assert!(
        (v - f(x)).abs() <= 1e-12 * f(x).abs().max(1.0),
        "{name}: grad value {v} vs {}",
        f(x)
    );
    let fd = fd_grad(x, &f);
    assert_close(&format!("{name} reverse vs fd"), &g, &fd, 1e-6);
    let fwd: Vec<f64> = (0..x.len())
        .map(|i| {
            let mut t = vec![0.0; x.len()];
            t[i] = 1.0;
            let (val, d) = jvp(x, &t);
            assert!((val - f(x)).abs() <= 1e-12 * f(x).abs().max(1.0));
            d
        })
        .collect();
    assert_close(&format!("{name} forward vs reverse"), &fwd, &g, fwd_tol);
    g
}

/// `Σ_i (i + 1)·x[i]`: a loss over a buffer, with its pullback (for the tests' hand-written
/// kernels).
pub fn weighted_sum(x: &[f64]) -> f64 {
    x.iter()
        .enumerate()
        .map(|(i, v)| (i as f64 + 1.0) * v)
        .sum()
}

pub fn weighted_sum_pullback(_x: &[f64], d_ret: f64, d_x: &mut [f64]) {
    for (i, g) in d_x.iter_mut().enumerate() {
        *g += (i as f64 + 1.0) * d_ret;
    }
}
