//! `#[differentiable(simd)]` and `#[differentiable(parallel)]` (issue 16): the vectorised and
//! threaded reduction loops against the scalar path of the same source, in every mode.

#[allow(dead_code)]
mod common;
use ferrograd::differentiable;

macro_rules! nll_variants {
    ($($name:ident [$($opt:tt)*]),*) => {$(
        /// The W3 likelihood shape: a Gaussian plus an exponential, summed over events.
        #[differentiable($($opt)*)]
        fn $name(p: &[f64], x: &[f64]) -> f64 {
            let mean = p[0];
            let sigma = p[1];
            let c = p[2];
            let frac = p[3];
            let wg = frac / (sigma * 2.5066282746310002);
            let we = (1.0 - frac) * c.abs();
            let mut s = 0.0;
            for xi in x {
                let z = (xi - mean) / sigma;
                s -= (wg * (-0.5 * z * z).exp() + we * (-c * xi).exp()).ln();
            }
            s
        }
    )*};
}
nll_variants!(
    nll_scalar[hessian, wrt(p)],
    nll_simd[simd, hessian, wrt(p)],
    nll_par[parallel, hessian, wrt(p)]
);

/// Deterministic events in [0, 10) (SplitMix64).
fn events(n: usize, seed: u64) -> Vec<f64> {
    let mut s = seed;
    (0..n)
        .map(|_| {
            s = s.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = s;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            10.0 * ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64
        })
        .collect()
}

fn rel(a: f64, b: f64) -> f64 {
    (a - b).abs() / a.abs().max(b.abs()).max(1e-300)
}

#[test]
fn nll_value_gradient_and_hessian_match_the_scalar_path() {
    let p = [3.0, 0.8, 0.3, 0.4];
    for n in [0usize, 1, 7, 8, 9, 2047, 2048, 2049, 5 * 2048 + 3, 100_003] {
        let x = events(n, n as u64 + 1);
        let v0 = nll_scalar(&p, &x);
        type Value = fn(&[f64], &[f64]) -> f64;
        type Pull = fn(&[f64], &[f64], f64, &mut [f64], &mut [f64]);
        type Hess = fn(&[f64], &[f64], &mut [f64]) -> Result<f64, ferrograd::ShapeError>;
        let variants: [(&str, Value, Pull, Hess); 2] = [
            ("simd", nll_simd, nll_simd_pullback, nll_simd_hessian),
            ("parallel", nll_par, nll_par_pullback, nll_par_hessian),
        ];
        for (name, f, g, h) in variants {
            let v = f(&p, &x);
            assert!(rel(v, v0) <= 1e-12, "{name} n={n}: value {v} vs {v0}");
            let (mut g0, mut g1) = ([0.0; 4], [0.0; 4]);
            let mut dx0 = vec![0.0; n];
            let mut dx1 = vec![0.0; n];
            nll_scalar_pullback(&p, &x, 1.5, &mut g0, &mut dx0);
            g(&p, &x, 1.5, &mut g1, &mut dx1);
            for j in 0..4 {
                assert!(
                    rel(g0[j], g1[j]) <= 1e-12 || (g0[j] - g1[j]).abs() <= 1e-12,
                    "{name} n={n}: d_p[{j}] {} vs {}",
                    g1[j],
                    g0[j]
                );
            }
            for i in 0..n {
                assert!(rel(dx0[i], dx1[i]) <= 1e-12, "{name} n={n}: d_x[{i}]");
            }
            let (mut h0, mut h1) = ([0.0; 16], [0.0; 16]);
            nll_scalar_hessian(&p, &x, &mut h0).unwrap();
            h(&p, &x, &mut h1).unwrap();
            let hmax = h0.iter().fold(0.0f64, |m, v| m.max(v.abs())).max(1e-300);
            for j in 0..16 {
                assert!(
                    (h0[j] - h1[j]).abs() <= 1e-12 * hmax,
                    "{name} n={n}: hess[{j}] {} vs {}",
                    h1[j],
                    h0[j]
                );
            }
        }
    }
}
