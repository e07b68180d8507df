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
