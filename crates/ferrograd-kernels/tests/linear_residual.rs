//! The fused `linear_residual` (`out = res + x·wᵀ + b`) against an f64 reference and against
//! the unfused pair `linear` → `add` (its pullbacks `add_pullback` → `linear_pullback` bit for
//! bit), its pullback against central finite differences, on one and two threads, and its
//! errors (empty adjoints: `tests/empty_adjoint.rs`).

use ferrograd_kernels::{self as k, KernelError};
use ferrograd_testkit::fd::check_pullback;
use ferrograd_testkit::{assert_close_1p, SplitMix64};

/// (batch, in_f, out_f): odd sizes, batch 1, and W4's two projections (512 rows, 128 → 128
/// and 512 → 128), where the passes split across threads.
const SHAPES: [(usize, usize, usize); 6] = [
    (1, 1, 1),
    (3, 5, 2),
    (8, 33, 17),
    (37, 40, 130),
    (512, 128, 128),
    (512, 512, 128),
];

struct Case {
    batch: usize,
    in_f: usize,
    out_f: usize,
    x: Vec<f32>,
    w: Vec<f32>,
    b: Vec<f32>,
    res: Vec<f32>,
}

impl Case {
    fn new(rng: &mut SplitMix64, (batch, in_f, out_f): (usize, usize, usize)) -> Case {
        let scale = 1.0 / (in_f as f32).sqrt();
        Case {
            batch,
            in_f,
            out_f,
            x: rng.vec(batch * in_f, -1.0, 1.0),
            w: rng.vec(out_f * in_f, -scale, scale),
            b: rng.vec(out_f, -1.0, 1.0),
            res: rng.vec(batch * out_f, -2.0, 2.0),
        }
    }

    fn forward(&self) -> Vec<f32> {
        let mut out = vec![0.0; self.batch * self.out_f];
        k::linear_residual(
            &mut out, &self.x, &self.w, &self.b, &self.res, self.batch, self.in_f, self.out_f,
        )
        .unwrap();
        out
    }

    /// The fused pullback's `[d_x, d_w, d_b, d_res]` from `seed`, starting from adjoints
    /// `start` (added into); checks that the seed was zeroed.
    fn pullback(&self, seed: &[f32], start: &[Vec<f32>; 4]) -> [Vec<f32>; 4] {
        let mut out = self.forward();
        let mut d_out = seed.to_vec();
        let [mut dx, mut dw, mut db, mut dr] = start.clone();
        k::linear_residual_pullback(
            &mut out, &self.x, &self.w, &self.b, &self.res, self.batch, self.in_f, self.out_f,
            &mut d_out, &mut dx, &mut dw, &mut db, &mut dr,
        )
        .unwrap();
        assert!(d_out.iter().all(|&v| v == 0.0), "d_out not zeroed");
        [dx, dw, db, dr]
    }
}

#[test]
fn forward_matches_the_reference_and_the_unfused_pair() {
    let mut rng = SplitMix64::new(0x7265_7369);
    for threads in [1, 2] {
        k::set_num_threads(threads);
        for shape in SHAPES {
            let c = Case::new(&mut rng, shape);
            let out = c.forward();
            let mut want = vec![0.0f64; out.len()];
            for r in 0..c.batch {
                for j in 0..c.out_f {
                    let dot: f64 = (0..c.in_f)
                        .map(|i| f64::from(c.x[r * c.in_f + i]) * f64::from(c.w[j * c.in_f + i]))
                        .sum();
                    want[r * c.out_f + j] =
                        f64::from(c.res[r * c.out_f + j]) + dot + f64::from(c.b[j]);
                }
            }
            let case = format!("{shape:?} on {threads} thread(s)");
            assert_close_1p(&format!("out {case}"), &out, &want, 1e-5);
            // The unfused pair rounds in another order: last bits only.
            let mut lin = vec![0.0; out.len()];
            k::linear(&mut lin, &c.x, &c.w, &c.b, c.batch, c.in_f, c.out_f).unwrap();
            let mut sum = vec![0.0; out.len()];
            k::add(&mut sum, &c.res, &lin).unwrap();
            let sum64: Vec<f64> = sum.iter().map(|&v| f64::from(v)).collect();
            assert_close_1p(&format!("out vs linear + add {case}"), &out, &sum64, 1e-6);
        }
    }
    k::set_num_threads(1);
}

