//! `#[differentiable(simd)]` and `#[differentiable(parallel)]` (issue 16): the vectorised and
//! threaded reduction loops against the scalar path of the same source, in every mode.

use ferrograd::differentiable;
use ferrograd_testkit::SplitMix64;

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
    let mut rng = SplitMix64::new(seed);
    (0..n).map(|_| 10.0 * rng.unit_f64()).collect()
}

fn rel(a: f64, b: f64) -> f64 {
    (a - b).abs() / a.abs().max(b.abs()).max(1e-300)
}

type Value = fn(&[f64], &[f64]) -> f64;
type Pull = fn(&[f64], &[f64], f64, &mut [f64], &mut [f64]);
type Hess = fn(&[f64], &[f64], &mut [f64]) -> Result<f64, ferrograd::ShapeError>;

/// What one variant computes at `(p, x)`: the value, the pullback of `seed` (parameter and
/// event adjoints), the Hessian and the value it returns.
struct Results {
    value: f64,
    d_p: Vec<f64>,
    d_x: Vec<f64>,
    hess_value: f64,
    hess: Vec<f64>,
}

fn results(fns: (Value, Pull, Hess), p: &[f64], x: &[f64], seed: f64) -> Results {
    let (f, g, h) = fns;
    let (mut d_p, mut d_x) = (vec![0.0; p.len()], vec![0.0; x.len()]);
    g(p, x, seed, &mut d_p, &mut d_x);
    let mut hess = vec![0.0; p.len() * p.len()];
    let hess_value = h(p, x, &mut hess).unwrap();
    Results {
        value: f(p, x),
        d_p,
        d_x,
        hess_value,
        hess,
    }
}

/// A vectorised variant's results against the scalar path's: the value and the parameter
/// adjoints to 1e-12 relative (or `d_p_abs` absolute, for adjoints that cancel to near zero);
/// the event adjoints and the Hessian to 1e-12 of their largest entry (event adjoints are
/// single terms, not sums: where one cancels, the 1-ulp differences of the vectorised
/// `exp`/`ln` are relative to the scale of the adjoints, not to that one value); the
/// Hessian's value with the variant's primal bits (its dual sweep sums in the primal's order).
fn assert_matches_scalar(name: &str, n: usize, s: &Results, r: &Results, d_p_abs: f64) {
    assert!(
        rel(r.value, s.value) <= 1e-12,
        "{name} n={n}: value {} vs {}",
        r.value,
        s.value
    );
    for (j, (a, b)) in s.d_p.iter().zip(&r.d_p).enumerate() {
        assert!(
            rel(*a, *b) <= 1e-12 || (a - b).abs() <= d_p_abs,
            "{name} n={n}: d_p[{j}] {b} vs {a}"
        );
    }
    let scale = s.d_x.iter().fold(1e-300f64, |m, v| m.max(v.abs()));
    for (i, (a, b)) in s.d_x.iter().zip(&r.d_x).enumerate() {
        assert!(
            (a - b).abs() <= 1e-12 * scale,
            "{name} n={n}: d_x[{i}] {b} vs {a} (scale {scale})"
        );
    }
    assert_eq!(
        r.hess_value.to_bits(),
        r.value.to_bits(),
        "{name} n={n}: Hessian value {} vs {}",
        r.hess_value,
        r.value
    );
    let hmax = s
        .hess
        .iter()
        .fold(0.0f64, |m, v| m.max(v.abs()))
        .max(1e-300);
    for (j, (a, b)) in s.hess.iter().zip(&r.hess).enumerate() {
        assert!(
            (a - b).abs() <= 1e-12 * hmax,
            "{name} n={n}: hess[{j}] {b} vs {a}"
        );
    }
}

