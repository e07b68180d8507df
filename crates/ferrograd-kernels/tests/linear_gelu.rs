//! The fused `linear_gelu` against an f64 reference and against the unfused pair
//! `linear` → `gelu` (its pullbacks `gelu_pullback` → `linear_pullback` bit for bit), its
//! pullback against central finite differences through all three of its outputs (`out`, and
//! `pre` and `gate`), on one and two threads, its zero check of the adjoints of `pre` and
//! `gate`, and its errors.

use ferrograd_kernels::{self as k, KernelError};
use ferrograd_testkit::fd::check_pullback;
use ferrograd_testkit::{assert_close_1p, SplitMix64};

/// (batch, in_f, out_f): odd sizes, batch 1, and W4's MLP (512 rows, 128 → 512), where the
/// passes split across threads.
const SHAPES: [(usize, usize, usize); 5] = [
    (1, 1, 1),
    (3, 5, 2),
    (8, 33, 17),
    (37, 40, 130),
    (512, 128, 512),
];

struct Case {
    batch: usize,
    in_f: usize,
    out_f: usize,
    x: Vec<f32>,
    w: Vec<f32>,
    b: Vec<f32>,
}

impl Case {
    fn new(rng: &mut SplitMix64, (batch, in_f, out_f): (usize, usize, usize)) -> Case {
        // Pre-activations of a few units either side of 0: GELU's curved part.
        let scale = 2.0 / (in_f as f32).sqrt();
        Case {
            batch,
            in_f,
            out_f,
            x: rng.vec(batch * in_f, -1.0, 1.0),
            w: rng.vec(out_f * in_f, -scale, scale),
            b: rng.vec(out_f, -1.0, 1.0),
        }
    }

    fn n(&self) -> usize {
        self.batch * self.out_f
    }

    /// `(out, pre, gate)` of the fused forward.
    fn forward(&self) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
        let n = self.n();
        let (mut out, mut pre, mut gate) = (vec![0.0; n], vec![0.0; n], vec![0.0; n]);
        k::linear_gelu(
            &mut out, &mut pre, &mut gate, &self.x, &self.w, &self.b, self.batch, self.in_f,
            self.out_f,
        )
        .unwrap();
        (out, pre, gate)
    }

    /// The fused pullback's `(d_x, d_w, d_b)` from seeds on `out`, `pre` and `gate` (an empty
    /// seed: none), starting from zero adjoints; checks that the seeds were zeroed.
    fn pullback(&self, seeds: [&[f32]; 3]) -> [Vec<f32>; 3] {
        let (mut out, mut pre, mut gate) = self.forward();
        let [mut d_out, mut d_pre, mut d_gate] = seeds.map(<[f32]>::to_vec);
        let (mut dx, mut dw, mut db) = (
            vec![0.0; self.x.len()],
            vec![0.0; self.w.len()],
            vec![0.0; self.b.len()],
        );
        k::linear_gelu_pullback(
            &mut out,
            &mut pre,
            &mut gate,
            &self.x,
            &self.w,
            &self.b,
            self.batch,
            self.in_f,
            self.out_f,
            &mut d_out,
            &mut d_pre,
            &mut d_gate,
            &mut dx,
            &mut dw,
            &mut db,
        )
        .unwrap();
        for (name, s) in [("d_out", &d_out), ("d_pre", &d_pre), ("d_gate", &d_gate)] {
            assert!(s.iter().all(|&v| v == 0.0), "{name} not zeroed");
        }
        [dx, dw, db]
    }
}

fn gelu_ref(v: f64) -> (f64, f64) {
    let gate =
        0.5 * (1.0 + ((2.0 / std::f64::consts::PI).sqrt() * (v + 0.044715 * v * v * v)).tanh());
    (v * gate, gate)
}

