//! Central finite differences and the comparisons gradient tests make with them.
//!
//! Steps are the caller's (each test keeps the step its tolerance was chosen for); every
//! difference is `(f(x + h) − f(x − h)) / (2h)`, evaluated in `f64`.

/// Central difference of a function of one shift: `(f(h) − f(−h)) / (2h)`, e.g. the
/// directional derivative `d/ds f(x + s·d)` at `s = 0`, or one coordinate of a gradient.
pub fn central_diff(h: f64, mut f: impl FnMut(f64) -> f64) -> f64 {
    (f(h) - f(-h)) / (2.0 * h)
}

/// The gradient of a scalar function of a slice by central differences with step `h`, one
/// coordinate at a time: `g[i] = (f(x + h·e_i) − f(x − h·e_i)) / (2h)`.
pub fn central_grad(x: &[f64], h: f64, mut f: impl FnMut(&[f64]) -> f64) -> Vec<f64> {
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

/// The Jacobian of a slice-valued function (a gradient, for a Hessian) by central
/// differences with step `h`, **by columns**: `cols[j][i] = (g(x + h·e_j)[i] −
/// g(x − h·e_j)[i]) / (2h)`.
pub fn central_jacobian(x: &[f64], h: f64, mut g: impl FnMut(&[f64]) -> Vec<f64>) -> Vec<Vec<f64>> {
    (0..x.len())
        .map(|j| {
            let mut xp = x.to_vec();
            let mut xm = x.to_vec();
            xp[j] += h;
            xm[j] -= h;
            let (gp, gm) = (g(&xp), g(&xm));
            assert_eq!(
                gp.len(),
                gm.len(),
                "central_jacobian: output length changed"
            );
            gp.iter()
                .zip(&gm)
                .map(|(p, m)| (p - m) / (2.0 * h))
                .collect()
        })
        .collect()
}

/// Asserts `got ≈ want` elementwise: `|got[i] − want[i]| ≤ tol · max(|want[i]|, 1)`
/// (relative, with an absolute floor). Prints the largest such ratio; on failure names the
/// index where it is largest (a NaN fails).
#[track_caller]
pub fn assert_close(what: &str, got: &[f64], want: &[f64], tol: f64) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    let mut worst: Option<(usize, f64)> = None;
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        let d = (g - w).abs() / w.abs().max(1.0);
        if worst.is_none_or(|(_, m)| d.is_nan() || d > m) {
            worst = Some((i, d));
        }
    }
    let Some((i, max)) = worst else {
        println!("{what}: empty");
        return;
    };
    println!("{what}: max rel diff {max:.2e}");
    assert!(
        max <= tol,
        "{what}: index {i}: got {}, want {} (rel diff {max:.2e} > {tol:.0e})",
        got[i],
        want[i]
    );
}

/// Asserts `got ≈ want` elementwise: `|got[i] − want[i]| ≤ tol · (1 + |want[i]|)`, for
/// results (e.g. `f32`) against an `f64` reference; fails at the first index outside (a NaN
/// fails). Prints the largest absolute difference.
#[track_caller]
pub fn assert_close_1p<G: Copy + Into<f64> + std::fmt::Display>(
    what: &str,
    got: &[G],
    want: &[f64],
    tol: f64,
) {
    assert_eq!(got.len(), want.len(), "{what}: lengths");
    let mut max = 0.0f64;
    for (i, (&x, &y)) in got.iter().zip(want).enumerate() {
        let e = (x.into() - y).abs();
        max = max.max(e);
        assert!(
            e <= tol * (1.0 + y.abs()),
            "{what}[{i}]: {x} vs reference {y}"
        );
    }
    println!("{what}: max |result − f64 reference| = {max:.3e}");
}

/// The forward under test of [`check_pullback`]: reads the inputs, writes the outputs,
/// returns the scalar result of a loss (0 for kernels without one).
pub type Fwd<'a> = dyn Fn(&[Vec<f32>], &mut [f32]) -> f32 + 'a;
/// The pullback under test of [`check_pullback`]: `(inputs, outputs, d_ret, d_out,
/// d_inputs)`.
pub type Pb<'a> = dyn Fn(&[Vec<f32>], &mut [f32], f32, &mut [f32], &mut [Vec<f32>]) + 'a;