#[test]
fn nll_value_gradient_and_hessian_match_the_scalar_path() {
    let p = [3.0, 0.8, 0.3, 0.4];
    for n in [0usize, 1, 7, 8, 9, 2047, 2048, 2049, 5 * 2048 + 3, 100_003] {
        let x = events(n, n as u64 + 1);
        let s = results(
            (nll_scalar, nll_scalar_pullback, nll_scalar_hessian),
            &p,
            &x,
            1.5,
        );
        // The Hessian returns the value of its dual sweep (the primal part), not a second
        // primal run, with the primal's bits.
        assert_eq!(
            s.hess_value.to_bits(),
            s.value.to_bits(),
            "n={n}: scalar Hessian's value"
        );
        let variants: [(&str, (Value, Pull, Hess)); 2] = [
            ("simd", (nll_simd, nll_simd_pullback, nll_simd_hessian)),
            ("parallel", (nll_par, nll_par_pullback, nll_par_hessian)),
        ];
        for (name, fns) in variants {
            let r = results(fns, &p, &x, 1.5);
            assert_matches_scalar(name, n, &s, &r, 1e-12);
            // The fused gradient returns the primal's value, bit for bit.
            let mut gs = [0.0; 4];
            let vg = match name {
                "simd" => nll_simd_grad(&p, &x, &mut gs),
                _ => nll_par_grad(&p, &x, &mut gs),
            };
            assert_eq!(
                vg.to_bits(),
                r.value.to_bits(),
                "{name} n={n}: grad's value {vg} vs {}",
                r.value
            );
        }
    }
}

/// Several event slices read by index over a sub-range, a hoisted invariant expression, a
/// constant path, `powi`, `mul_add`, two reductions into the same accumulator.
macro_rules! weighted_variants {
    ($($name:ident [$($opt:tt)*]),*) => {$(
        #[differentiable($($opt)*)]
        fn $name(a: f64, b: f64, x: &[f64], w: &[f64], lo: usize, hi: usize) -> f64 {
            let mut s = a * b;
            for i in lo..hi {
                let r = (x[i] - a) * (b * 0.5).sqrt();
                s += w[i] * r.powi(2);
                s -= (r.sin() * std::f64::consts::FRAC_1_PI).mul_add(a, w[i].cos()).tanh();
            }
            s * 0.5
        }
    )*};
}
weighted_variants!(w_scalar[], w_simd[simd], w_par[parallel]);

#[test]
fn several_event_slices_over_a_sub_range_in_both_modes() {
    let n = 9000;
    let x = events(n, 7);
    let w: Vec<f64> = events(n, 8).iter().map(|v| v / 10.0).collect();
    let (a, b) = (1.3, 0.7);
    for (lo, hi) in [(0, 0), (3, 4), (5, 12), (17, 8000), (0, n)] {
        let v0 = w_scalar(a, b, &x, &w, lo, hi);
        for (name, v) in [
            ("simd", w_simd(a, b, &x, &w, lo, hi)),
            ("parallel", w_par(a, b, &x, &w, lo, hi)),
        ] {
            assert!(rel(v, v0) <= 1e-12, "{name} {lo}..{hi}: {v} vs {v0}");
        }
        // Reverse: every input.
        let mut d0 = (0.0, 0.0, vec![0.0; n], vec![0.0; n]);
        w_scalar_pullback(
            a, b, &x, &w, lo, hi, 0.75, &mut d0.0, &mut d0.1, &mut d0.2, &mut d0.3,
        );
        type Pull = fn(
            f64,
            f64,
            &[f64],
            &[f64],
            usize,
            usize,
            f64,
            &mut f64,
            &mut f64,
            &mut [f64],
            &mut [f64],
        );
        let pulls: [(&str, Pull); 2] = [("simd", w_simd_pullback), ("parallel", w_par_pullback)];
        for (name, pull) in pulls {
            let mut d1 = (0.0, 0.0, vec![0.0; n], vec![0.0; n]);
            pull(
                a, b, &x, &w, lo, hi, 0.75, &mut d1.0, &mut d1.1, &mut d1.2, &mut d1.3,
            );
            assert!(
                rel(d0.0, d1.0) <= 1e-12,
                "{name} {lo}..{hi}: d_a {} vs {}",
                d1.0,
                d0.0
            );
            assert!(rel(d0.1, d1.1) <= 1e-12, "{name} {lo}..{hi}: d_b");
            let sx = d0.2.iter().fold(1e-300f64, |m, v| m.max(v.abs()));
            let sw = d0.3.iter().fold(1e-300f64, |m, v| m.max(v.abs()));
            for i in 0..n {
                assert!(
                    (d0.2[i] - d1.2[i]).abs() <= 1e-12 * sx,
                    "{name} {lo}..{hi}: d_x[{i}]"
                );
                assert!(
                    (d0.3[i] - d1.3[i]).abs() <= 1e-12 * sw,
                    "{name} {lo}..{hi}: d_w[{i}]"
                );
            }
        }
        // Forward: a random direction over every input.
        let tx = events(n, 9);
        let tw = events(n, 10);
        let (f0, t0) = w_scalar_pushforward(a, b, &x, &w, lo, hi, 0.3, -0.2, &tx, &tw);
        for (name, (f1, t1)) in [
            (
                "simd",
                w_simd_pushforward(a, b, &x, &w, lo, hi, 0.3, -0.2, &tx, &tw),
            ),
            (
                "parallel",
                w_par_pushforward(a, b, &x, &w, lo, hi, 0.3, -0.2, &tx, &tw),
            ),
        ] {
            assert!(rel(f0, f1) <= 1e-12, "{name} {lo}..{hi}: pushforward value");
            assert!(
                rel(t0, t1) <= 1e-12,
                "{name} {lo}..{hi}: tangent {t1} vs {t0}"
            );
        }
    }
}