/// The adjoints, added into nonzero ones, are those of `add_pullback` then `linear_pullback`
/// bit for bit, on one and on two threads, and the same on both.
#[test]
fn pullback_has_the_unfused_pairs_bits() {
    let mut rng = SplitMix64::new(0x6269_7473);
    for shape in SHAPES {
        let c = Case::new(&mut rng, shape);
        let seed = rng.vec(c.batch * c.out_f, -1.0, 1.0);
        let start = [
            rng.vec(c.x.len(), -1.0, 1.0),
            rng.vec(c.w.len(), -1.0, 1.0),
            rng.vec(c.b.len(), -1.0, 1.0),
            rng.vec(c.res.len(), -1.0, 1.0),
        ];
        let mut by_threads = Vec::new();
        for threads in [1, 2] {
            k::set_num_threads(threads);
            // Unfused: `proj = linear(..)`, `out = res + proj`.
            let mut proj = vec![0.0; seed.len()];
            k::linear(&mut proj, &c.x, &c.w, &c.b, c.batch, c.in_f, c.out_f).unwrap();
            let mut out = vec![0.0; seed.len()];
            k::add(&mut out, &c.res, &proj).unwrap();
            let [mut dx, mut dw, mut db, mut dr] = start.clone();
            let mut d_proj = vec![0.0; seed.len()];
            let mut d_out = seed.clone();
            k::add_pullback(&mut out, &c.res, &proj, &mut d_out, &mut dr, &mut d_proj).unwrap();
            k::linear_pullback(
                &mut proj,
                &c.x,
                &c.w,
                &c.b,
                c.batch,
                c.in_f,
                c.out_f,
                &mut d_proj,
                &mut dx,
                &mut dw,
                &mut db,
            )
            .unwrap();
            let fused = c.pullback(&seed, &start);
            let case = format!("{shape:?}, {threads} thread(s)");
            for (name, (f, u)) in ["d_x", "d_w", "d_b", "d_res"]
                .iter()
                .zip(fused.iter().zip([&dx, &dw, &db, &dr]))
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
    k::set_num_threads(1);
}

#[test]
fn pullback_matches_finite_differences() {
    let mut rng = SplitMix64::new(0x6664_7273);
    for threads in [1, 2] {
        k::set_num_threads(threads);
        for &(batch, in_f, out_f) in &SHAPES[..4] {
            let inputs = [
                rng.vec(batch * in_f, -1.0, 1.0),
                rng.vec(out_f * in_f, -1.0, 1.0),
                rng.vec(out_f, -1.0, 1.0),
                rng.vec(batch * out_f, -1.0, 1.0),
            ];
            check_pullback(
                &format!("linear_residual {batch}x{in_f}->{out_f}, {threads} thread(s)"),
                &inputs,
                batch * out_f,
                1e-2,
                3e-3,
                &|xs, out| {
                    k::linear_residual(out, &xs[0], &xs[1], &xs[2], &xs[3], batch, in_f, out_f)
                        .unwrap();
                    0.0
                },
                &|xs, out, _, d_out, adj| {
                    let [dx, dw, db, dr] = adj else {
                        unreachable!()
                    };
                    k::linear_residual_pullback(
                        out, &xs[0], &xs[1], &xs[2], &xs[3], batch, in_f, out_f, d_out, dx, dw, db,
                        dr,
                    )
                    .unwrap();
                },
            );
        }
    }
    k::set_num_threads(1);
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
    let (x, w, b, res) = (
        vec![0.5; batch * in_f],
        vec![0.5; out_f * in_f],
        vec![0.5; out_f],
        vec![0.5; batch * out_f],
    );
    let mut o = vec![0.0; batch * out_f];
    len_err(
        k::linear_residual(&mut o, &x, &w, &b, &res[..7], batch, in_f, out_f),
        "res",
    );
    len_err(
        k::linear_residual(&mut o, &x, &w[..11], &b, &res, batch, in_f, out_f),
        "w",
    );
    len_err(
        k::linear_residual(&mut o[..7], &x, &w, &b, &res, batch, in_f, out_f),
        "out",
    );
    k::linear_residual(&mut o, &x, &w, &b, &res, batch, in_f, out_f).unwrap();
    let mut pb = |d_out: &mut [f32], d_b: &mut [f32], d_res: &mut [f32]| {
        k::linear_residual_pullback(
            &mut o,
            &x,
            &w,
            &b,
            &res,
            batch,
            in_f,
            out_f,
            d_out,
            &mut [],
            &mut [],
            d_b,
            d_res,
        )
    };
    len_err(pb(&mut [1.0; 7], &mut [], &mut []), "d_out");
    len_err(pb(&mut [1.0; 8], &mut [0.0; 5], &mut []), "d_b");
    // An error changes nothing: the seed is still there.
    let mut d_out = [1.0; 8];
    len_err(pb(&mut d_out, &mut [], &mut [0.0; 9]), "d_res");
    assert!(d_out.iter().all(|&v| v == 1.0));
}