/// Checks an `f32` slice-level pullback against central finite differences (step `h`) of
/// `L = Σ r·out + c·ret` with respect to every input element (`r` seeded from `n_out`,
/// `c = 0.75`), to `tol·(1 + |analytic|)`, plus ferrograd's adjoint semantics: input
/// adjoints accumulate (a second pullback doubles them) and `d_out` is zeroed. Returns the
/// max abs error.
pub fn check_pullback(
    name: &str,
    inputs: &[Vec<f32>],
    n_out: usize,
    h: f32,
    tol: f32,
    fwd: &Fwd<'_>,
    pb: &Pb<'_>,
) -> f32 {
    let mut rng = crate::SplitMix64::new(0xC0FFEE ^ n_out as u64);
    let seed = rng.vec(n_out, -1.0, 1.0);
    let c_ret = 0.75f32;
    let objective = |xs: &[Vec<f32>]| -> f64 {
        let mut out = vec![0.0f32; n_out];
        let ret = fwd(xs, &mut out);
        out.iter()
            .zip(&seed)
            .map(|(&o, &r)| f64::from(o) * f64::from(r))
            .sum::<f64>()
            + f64::from(c_ret) * f64::from(ret)
    };

    // Analytic gradient.
    let mut out = vec![0.0f32; n_out];
    fwd(inputs, &mut out);
    let mut d_out = seed.clone();
    let mut d_in: Vec<Vec<f32>> = inputs.iter().map(|x| vec![0.0; x.len()]).collect();
    pb(inputs, &mut out, c_ret, &mut d_out, &mut d_in);
    assert!(
        d_out.iter().all(|&v| v == 0.0),
        "{name}: d_out not zeroed by the pullback"
    );

    // Finite differences.
    let mut max_err = 0.0f32;
    let mut xs = inputs.to_vec();
    for a in 0..xs.len() {
        for i in 0..xs[a].len() {
            let x0 = xs[a][i];
            xs[a][i] = x0 + h;
            let lp = objective(&xs);
            xs[a][i] = x0 - h;
            let lm = objective(&xs);
            xs[a][i] = x0;
            let fd = ((lp - lm) / (2.0 * f64::from(h))) as f32;
            let an = d_in[a][i];
            let err = (fd - an).abs();
            max_err = max_err.max(err);
            assert!(
                err <= tol * (1.0 + an.abs()),
                "{name}: input {a} element {i}: analytic {an} vs finite difference {fd} (err {err}, tol {tol})"
            );
        }
    }

    // Accumulation: a second pullback with the same seed doubles every input adjoint.
    let mut d_out = seed.clone();
    let first = d_in.clone();
    pb(inputs, &mut out, c_ret, &mut d_out, &mut d_in);
    for (a, (twice, once)) in d_in.iter().zip(&first).enumerate() {
        for (i, (&t, &o)) in twice.iter().zip(once).enumerate() {
            assert!(
                (t - 2.0 * o).abs() <= 1e-5 * (1.0 + o.abs()),
                "{name}: input {a}[{i}] did not accumulate: {t} vs 2·{o}"
            );
        }
    }
    println!("{name}: max |analytic − finite difference| = {max_err:.3e} (tol {tol:.1e}·(1+|g|))");
    max_err
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn differences_of_polynomials_are_exact_enough() {
        // f = x0² x1 + 3 x1: ∇f = (2 x0 x1, x0² + 3); the central difference of a cubic is
        // exact up to h² · f'''/6 and round-off.
        let f = |x: &[f64]| x[0] * x[0] * x[1] + 3.0 * x[1];
        let x = [1.5, -2.0];
        let g = central_grad(&x, 1e-6, f);
        assert_close("grad", &g, &[2.0 * 1.5 * -2.0, 1.5 * 1.5 + 3.0], 1e-8);
        let grad = |x: &[f64]| vec![2.0 * x[0] * x[1], x[0] * x[0] + 3.0];
        let h = central_jacobian(&x, 1e-6, grad);
        assert_close("hessian col 0", &h[0], &[2.0 * -2.0, 2.0 * 1.5], 1e-8);
        assert_close("hessian col 1", &h[1], &[2.0 * 1.5, 0.0], 1e-8);
        let d = central_diff(1e-6, |s| f(&[x[0] + s, x[1]]));
        assert!((d - g[0]).abs() < 1e-12);
    }

    #[test]
    #[should_panic(expected = "index 1")]
    fn assert_close_names_the_worst_index() {
        assert_close("v", &[1.0, 2.5, 3.0], &[1.0, 2.0, 3.0], 1e-3);
    }

    #[test]
    #[should_panic(expected = "index 0")]
    fn assert_close_fails_on_nan() {
        assert_close("v", &[f64::NAN, 2.0], &[1.0, 2.0], 1e-3);
    }

    #[test]
    #[should_panic(expected = "v[2]")]
    fn assert_close_1p_names_the_index() {
        assert_close_1p("v", &[1.0f32, 2.0, 4.0], &[1.0, 2.0, 3.0], 1e-3);
    }

    #[test]
    fn check_pullback_accepts_a_correct_pullback() {
        // out[i] = x[i]², ret = Σ x; d_x += 2 x d_out + d_ret.
        let fwd = |xs: &[Vec<f32>], out: &mut [f32]| -> f32 {
            for (o, &x) in out.iter_mut().zip(&xs[0]) {
                *o = x * x;
            }
            xs[0].iter().sum()
        };
        let pb =
            |xs: &[Vec<f32>], _: &mut [f32], d_ret: f32, d_out: &mut [f32], d: &mut [Vec<f32>]| {
                for ((g, &x), o) in d[0].iter_mut().zip(&xs[0]).zip(d_out.iter_mut()) {
                    *g += 2.0 * x * *o + d_ret;
                    *o = 0.0;
                }
            };
        let err = check_pullback("square", &[vec![0.5, -1.0, 2.0]], 3, 1e-2, 1e-3, &fwd, &pb);
        assert!(err < 1e-3);
    }
}