#[test]
fn the_reduction_tree_is_independent_of_the_thread_count() {
    let x = events(50_000, 3);
    let p = [3.0, 0.8, 0.3, 0.4];
    // One thread and rayon's pool give the same bits (the tree is fixed by the event count),
    // and so does the single-threaded `simd` build.
    let one = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap();
    let two = rayon::ThreadPoolBuilder::new()
        .num_threads(2)
        .build()
        .unwrap();
    let mut g1 = [0.0; 4];
    let mut g2 = [0.0; 4];
    let mut g3 = [0.0; 4];
    let v1 = one.install(|| nll_par_grad(&p, &x, &mut g1));
    let v2 = two.install(|| nll_par_grad(&p, &x, &mut g2));
    let v3 = nll_simd_grad(&p, &x, &mut g3);
    assert_eq!(
        (v1.to_bits(), g1.map(f64::to_bits)),
        (v2.to_bits(), g2.map(f64::to_bits))
    );
    assert_eq!(
        (v1.to_bits(), g1.map(f64::to_bits)),
        (v3.to_bits(), g3.map(f64::to_bits))
    );
    // With event adjoints (each block's part handed to whichever thread runs it) and with a
    // thread count that does not divide the blocks evenly: the same bits again.
    let w: Vec<f64> = events(50_000, 4).iter().map(|v| v / 10.0).collect();
    let pullback = |threads: usize| {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        let mut d = (0.0, 0.0, vec![0.0; x.len()], vec![0.0; x.len()]);
        pool.install(|| {
            w_par_pullback(
                1.3, 0.7, &x, &w, 11, 49_990, 0.75, &mut d.0, &mut d.1, &mut d.2, &mut d.3,
            )
        });
        let bits = |v: &[f64]| v.iter().map(|a| a.to_bits()).collect::<Vec<_>>();
        (d.0.to_bits(), d.1.to_bits(), bits(&d.2), bits(&d.3))
    };
    let reference = pullback(1);
    for threads in [2, 3] {
        assert!(pullback(threads) == reference, "{threads} threads");
    }
}

#[test]
fn nan_and_infinite_events_propagate_as_in_the_scalar_path() {
    let p = [3.0, 0.8, 0.3, 0.4];
    for bad in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
        for pos in [0usize, 5, 8, 16, 2050] {
            let mut x = events(4100, 11);
            x[pos] = bad;
            let (mut g0, mut g1) = ([0.0; 4], [0.0; 4]);
            let v0 = nll_scalar_grad(&p, &x, &mut g0);
            let v1 = nll_par_grad(&p, &x, &mut g1);
            let same = |a: f64, b: f64| (a.is_nan() && b.is_nan()) || a == b || rel(a, b) <= 1e-12;
            assert!(same(v0, v1), "{bad} at {pos}: {v1} vs {v0}");
            for j in 0..4 {
                assert!(
                    same(g0[j], g1[j]),
                    "{bad} at {pos}: d_p[{j}] {} vs {}",
                    g1[j],
                    g0[j]
                );
            }
        }
    }
}