#[test]
fn forward_matches_the_reference_and_the_unfused_pair() {
    let mut rng = SplitMix64::new(0x6765_6c75);
    for threads in [1, 2] {
        k::set_num_threads(threads);
        for shape in SHAPES {
            let c = Case::new(&mut rng, shape);
            let (out, pre, gate) = c.forward();
            let mut want_pre = vec![0.0f64; c.n()];
            for r in 0..c.batch {
                for j in 0..c.out_f {
                    let dot: f64 = (0..c.in_f)
                        .map(|i| f64::from(c.x[r * c.in_f + i]) * f64::from(c.w[j * c.in_f + i]))
                        .sum();
                    want_pre[r * c.out_f + j] = dot + f64::from(c.b[j]);
                }
            }
            let case = format!("{shape:?} on {threads} thread(s)");
            assert_close_1p(&format!("pre {case}"), &pre, &want_pre, 1e-5);
            let want_out: Vec<f64> = pre.iter().map(|&v| gelu_ref(f64::from(v)).0).collect();
            let want_gate: Vec<f64> = pre.iter().map(|&v| gelu_ref(f64::from(v)).1).collect();
            assert_close_1p(&format!("out {case}"), &out, &want_out, 1e-6);
            assert_close_1p(&format!("gate {case}"), &gate, &want_gate, 1e-6);

            // The unfused pair: `gelu` of the same `pre` has the same bits; `linear`'s `pre`
            // can differ in its last bits only (the bias added before the product there).
            let mut g = vec![0.0; c.n()];
            k::gelu(&mut g, &pre).unwrap();
            assert_eq!(g, out, "{case}: out differs from gelu(pre)");
            let mut lin = vec![0.0; c.n()];
            k::linear(&mut lin, &c.x, &c.w, &c.b, c.batch, c.in_f, c.out_f).unwrap();
            let lin64: Vec<f64> = lin.iter().map(|&v| f64::from(v)).collect();
            assert_close_1p(&format!("pre vs linear {case}"), &pre, &lin64, 1e-6);
        }
    }
    k::set_num_threads(1);
}

/// With a seed on `out` (and on `pre`), the adjoints are those of `gelu_pullback`
/// then `linear_pullback` on the same `pre`, bit for bit, on one and on two threads.
#[test]
fn pullback_has_the_unfused_pairs_bits() {
    let mut rng = SplitMix64::new(0x7075_6c6c);
    for shape in SHAPES {
        let c = Case::new(&mut rng, shape);
        let n = c.n();
        let seed = rng.vec(n, -1.0, 1.0);
        let seed_pre = rng.vec(n, -1.0, 1.0);
        for with_pre in [false, true] {
            let mut by_threads = Vec::new();
            for threads in [1, 2] {
                k::set_num_threads(threads);
                let (mut out, mut pre, _) = c.forward();
                // Unfused: d_fc starts as the seed on `pre`; gelu_pullback adds into it.
                let mut d_fc = if with_pre {
                    seed_pre.clone()
                } else {
                    vec![0.0; n]
                };
                let mut d_act = seed.clone();
                k::gelu_pullback(&mut out, &pre, &mut d_act, &mut d_fc).unwrap();
                let (mut dx, mut dw, mut db) = (
                    vec![0.0; c.x.len()],
                    vec![0.0; c.w.len()],
                    vec![0.0; c.b.len()],
                );
                k::linear_pullback(
                    &mut pre, &c.x, &c.w, &c.b, c.batch, c.in_f, c.out_f, &mut d_fc, &mut dx,
                    &mut dw, &mut db,
                )
                .unwrap();
                let seed_pre: &[f32] = if with_pre { &seed_pre } else { &[] };
                let fused = c.pullback([&seed, seed_pre, &[]]);
                let case = format!("{shape:?}, seed on pre: {with_pre}, {threads} thread(s)");
                for (name, (f, u)) in ["d_x", "d_w", "d_b"]
                    .iter()
                    .zip(fused.iter().zip([&dx, &dw, &db]))
                {
                    assert!(f == u, "{case}: {name} differs from the unfused pullbacks");
                }
                by_threads.push(fused);
            }
            assert!(
                by_threads[0] == by_threads[1],
                "{shape:?}: the adjoints depend on the thread count"
            );
        }
    }
    k::set_num_threads(1);
}

