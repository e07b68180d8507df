//! Finite-difference oracles shared by the tests.
#![allow(dead_code)]

/// Central difference of `f` with respect to every entry of `x` (h = 1e-6).
pub fn fd_grad(x: &[f64], f: impl Fn(&[f64]) -> f64) -> Vec<f64> {
    let h = 1e-6;
    (0..x.len())
        .map(|i| {
            let mut xp = x.to_vec();
            let mut xm = x.to_vec();
            xp[i] += h;
            xm[i] -= h;
            (f(&xp) - f(&xm)) / (2.0 * h)
        })
        .collect()
}

/// Asserts `got ≈ want` elementwise (relative tolerance with an absolute floor), printing the
/// max difference.
#[track_caller]
pub fn assert_close(what: &str, got: &[f64], want: &[f64], tol: f64) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    let mut max = 0.0f64;
    for (g, w) in got.iter().zip(want) {
        let d = (g - w).abs() / w.abs().max(1.0);
        max = max.max(d);
    }
    println!("{what}: max rel diff {max:.2e}");
    assert!(
        max <= tol,
        "{what}: got {got:?}, want {want:?} (max rel diff {max:.2e} > {tol:.0e})"
    );
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