#[differentiable]
fn f32_scalar(m: f32, x: &[f32]) -> f32 {
    let mut s = 0.0;
    for v in x.iter() {
        s += (*v - m).exp().ln_1p();
    }
    s
}
#[differentiable(simd)]
fn f32_simd(m: f32, x: &[f32]) -> f32 {
    let mut s = 0.0;
    for v in x.iter() {
        s += (*v - m).exp().ln_1p();
    }
    s
}

type Value32 = fn(f32, &[f32]) -> f32;
type Pull32 = fn(f32, &[f32], f32, &mut f32, &mut [f32]);

/// An f32 loop's vectorised variant `(simd, simd_pullback)` against its scalar one at `m`,
/// over the first `n` events for each `n`: value and adjoints to 1e-5 relative (or absolute
/// below 1).
fn assert_f32_matches_scalar(
    scalar: (Value32, Pull32),
    simd: (Value32, Pull32),
    m: f32,
    x: &[f32],
    ns: &[usize],
) {
    let close = |a: f32, b: f32| (a - b).abs() <= 1e-5 * a.abs().max(1.0);
    for &n in ns {
        let xs = &x[..n];
        let (v0, v1) = (scalar.0(m, xs), simd.0(m, xs));
        assert!(close(v0, v1), "n={n}: {v1} vs {v0}");
        let (mut m0, mut m1) = (0.0f32, 0.0f32);
        let (mut d0, mut d1) = (vec![0.0f32; n], vec![0.0f32; n]);
        scalar.1(m, xs, 1.0, &mut m0, &mut d0);
        simd.1(m, xs, 1.0, &mut m1, &mut d1);
        assert!(close(m0, m1), "n={n}: d_m {m1} vs {m0}");
        for i in 0..n {
            assert!(
                close(d0[i], d1[i]),
                "n={n}: d_x[{i}] {} vs {}",
                d1[i],
                d0[i]
            );
        }
    }
}

#[test]
fn f32_loops_run_on_sixteen_lanes() {
    let x: Vec<f32> = events(1000, 5)
        .iter()
        .map(|v| (*v as f32) / 5.0 - 1.0)
        .collect();
    assert_f32_matches_scalar(
        (f32_scalar, f32_scalar_pullback),
        (f32_simd, f32_simd_pullback),
        0.3,
        &x,
        &[0, 1, 15, 16, 17, 1000],
    );
}

/// A loop that does not qualify stays scalar next to one that does (here: the first loop
/// carries `t` from one iteration to the next).
#[differentiable(simd)]
fn mixed_loops(a: f64, x: &[f64]) -> f64 {
    let mut t = a;
    for v in x {
        t = t * 0.5 + v;
    }
    let mut s = 0.0;
    for v in x {
        s += (v * t).sin();
    }
    s
}
#[differentiable]
fn mixed_loops_scalar(a: f64, x: &[f64]) -> f64 {
    let mut t = a;
    for v in x {
        t = t * 0.5 + v;
    }
    let mut s = 0.0;
    for v in x {
        s += (v * t).sin();
    }
    s
}

#[test]
fn unqualified_loops_stay_scalar_beside_vectorised_ones() {
    let x = events(100, 12);
    let (v0, v1) = (mixed_loops_scalar(0.4, &x), mixed_loops(0.4, &x));
    assert!(rel(v0, v1) <= 1e-12, "{v1} vs {v0}");
    let (mut d0, mut d1) = (0.0, 0.0);
    let (mut e0, mut e1) = (vec![0.0; 100], vec![0.0; 100]);
    mixed_loops_scalar_pullback(0.4, &x, 1.0, &mut d0, &mut e0);
    mixed_loops_pullback(0.4, &x, 1.0, &mut d1, &mut e1);
    assert!(rel(d0, d1) <= 1e-12, "{d1} vs {d0}");
    for i in 0..100 {
        assert!(rel(e0[i], e1[i]) <= 1e-12, "d_x[{i}]");
    }
    let fd = (mixed_loops(0.4 + 1e-6, &x) - mixed_loops(0.4 - 1e-6, &x)) / 2e-6;
    assert!(
        (fd - d1).abs() <= 1e-6 * d1.abs().max(1.0),
        "fd {fd} vs {d1}"
    );
}

