//! Hessians of `simd`/`parallel` functions whose constant slices (outside `wrt(..)`) only feed
//! the vectorised loops as events: `f_hessian` hands them to its sweep as plain floats
//! (`__fg_f_hessian_sweep`, `vloop::WithPlain`) instead of copying them into dual numbers.
//! Checked against the scalar path of the same source (which copies them, as before) and
//! against central differences of the gradient; a slice read anywhere else keeps the copy.

use ferrograd::differentiable;
use ferrograd_testkit::SplitMix64;

macro_rules! mixed_variants {
    ($($name:ident [$($opt:tt)*]),*) => {$(
        /// Two constant event slices (`x`, `y`) and a differentiated one (`q`) read in one
        /// loop over a sub-range, its bound from `x.len()`.
        #[differentiable($($opt)*)]
        fn $name(m: f64, q: &[f64], x: &[f64], y: &[f64]) -> f64 {
            let n = x.len();
            let mut s = 0.5 * m * m;
            for i in 1..n {
                let z = (x[i] - m * q[i]) * y[i];
                s += (1.0 + z * z).ln() + q[i] * q[i] * m;
            }
            s
        }
    )*};
}
mixed_variants!(
    mixed_scalar[hessian, wrt(m, q)],
    mixed_simd[simd, hessian, wrt(m, q)],
    mixed_par[parallel, hessian, wrt(m, q)]
);

macro_rules! two_loop_variants {
    ($($name:ident [$($opt:tt)*]),*) => {$(
        /// A constant slice read by two loops (by element and by index), a scalar constant `c`.
        #[differentiable($($opt)*)]
        fn $name(a: f64, b: f64, c: f64, x: &[f64]) -> f64 {
            let mut s = a * b * c;
            for &xi in x.iter() {
                s -= (a * xi - b).tanh() * c;
            }
            let mut t = 0.0;
            for i in 0..x.len() {
                t += (b * x[i]).exp() * a;
            }
            s + t * t
        }
    )*};
}
two_loop_variants!(
    two_scalar[hessian, wrt(a, b)],
    two_simd[simd, hessian, wrt(a, b)],
    two_par[parallel, hessian, wrt(a, b)]
);

/// `x` is also read outside the loop: it stays a copy into dual numbers.
#[differentiable(simd, hessian, wrt(m))]
fn read_elsewhere(m: f64, x: &[f64]) -> f64 {
    let mut s = m * x[0];
    for xi in x {
        s += (xi * m).sin();
    }
    s
}

fn values(n: usize, seed: u64, lo: f64, hi: f64) -> Vec<f64> {
    let mut rng = SplitMix64::new(seed);
    (0..n).map(|_| lo + (hi - lo) * rng.unit_f64()).collect()
}

fn rel(a: f64, b: f64) -> f64 {
    (a - b).abs() / a.abs().max(b.abs()).max(1e-300)
}

/// `got` against `want` to `tol` of the largest entry of `want`.
fn assert_close(what: &str, got: &[f64], want: &[f64], tol: f64) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    let scale = want.iter().fold(1e-300f64, |m, v| m.max(v.abs()));
    for (k, (g, w)) in got.iter().zip(want).enumerate() {
        assert!(
            (g - w).abs() <= tol * scale,
            "{what}: [{k}] {g:e} vs {w:e} (scale {scale:e})"
        );
    }
}

/// The Hessian as central differences of a gradient `grad(z, g)` over the inputs `z`.
fn fd_hessian(z: &[f64], grad: impl Fn(&[f64], &mut [f64])) -> Vec<f64> {
    let n = z.len();
    let mut h = vec![0.0; n * n];
    for j in 0..n {
        let step = 1e-5 * z[j].abs().max(1.0);
        let (mut zp, mut zm) = (z.to_vec(), z.to_vec());
        zp[j] += step;
        zm[j] -= step;
        let (mut gp, mut gm) = (vec![0.0; n], vec![0.0; n]);
        grad(&zp, &mut gp);
        grad(&zm, &mut gm);
        for i in 0..n {
            h[i * n + j] = (gp[i] - gm[i]) / (2.0 * step);
        }
    }
    h
}

#[test]
fn the_sweep_reads_constant_events_in_place_only_where_nothing_else_reads_them() {
    for src in [
        mixed_simd_GRAD_SOURCE,
        mixed_par_GRAD_SOURCE,
        two_simd_GRAD_SOURCE,
        two_par_GRAD_SOURCE,
    ] {
        assert!(src.contains("_hessian_sweep"), "no sweep:\n{src}");
        assert!(src.contains("WithPlain"), "no plain events:\n{src}");
    }
    // `mixed`: events x, q, y in that order, x and y plain (mask 0b101).
    assert!(mixed_simd_GRAD_SOURCE.contains("[&[], __fg_ev1, &[]], [__fg_ev0, &[], __fg_ev2]"));
    for src in [read_elsewhere_GRAD_SOURCE, mixed_scalar_GRAD_SOURCE] {
        assert!(!src.contains("_hessian_sweep"), "unexpected sweep:\n{src}");
    }
}