/// Central differences of `Σ r₁·out + Σ r₂·pre + Σ r₃·gate` (all three outputs seeded), and of
/// `Σ r·gate` alone (no seed on `out`: the pullback forms the gradient from `d_gate`).
#[test]
fn pullback_matches_finite_differences() {
    let mut rng = SplitMix64::new(0x6664);
    for threads in [1, 2] {
        k::set_num_threads(threads);
        for &(batch, in_f, out_f) in &SHAPES[..3] {
            let x = rng.vec(batch * in_f, -1.0, 1.0);
            let w = rng.vec(out_f * in_f, -1.0, 1.0);
            let b = rng.vec(out_f, -1.0, 1.0);
            let n = batch * out_f;
            let fwd = |xs: &[Vec<f32>], outs: &mut [f32]| {
                let (o, rest) = outs.split_at_mut(n);
                let (p, s) = rest.split_at_mut(n);
                k::linear_gelu(o, p, s, &xs[0], &xs[1], &xs[2], batch, in_f, out_f).unwrap();
                0.0
            };
            check_pullback(
                &format!("linear_gelu {batch}x{in_f}->{out_f}, all seeds, {threads} thread(s)"),
                &[x.clone(), w.clone(), b.clone()],
                3 * n,
                1e-2,
                3e-3,
                &fwd,
                &|xs, outs, _, d, adj| {
                    let (o, rest) = outs.split_at_mut(n);
                    let (p, s) = rest.split_at_mut(n);
                    let (d_out, rest) = d.split_at_mut(n);
                    let (d_pre, d_gate) = rest.split_at_mut(n);
                    let [dx, dw, db] = adj else { unreachable!() };
                    k::linear_gelu_pullback(
                        o, p, s, &xs[0], &xs[1], &xs[2], batch, in_f, out_f, d_out, d_pre, d_gate,
                        dx, dw, db,
                    )
                    .unwrap();
                },
            );
            check_pullback(
                &format!("linear_gelu {batch}x{in_f}->{out_f}, gate seed only"),
                &[x, w, b],
                n,
                1e-2,
                3e-3,
                &|xs, gate| {
                    let (mut o, mut p) = (vec![0.0; n], vec![0.0; n]);
                    k::linear_gelu(
                        &mut o, &mut p, gate, &xs[0], &xs[1], &xs[2], batch, in_f, out_f,
                    )
                    .unwrap();
                    0.0
                },
                &|xs, gate, _, d_gate, adj| {
                    let (mut o, mut p) = (vec![0.0; n], vec![0.0; n]);
                    k::linear_gelu(
                        &mut o, &mut p, gate, &xs[0], &xs[1], &xs[2], batch, in_f, out_f,
                    )
                    .unwrap();
                    let [dx, dw, db] = adj else { unreachable!() };
                    k::linear_gelu_pullback(
                        &mut o,
                        &mut p,
                        gate,
                        &xs[0],
                        &xs[1],
                        &xs[2],
                        batch,
                        in_f,
                        out_f,
                        &mut [],
                        &mut [],
                        d_gate,
                        dx,
                        dw,
                        db,
                    )
                    .unwrap();
                },
            );
        }
    }
    k::set_num_threads(1);
}

/// Zero adjoints of `pre` and `gate` (what a model hands over: nothing else reads them) give
/// the bits of empty ones; a single nonzero element in one of them is not skipped.
#[test]
fn zero_adjoints_of_pre_and_gate_are_skipped_but_not_a_single_seed() {
    let mut rng = SplitMix64::new(0x7a65_726f);
    for threads in [1, 2] {
        k::set_num_threads(threads);
        for shape in [(5, 7, 9), (300, 64, 257)] {
            let c = Case::new(&mut rng, shape);
            let n = c.n();
            let seed = rng.vec(n, -1.0, 1.0);
            let zeros = vec![0.0; n];
            let empty = c.pullback([&seed, &[], &[]]);
            assert!(
                c.pullback([&seed, &zeros, &zeros]) == empty,
                "{shape:?}: zero seeds"
            );
            let neg = vec![-0.0; n];
            assert!(
                c.pullback([&seed, &neg, &neg]) == empty,
                "{shape:?}: -0 seeds"
            );
            let mut one = zeros.clone();
            one[n - 1] = 0.5;
            for (i, seeds) in [[&seed[..], &one, &zeros], [&seed[..], &zeros, &one]]
                .into_iter()
                .enumerate()
            {
                let got = c.pullback(seeds);
                assert!(
                    got[2] != empty[2],
                    "{shape:?}: seed {i} on one element was skipped"
                );
            }
        }
    }
    k::set_num_threads(1);
}