/// The text of generated function `name` in `src` (up to the next item).
fn item<'a>(src: &'a str, name: &str) -> &'a str {
    let start = src
        .find(&format!("fn {name}("))
        .unwrap_or_else(|| panic!("no `{name}` in the generated source"));
    let rest = &src[start..];
    let end = rest[1..].find("\nfn ").map_or(rest.len(), |e| e + 1);
    &rest[..end]
}

#[test]
fn a_vectorised_loop_returned_directly_runs_fused() {
    // `s` is returned right after the loop: its adjoint is the seed, so the gradient calls the
    // loop's `_value_pullback` (value and adjoints in one pass) and nothing else.
    let grad = item(nll_simd_GRAD_SOURCE, "nll_simd_grad");
    assert!(
        grad.contains("__fg_nll_simd_loop0_value_pullback("),
        "{grad}"
    );
    assert!(!grad.contains("__fg_nll_simd_loop0("), "{grad}");
    assert!(!grad.contains("__fg_nll_simd_loop0_pullback("), "{grad}");
    let par = item(nll_par_GRAD_SOURCE, "nll_par_pullback");
    assert!(par.contains("__fg_nll_par_loop0_value_pullback("), "{par}");
    // `w_*` scales the sum after the loop (`s * 0.5`): a value pass, then a pullback pass.
    let w = item(w_simd_GRAD_SOURCE, "w_simd_pullback");
    assert!(w.contains("__fg_w_simd_loop0("), "{w}");
    assert!(w.contains("__fg_w_simd_loop0_pullback("), "{w}");
}

#[differentiable(simd)]
fn f32_suffixed(m: f32, x: &[f32]) -> f32 {
    let mut s = 0.5_f32;
    for &v in x.iter() {
        s += v * 0.25_f32 + (v - m).tanh() * 2_f32;
    }
    s
}

#[test]
fn suffixed_literals_keep_their_value() {
    let x: Vec<f32> = (0..40).map(|k| k as f32 * 0.1).collect();
    let want: f32 = 0.5
        + x.iter()
            .map(|v| v * 0.25 + (v - 0.3).tanh() * 2.0)
            .sum::<f32>();
    let got = f32_suffixed(0.3, &x);
    assert!((got - want).abs() <= 1e-5 * want.abs(), "{got} vs {want}");
}

/// The primal and the fused gradient take two groups of lanes per round (`Lanes::Pair`), with
/// a lone group when their count is odd; the pushforward takes one group at a time. All three
/// sum the even and odd groups apart, so they return the same value bit for bit, for every
/// count of groups and remainder (f64: groups of 8, f32: groups of 16).
#[test]
fn paired_primal_gives_the_fused_passes_bits() {
    let p = [3.0, 0.8, 0.3, 0.4];
    for n in [
        15usize,
        16,
        17,
        23,
        24,
        31,
        32,
        33,
        40,
        2048 + 8,
        2048 + 16,
        3 * 2048 - 1,
    ] {
        let x = events(n, 7 * n as u64 + 3);
        let v = nll_simd(&p, &x);
        assert!(rel(v, nll_scalar(&p, &x)) <= 1e-12, "n={n}: value");
        let mut g = [0.0; 4];
        let vg = nll_simd_grad(&p, &x, &mut g);
        assert_eq!(vg.to_bits(), v.to_bits(), "n={n}: grad's value {vg} vs {v}");
        let vp = nll_par_grad(&p, &x, &mut g);
        assert_eq!(vp.to_bits(), nll_par(&p, &x).to_bits(), "n={n}: parallel");
    }
    // Summands from ~1e-9 to ~20, so that the order of the sums shows in the last bits.
    let x: Vec<f32> = events(200, 11)
        .iter()
        .map(|v| (*v as f32) * 4.0 - 20.0)
        .collect();
    for n in [31usize, 32, 33, 47, 48, 49, 63, 64, 65, 80, 200] {
        let xs = &x[..n];
        let (v0, v1) = (f32_scalar(0.3, xs), f32_simd(0.3, xs));
        assert!(
            (v0 - v1).abs() <= 1e-5 * v0.abs().max(1.0),
            "n={n}: {v1} vs {v0}"
        );
        let tx = vec![0.5f32; n];
        let (vt, _) = f32_simd_pushforward(0.3, xs, 1.0, &tx);
        assert_eq!(vt.to_bits(), v1.to_bits(), "n={n}: pushforward's value");
    }
}