#[test]
fn mixed_plain_and_dual_events_match_the_scalar_path_and_finite_differences() {
    for n in [1usize, 2, 8, 9, 17, 40] {
        let q = values(n, 3 + n as u64, -1.0, 1.0);
        let x = values(n, 5 + n as u64, -2.0, 2.0);
        let y = values(n, 7 + n as u64, 0.5, 1.5);
        let m = 0.7;
        let dim = 1 + n;
        let mut want = vec![0.0; dim * dim];
        let v_scalar = mixed_scalar_hessian(m, &q, &x, &y, &mut want).unwrap();
        for (name, hess) in [
            ("simd", mixed_simd_hessian as fn(_, &_, &_, &_, &mut _) -> _),
            ("parallel", mixed_par_hessian),
        ] {
            let mut h = vec![0.0; dim * dim];
            let v = hess(m, &q, &x, &y, &mut h).unwrap();
            assert!(
                rel(v, v_scalar) <= 1e-12,
                "{name} n={n}: value {v} vs {v_scalar}"
            );
            assert_eq!(
                v.to_bits(),
                mixed_simd(m, &q, &x, &y).to_bits(),
                "{name} n={n}: the Hessian's value has the primal's bits"
            );
            assert_close(&format!("{name} n={n} vs scalar"), &h, &want, 1e-12);
        }
        let fd = fd_hessian(&[&[m][..], &q].concat(), |z, g| {
            let (mut dm, mut dq) = (0.0, vec![0.0; n]);
            mixed_scalar_grad(z[0], &z[1..], &x, &y, &mut dm, &mut dq);
            g[0] = dm;
            g[1..].copy_from_slice(&dq);
        });
        assert_close(&format!("n={n} vs finite differences"), &want, &fd, 1e-6);
    }
}

#[test]
fn constant_events_over_lanes_blocks_and_threads_match_the_scalar_path() {
    let (a, b, c) = (0.9, 0.3, 1.3);
    for n in [0usize, 1, 7, 8, 9, 16, 2049, 5 * 2048 + 3, 40_001] {
        let x = values(n, 11 + n as u64, -1.0, 1.0);
        let mut want = [0.0; 4];
        let v_scalar = two_scalar_hessian(a, b, c, &x, &mut want).unwrap();
        for (name, hess, primal) in [
            (
                "simd",
                two_simd_hessian as fn(_, _, _, &_, &mut _) -> _,
                two_simd as fn(_, _, _, &_) -> _,
            ),
            ("parallel", two_par_hessian, two_par),
        ] {
            let mut h = [0.0; 4];
            let v = hess(a, b, c, &x, &mut h).unwrap();
            assert!(
                rel(v, v_scalar) <= 1e-12,
                "{name} n={n}: value {v} vs {v_scalar}"
            );
            // Not fused (the loops' sums are used further): the value pass on dual numbers
            // sums in the primal's order too.
            assert_eq!(
                v.to_bits(),
                primal(a, b, c, &x).to_bits(),
                "{name} n={n}: the Hessian's value has the primal's bits"
            );
            assert_close(&format!("{name} n={n} vs scalar"), &h, &want, 1e-12);
        }
        let fd = fd_hessian(&[a, b], |z, g| {
            let (mut da, mut db) = (0.0, 0.0);
            two_scalar_grad(z[0], z[1], c, &x, &mut da, &mut db);
            g[0] = da;
            g[1] = db;
        });
        assert_close(&format!("n={n} vs finite differences"), &want, &fd, 1e-6);
    }
}

#[test]
fn a_constant_read_elsewhere_is_copied_and_still_right() {
    let x = values(37, 13, -1.0, 1.0);
    let m = 0.4;
    let mut h = [0.0];
    read_elsewhere_hessian(m, &x, &mut h).unwrap();
    let want: f64 = x.iter().map(|xi| -xi * xi * (xi * m).sin()).sum();
    assert!(rel(h[0], want) <= 1e-12, "{} vs {want}", h[0]);
}

/// A loop over constants only (nothing it reads is in `wrt(..)`), returned directly: it has
/// no pullback, so its call is not fused with one (the differential test found `_grad` and
/// `_hessian` referring to a fused value that was never computed).
#[differentiable(simd, hessian, wrt(a))]
fn constant_loop(a: f64, x: &[f64]) -> f64 {
    let mut s = a * a;
    for &e in x.iter() {
        s -= e * 0.25 + 1.5;
    }
    s
}

#[test]
fn a_loop_over_constants_only_is_a_plain_value() {
    let x = values(29, 17, -1.0, 1.0);
    let a = 1.25;
    let want = a * a - x.iter().map(|e| e * 0.25 + 1.5).sum::<f64>();
    let mut da = 0.0;
    let v = constant_loop_grad(a, &x, &mut da);
    assert!(rel(v, want) <= 1e-14, "{v} vs {want}");
    assert_eq!(da, 2.0 * a);
    let mut h = [0.0];
    let vh = constant_loop_hessian(a, &x, &mut h).unwrap();
    assert_eq!((vh.to_bits(), h[0]), (v.to_bits(), 2.0));
}

/// The same loop with its sum used further (not fused): in the Hessian's forward sweep it is
/// a value pass on dual numbers, which sums in the primal's order (the differential test found
/// the Hessian's value an ulp off the primal's).
#[differentiable(simd, hessian, wrt(a))]
fn constant_loop_value(a: f64, x: &[f64]) -> f64 {
    let mut s = a * 0.5;
    for &e in x.iter() {
        s += e * 0.25 + e / 1.7;
    }
    s * a + (a * s).tanh()
}

#[test]
fn a_value_pass_on_dual_numbers_has_the_primals_bits() {
    for n in [27usize, 40, 1000, 40_001] {
        let x = values(n, 19 + n as u64, -1.0, 1.0);
        let a = 0.8;
        let mut h = [0.0];
        let v = constant_loop_value_hessian(a, &x, &mut h).unwrap();
        assert_eq!(v.to_bits(), constant_loop_value(a, &x).to_bits(), "n={n}");
    }
}