/// A seed on the pre-activation alone is `linear`'s pullback of it, bit for bit.
#[test]
fn a_seed_on_pre_alone_is_linears_pullback() {
    let mut rng = SplitMix64::new(0x0070_7265);
    let c = Case::new(&mut rng, (9, 21, 14));
    let seed = rng.vec(c.n(), -1.0, 1.0);
    let fused = c.pullback([&[], &seed, &[]]);
    let (_, mut pre, _) = c.forward();
    let mut d = seed.clone();
    let (mut dx, mut dw, mut db) = (
        vec![0.0; c.x.len()],
        vec![0.0; c.w.len()],
        vec![0.0; c.b.len()],
    );
    k::linear_pullback(
        &mut pre, &c.x, &c.w, &c.b, c.batch, c.in_f, c.out_f, &mut d, &mut dx, &mut dw, &mut db,
    )
    .unwrap();
    assert!(fused == [dx, dw, db]);
    // No seed at all: nothing changes.
    assert!(c
        .pullback([&[], &[], &[]])
        .iter()
        .all(|a| a.iter().all(|&v| v == 0.0)));
}

fn len_err(r: Result<(), KernelError>, arg: &str) {
    match r {
        Err(KernelError::Length { arg: a, .. }) => assert_eq!(a, arg, "wrong argument blamed"),
        other => panic!("expected a Length error on `{arg}`, got {other:?}"),
    }
}

#[test]
fn wrong_lengths_are_errors_naming_the_argument() {
    let (batch, in_f, out_f) = (2, 3, 4);
    let (x, w, b) = (
        vec![0.5; batch * in_f],
        vec![0.5; out_f * in_f],
        vec![0.5; out_f],
    );
    let n = batch * out_f;
    let (mut o, mut p, mut s) = (vec![0.0; n], vec![0.0; n], vec![0.0; n]);
    len_err(
        k::linear_gelu(
            &mut o,
            &mut p[..n - 1],
            &mut s,
            &x,
            &w,
            &b,
            batch,
            in_f,
            out_f,
        ),
        "pre",
    );
    len_err(
        k::linear_gelu(&mut o, &mut p, &mut s[..1], &x, &w, &b, batch, in_f, out_f),
        "gate",
    );
    len_err(
        k::linear_gelu(&mut o, &mut p, &mut s, &x, &w, &b[..3], batch, in_f, out_f),
        "b",
    );
    k::linear_gelu(&mut o, &mut p, &mut s, &x, &w, &b, batch, in_f, out_f).unwrap();
    let mut pb = |d_out: &mut [f32], d_pre: &mut [f32], d_gate: &mut [f32], d_b: &mut [f32]| {
        k::linear_gelu_pullback(
            &mut o,
            &mut p,
            &mut s,
            &x,
            &w,
            &b,
            batch,
            in_f,
            out_f,
            d_out,
            d_pre,
            d_gate,
            &mut [],
            &mut [],
            d_b,
        )
    };
    len_err(pb(&mut [1.0; 7], &mut [], &mut [], &mut []), "d_out");
    len_err(pb(&mut [1.0; 8], &mut [1.0; 9], &mut [], &mut []), "d_pre");
    len_err(pb(&mut [1.0; 8], &mut [], &mut [1.0; 3], &mut []), "d_gate");
    len_err(pb(&mut [1.0; 8], &mut [], &mut [], &mut [0.0; 5]), "d_b");
    // An error changes nothing: the seed is still there.
    let mut d_out = [1.0; 8];
    len_err(pb(&mut d_out, &mut [], &mut [], &mut [0.0; 5]), "d_b");
    assert!(d_out.iter().all(|&v| v == 1.0));
}