macro_rules! event_adjoint_variants {
    ($($name:ident [$($opt:tt)*]),*) => {$(
        /// The loop's sum returned directly: the gradient runs fused (value and adjoints in one
        /// pass), here with adjoints for the events too.
        #[differentiable($($opt)*)]
        fn $name(a: f64, x: &[f64]) -> f64 {
            let mut s = 0.0;
            for xi in x {
                s += (a * xi).sin() * (0.1 * xi - a).exp();
            }
            s
        }
    )*};
}
event_adjoint_variants!(ev_scalar[], ev_simd[simd], ev_par[parallel]);

/// The fused pass on pairs of lane groups writes each event's adjoint to its own place: every
/// count of pairs, lone group and remainder against the scalar path, and the value bit for bit
/// against the primal.
#[test]
fn fused_event_adjoints_match_the_scalar_path() {
    let grad = item(ev_simd_GRAD_SOURCE, "ev_simd_grad");
    assert!(
        grad.contains("__fg_ev_simd_loop0_value_pullback("),
        "{grad}"
    );
    let a = 0.7;
    for n in [
        0usize, 1, 7, 8, 15, 16, 17, 24, 31, 32, 33, 2047, 2048, 2049, 5000,
    ] {
        let x = events(n, 13 * n as u64 + 1);
        let (mut da0, mut dx0) = (0.0, vec![0.0; n]);
        let v0 = ev_scalar_grad(a, &x, &mut da0, &mut dx0);
        assert_eq!(v0.to_bits(), ev_scalar(a, &x).to_bits(), "scalar n={n}");
        let scale = dx0.iter().fold(1e-300f64, |m, v| m.max(v.abs()));
        type Grad = fn(f64, &[f64], &mut f64, &mut [f64]) -> f64;
        type Primal = fn(f64, &[f64]) -> f64;
        let variants: [(&str, Grad, Primal); 2] = [
            ("simd", ev_simd_grad, ev_simd),
            ("parallel", ev_par_grad, ev_par),
        ];
        for (name, grad, primal) in variants {
            let (mut da, mut dx) = (0.0, vec![0.0; n]);
            let v = grad(a, &x, &mut da, &mut dx);
            assert!(rel(v, v0) <= 1e-12, "{name} n={n}: value {v} vs {v0}");
            assert_eq!(
                v.to_bits(),
                primal(a, &x).to_bits(),
                "{name} n={n}: primal's bits"
            );
            assert!(rel(da, da0) <= 1e-12, "{name} n={n}: d_a {da} vs {da0}");
            for i in 0..n {
                assert!(
                    (dx[i] - dx0[i]).abs() <= 1e-12 * scale,
                    "{name} n={n}: d_x[{i}] {} vs {}",
                    dx[i],
                    dx0[i]
                );
            }
        }
    }
}

/// An empty event tangent is a zero one: the vectorised loop reads no buffer for it (and
/// allocates none), across pair, lone-group and remainder counts.
#[test]
fn an_empty_event_tangent_is_zero() {
    let (p, tp) = ([3.0, 0.8, 0.3, 0.4], [1.0, 0.5, -0.25, 0.1]);
    for n in [0usize, 1, 7, 8, 9, 16, 17, 24, 33, 2049, 5000] {
        let x = events(n, 3 * n as u64 + 5);
        let (f0, t0) = nll_scalar_pushforward(&p, &x, &tp, &vec![0.0; n]);
        for (name, (f1, t1)) in [
            ("simd", nll_simd_pushforward(&p, &x, &tp, &[])),
            ("parallel", nll_par_pushforward(&p, &x, &tp, &[])),
        ] {
            assert!(rel(f0, f1) <= 1e-12, "{name} n={n}: value {f1} vs {f0}");
            assert!(rel(t0, t1) <= 1e-12, "{name} n={n}: tangent {t1} vs {t0}");
            assert_eq!(
                f1.to_bits(),
                nll_simd(&p, &x).to_bits(),
                "{name} n={n}: bits"
            );
        }
    }
}

/// Primitives whose rules choose by value (`abs`, `max`, `min`, `powf` with both arguments
/// varying): their lanes disagree within one vector (events of both signs, exact zeros where
/// `abs` and `powf`'s rules take their other side), so a rule that branched on the lanes'
/// common order would be wrong here.
macro_rules! selecting_variants {
    ($($name:ident [$($opt:tt)*]),*) => {$(
        #[differentiable($($opt)*)]
        fn $name(p: &[f64], x: &[f64]) -> f64 {
            let a = p[0];
            let b = p[1];
            let mut s = 0.0;
            for xi in x {
                let u = xi - a;
                s += u.abs() * b + u.max(b * xi) - (a * xi).min(b);
                s += (1.0 + u * u).powf(b * xi) + xi.abs().powf(a) * 0.25;
            }
            s
        }
    )*};
}
selecting_variants!(
    sel_scalar[hessian, wrt(p)],
    sel_simd[simd, hessian, wrt(p)],
    sel_par[parallel, hessian, wrt(p)]
);

#[test]
fn selecting_rules_are_exact_on_disagreeing_lanes() {
    // a = 1.3 keeps |x|^(a-1) finite at the exact zeros.
    let p = [1.3, 0.35];
    for n in [1usize, 7, 9, 64, 2049, 3 * 2048 + 5] {
        let x: Vec<f64> = events(n, n as u64 + 40)
            .iter()
            .enumerate()
            .map(|(i, v)| if i % 5 == 2 { 0.0 } else { (v - 5.0) * 0.4 })
            .collect();
        let s = results(
            (sel_scalar, sel_scalar_pullback, sel_scalar_hessian),
            &p,
            &x,
            1.0,
        );
        // The scalar path itself against central differences (its rules are the same ones).
        for j in 0..2 {
            let (mut pp, mut pm) = (p, p);
            pp[j] += 1e-6;
            pm[j] -= 1e-6;
            let fd = (sel_scalar(&pp, &x) - sel_scalar(&pm, &x)) / 2e-6;
            assert!(
                (fd - s.d_p[j]).abs() <= 1e-5 * s.d_p[j].abs().max(1.0),
                "n={n}: fd {fd} vs d_p[{j}] {}",
                s.d_p[j]
            );
        }
        let variants: [(&str, (Value, Pull, Hess)); 2] = [
            ("simd", (sel_simd, sel_simd_pullback, sel_simd_hessian)),
            ("parallel", (sel_par, sel_par_pullback, sel_par_hessian)),
        ];
        for (name, fns) in variants {
            assert_matches_scalar(name, n, &s, &results(fns, &p, &x, 1.0), 0.0);
        }
    }
}

#[differentiable]
fn pow32_scalar(m: f32, x: &[f32]) -> f32 {
    let mut s = 0.0;
    for v in x.iter() {
        s += (1.0 + *v * *v).powf(m * *v) - (*v - m).abs();
    }
    s
}
#[differentiable(simd)]
fn pow32_simd(m: f32, x: &[f32]) -> f32 {
    let mut s = 0.0;
    for v in x.iter() {
        s += (1.0 + *v * *v).powf(m * *v) - (*v - m).abs();
    }
    s
}

#[test]
fn f32_powf_and_abs_run_on_sixteen_lanes() {
    let x: Vec<f32> = events(1000, 6)
        .iter()
        .map(|v| (*v as f32) / 2.5 - 2.0)
        .collect();
    assert_f32_matches_scalar(
        (pow32_scalar, pow32_scalar_pullback),
        (pow32_simd, pow32_simd_pullback),
        0.7,
        &x,
        &[1, 15, 17, 1000],
    );
}
