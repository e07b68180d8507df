//! Every `ferrograd_kernels` kernel against LibTorch's own implementation (f32, CPU).
//!
//! For each kernel and each case: the forward's values against the LibTorch op on the same
//! data, then the pullback against LibTorch autograd (`torch::autograd::grad`) with the same
//! random upstream gradient, for every differentiable input. Shapes come from a seeded
//! SplitMix64 and include odd sizes (1, 3, 7, 13) and batch 1; conv1d and the pools run
//! several stride / padding / dilation combinations, including tiling pools and windows that
//! overlap or skip input. Every pullback is also checked against the kernel contract
//! (`crates/ferrograd-kernels/README.md`): the output adjoint is zeroed, input adjoints
//! accumulate (a second call gives twice the gradient) and an empty adjoint skips that input
//! while the other gradients stay the same. `dropout`'s RNG is not LibTorch's, so its test
//! checks semantics instead: output and gradient against LibTorch ops applied with the
//! kernel's own mask, and the keep rate and scale against `1 − p` and LibTorch's dropout.
//!
//! Error measure per buffer: `max|got − want| / (1 + max|want|)`. The worst value seen per
//! kernel and quantity is printed: `cargo test -p ferrograd-torch --test kernels_vs_libtorch
//! -- --nocapture`.

use std::collections::BTreeMap;

use ferrograd_kernels::{self as k, Conv1dDims, KernelError, Pool1dDims};
use ferrograd_testkit::SplitMix64;
use ferrograd_torch::tch::{Device, Kind, Reduction, Tensor};
use ferrograd_torch::{grad, GradOptions};

/// Tolerance of [`rel_err`] for every comparison except the ones noted at their use.
const TOL: f64 = 1e-5;

// ---------------------------------------------------------------------------------------------
// Shared helpers
// ---------------------------------------------------------------------------------------------

fn shape_i64(shape: &[usize]) -> Vec<i64> {
    shape.iter().map(|&d| d as i64).collect()
}

/// An f32 tensor holding a copy of `data`, reshaped.
fn tensor(data: &[f32], shape: &[usize]) -> Tensor {
    Tensor::from_slice(data).reshape(shape_i64(shape))
}

/// Like [`tensor`], as a leaf that requires grad.
fn leaf(data: &[f32], shape: &[usize]) -> Tensor {
    tensor(data, shape).set_requires_grad(true)
}

/// A 0-dim f32 tensor.
fn scalar(v: f32) -> Tensor {
    Tensor::from_slice(&[v]).squeeze()
}

/// An i64 index tensor.
fn indices(ids: &[usize], shape: &[usize]) -> Tensor {
    let ids: Vec<i64> = ids.iter().map(|&i| i as i64).collect();
    Tensor::from_slice(&ids).reshape(shape_i64(shape))
}

/// A tensor's elements, flattened, as f32.
fn values(t: &Tensor) -> Vec<f32> {
    let flat = t.detach().to_kind(Kind::Float).flatten(0, -1);
    Vec::<f32>::try_from(&flat).expect("tensor to Vec<f32>")
}

/// LibTorch autograd: `d(Σᵢ ⟨outputsᵢ, upstreamᵢ⟩) / d inputsⱼ`, flattened.
fn torch_grads(outputs: &[&Tensor], upstream: &[&Tensor], inputs: &[&Tensor]) -> Vec<Vec<f32>> {
    grad(outputs, inputs, upstream, GradOptions::default())
        .expect("LibTorch autograd")
        .into_iter()
        .map(|g| values(&g.expect("every input is used")))
        .collect()
}

/// `max|got − want| / (1 + max|want|)`; infinite when any difference is NaN.
fn rel_err(got: &[f32], want: &[f32]) -> (f64, usize) {
    let scale = 1.0 + want.iter().fold(0.0f64, |m, &w| m.max(f64::from(w).abs()));
    let mut worst = (0.0f64, 0usize);
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        let d = (f64::from(g) - f64::from(w)).abs();
        if d.is_nan() {
            return (f64::INFINITY, i);
        }
        if d > worst.0 {
            worst = (d, i);
        }
    }
    (worst.0 / scale, worst.1)
}

/// Worst [`rel_err`] per quantity (e.g. `"linear d_w"`), printed at the end of a test.
#[derive(Default)]
struct Tally {
    /// Per quantity: worst error, largest tolerance used, worst error / tolerance.
    worst: BTreeMap<String, [f64; 3]>,
}

impl Tally {
    /// Asserts `rel_err(got, want) <= tol` and records the error under `what`.
    fn check(&mut self, what: &str, case: &str, got: &[f32], want: &[f32], tol: f64) {
        assert_eq!(got.len(), want.len(), "{what} [{case}]: length");
        let (err, at) = rel_err(got, want);
        let slot = self.worst.entry(what.to_string()).or_default();
        slot[0] = slot[0].max(err);
        slot[1] = slot[1].max(tol);
        if tol > 0.0 {
            slot[2] = slot[2].max(err / tol);
        }
        assert!(
            err <= tol,
            "{what} [{case}]: error {err:.3e} > {tol:.1e} at element {at}: got {}, LibTorch {}",
            got[at],
            want[at]
        );
    }

    fn print(&self, test: &str) {
        println!("{test}: worst max|got − want| / (1 + max|want|)");
        for (what, [err, tol, ratio]) in &self.worst {
            println!("  {what:<36} {err:.2e}  (tol up to {tol:.1e}, worst err/tol {ratio:.3})");
        }
    }
}

/// Checks a pullback against LibTorch's gradients `want` (one per differentiable input, named
/// `names`). `pullback(d_out, adjoints)` must run the kernel's pullback with `d_out` as the
/// output adjoint and `adjoints[i]` as input `i`'s adjoint (an empty `Vec` = not needed).
/// 1. Adjoints start at zero and `d_out` holds `seed`: each adjoint ≈ `want`, `d_out` is zeroed.
/// 2. A second call with `d_out = seed` accumulates: each adjoint ≈ 2·`want`.
/// 3. For each input `i`, with adjoint `i` empty, the others still ≈ `want`.
///
/// `seed` may be empty (no output adjoint, or a zero seed).
#[allow(clippy::too_many_arguments)]
fn check_pullback<F>(
    tally: &mut Tally,
    kernel: &str,
    case: &str,
    seed: &[f32],
    names: &[&str],
    want: &[Vec<f32>],
    tol: f64,
    mut pullback: F,
) where
    F: FnMut(&mut [f32], &mut [Vec<f32>]) -> Result<(), KernelError>,
{
    assert_eq!(names.len(), want.len());
    let zeros = || -> Vec<Vec<f32>> { want.iter().map(|w| vec![0.0; w.len()]).collect() };
    let mut run = |d_out: &mut Vec<f32>, adj: &mut Vec<Vec<f32>>, step: &str| {
        d_out.clear();
        d_out.extend_from_slice(seed);
        pullback(d_out, adj).unwrap_or_else(|e| panic!("{kernel} [{case}] {step}: {e}"));
        assert!(
            d_out.iter().all(|&v| v == 0.0),
            "{kernel} [{case}] {step}: d_out was not zeroed"
        );
    };
    let mut d_out = Vec::with_capacity(seed.len());

    let mut adj = zeros();
    run(&mut d_out, &mut adj, "first call");
    for ((name, got), w) in names.iter().zip(&adj).zip(want) {
        tally.check(&format!("{kernel} {name}"), case, got, w, tol);
    }

    run(&mut d_out, &mut adj, "second call");
    for ((name, got), w) in names.iter().zip(&adj).zip(want) {
        let twice: Vec<f32> = w.iter().map(|v| 2.0 * v).collect();
        let case = format!("{case}, accumulated twice");
        tally.check(&format!("{kernel} {name}"), &case, got, &twice, tol);
    }

    for skip in 0..want.len() {
        let mut adj = zeros();
        adj[skip] = Vec::new();
        run(&mut d_out, &mut adj, &format!("{} empty", names[skip]));
        for (i, ((name, got), w)) in names.iter().zip(&adj).zip(want).enumerate() {
            if i == skip {
                assert!(got.is_empty());
            } else {
                let case = format!("{case}, {} empty", names[skip]);
                tally.check(&format!("{kernel} {name}"), &case, got, w, tol);
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// One case per kernel family (shared by the per-family tests and the multi-thread test)
// ---------------------------------------------------------------------------------------------

type MatmulFn = fn(&mut [f32], &[f32], &[f32], usize, usize, usize) -> Result<(), KernelError>;
type MatmulPullbackFn = fn(
    &mut [f32],
    &[f32],
    &[f32],
    usize,
    usize,
    usize,
    &mut [f32],
    &mut [f32],
    &mut [f32],
) -> Result<(), KernelError>;

/// `(name, forward, pullback, a stored transposed, b stored transposed)`.
const MATMULS: [(&str, MatmulFn, MatmulPullbackFn, bool, bool); 3] = [
    ("matmul", k::matmul, k::matmul_pullback, false, false),
    (
        "matmul_nt",
        k::matmul_nt,
        k::matmul_nt_pullback,
        false,
        true,
    ),
    (
        "matmul_tn",
        k::matmul_tn,
        k::matmul_tn_pullback,
        true,
        false,
    ),
];

/// All three matmul variants for `out [m, n] = op(a) · op(b)` against `Tensor::matmul` of the
/// (transposed) tensors.
fn matmul_case(tally: &mut Tally, rng: &mut SplitMix64, m: usize, kk: usize, n: usize) {
    for (name, forward, pullback, ta, tb) in MATMULS {
        let case = format!("m={m} k={kk} n={n}");
        let a = rng.vec(m * kk, -1.0, 1.0);
        let b = rng.vec(kk * n, -1.0, 1.0);
        let at = leaf(&a, &if ta { [kk, m] } else { [m, kk] });
        let bt = leaf(&b, &if tb { [n, kk] } else { [kk, n] });
        let op_a = if ta { at.tr() } else { at.shallow_clone() };
        let op_b = if tb { bt.tr() } else { bt.shallow_clone() };
        let yt = op_a.matmul(&op_b);

        let mut out = vec![0.0; m * n];
        forward(&mut out, &a, &b, m, kk, n).unwrap();
        tally.check(&format!("{name} value"), &case, &out, &values(&yt), TOL);

        let seed = rng.vec(m * n, -1.0, 1.0);
        let want = torch_grads(&[&yt], &[&tensor(&seed, &[m, n])], &[&at, &bt]);
        check_pullback(
            tally,
            name,
            &case,
            &seed,
            &["d_a", "d_b"],
            &want,
            TOL,
            |d, g| {
                let [da, db] = g else { unreachable!() };
                pullback(&mut out, &a, &b, m, kk, n, d, da, db)
            },
        );
    }
}

/// `linear` (+ bias) against `Tensor::linear`; then the input-layer use, `d_x = &mut []`
/// with `x` a constant in LibTorch's graph too.
fn linear_case(tally: &mut Tally, rng: &mut SplitMix64, batch: usize, in_f: usize, out_f: usize) {
    let case = format!("batch={batch} in={in_f} out={out_f}");
    let x = rng.vec(batch * in_f, -1.0, 1.0);
    let w = rng.vec(out_f * in_f, -0.5, 0.5);
    let b = rng.vec(out_f, -1.0, 1.0);
    let (xt, wt, bt) = (
        leaf(&x, &[batch, in_f]),
        leaf(&w, &[out_f, in_f]),
        leaf(&b, &[out_f]),
    );
    let yt = xt.linear(&wt, Some(&bt));
    let mut out = vec![0.0; batch * out_f];
    k::linear(&mut out, &x, &w, &b, batch, in_f, out_f).unwrap();
    tally.check("linear value", &case, &out, &values(&yt), TOL);

    let seed = rng.vec(batch * out_f, -1.0, 1.0);
    let seed_t = tensor(&seed, &[batch, out_f]);
    let want = torch_grads(&[&yt], &[&seed_t], &[&xt, &wt, &bt]);
    check_pullback(
        tally,
        "linear",
        &case,
        &seed,
        &["d_x", "d_w", "d_b"],
        &want,
        TOL,
        |d, g| {
            let [dx, dw, db] = g else { unreachable!() };
            k::linear_pullback(&mut out, &x, &w, &b, batch, in_f, out_f, d, dx, dw, db)
        },
    );

    // Input layer: LibTorch never differentiates w.r.t. the data, the kernel gets `&mut []`.
    let (wt, bt) = (leaf(&w, &[out_f, in_f]), leaf(&b, &[out_f]));
    let yt = tensor(&x, &[batch, in_f]).linear(&wt, Some(&bt));
    let want = torch_grads(&[&yt], &[&seed_t], &[&wt, &bt]);
    let (mut dw, mut db, mut d_out) = (vec![0.0; w.len()], vec![0.0; b.len()], seed.clone());
    k::linear_pullback(
        &mut out,
        &x,
        &w,
        &b,
        batch,
        in_f,
        out_f,
        &mut d_out,
        &mut [],
        &mut dw,
        &mut db,
    )
    .unwrap();
    let case = format!("{case}, constant x, d_x = &mut []");
    tally.check("linear d_w", &case, &dw, &want[0], TOL);
    tally.check("linear d_b", &case, &db, &want[1], TOL);
    assert!(d_out.iter().all(|&v| v == 0.0), "linear [{case}]: d_out");
}

/// `linear_gelu` against `Tensor::linear` then `gelu("tanh")`: the three outputs, the
/// pullback seeded on `out` (the adjoints of `pre` and `gate` empty),
/// and seeded on all three outputs against LibTorch's gradients of `Σ r₁·out + Σ r₂·pre +
/// Σ r₃·gate`.
/// `linear_residual` against `res + x.linear(w, b)` and LibTorch autograd (all four inputs).
fn linear_residual_case(
    tally: &mut Tally,
    rng: &mut SplitMix64,
    batch: usize,
    in_f: usize,
    out_f: usize,
) {
    let case = format!("batch={batch} in={in_f} out={out_f}");
    let x = rng.vec(batch * in_f, -1.0, 1.0);
    let scale = 1.0 / (in_f as f32).sqrt();
    let w = rng.vec(out_f * in_f, -scale, scale);
    let b = rng.vec(out_f, -1.0, 1.0);
    let res = rng.vec(batch * out_f, -2.0, 2.0);
    let xt = leaf(&x, &[batch, in_f]);
    let wt = leaf(&w, &[out_f, in_f]);
    let bt = leaf(&b, &[out_f]);
    let rt = leaf(&res, &[batch, out_f]);
    let yt = &rt + xt.linear(&wt, Some(&bt));
    let n = batch * out_f;
    let mut out = vec![0.0; n];
    k::linear_residual(&mut out, &x, &w, &b, &res, batch, in_f, out_f).unwrap();
    tally.check("linear_residual value", &case, &out, &values(&yt), TOL);
    let seed = rng.vec(n, -1.0, 1.0);
    let want = torch_grads(
        &[&yt],
        &[&tensor(&seed, &[batch, out_f])],
        &[&xt, &wt, &bt, &rt],
    );
    check_pullback(
        tally,
        "linear_residual",
        &case,
        &seed,
        &["d_x", "d_w", "d_b", "d_res"],
        &want,
        TOL,
        |d, g| {
            let [dx, dw, db, dr] = g else { unreachable!() };
            k::linear_residual_pullback(
                &mut out, &x, &w, &b, &res, batch, in_f, out_f, d, dx, dw, db, dr,
            )
        },
    );
}

fn linear_gelu_case(
    tally: &mut Tally,
    rng: &mut SplitMix64,
    batch: usize,
    in_f: usize,
    out_f: usize,
) {
    let case = format!("batch={batch} in={in_f} out={out_f}");
    let x = rng.vec(batch * in_f, -1.0, 1.0);
    let scale = 2.0 / (in_f as f32).sqrt();
    let w = rng.vec(out_f * in_f, -scale, scale);
    let b = rng.vec(out_f, -1.0, 1.0);
    // LibTorch's graph, built afresh for each backward: `[x, w, b]`, then `[pre, out, gate]`.
    let graph = || {
        let leaves = [
            leaf(&x, &[batch, in_f]),
            leaf(&w, &[out_f, in_f]),
            leaf(&b, &[out_f]),
        ];
        let pre_t = leaves[0].linear(&leaves[1], Some(&leaves[2]));
        let yt = pre_t.gelu("tanh");
        let u =
            (&pre_t + pre_t.pow_tensor_scalar(3) * 0.044715) * (2.0 / std::f64::consts::PI).sqrt();
        let gate_t = (u.tanh() + 1.0) * 0.5;
        (leaves, [pre_t, yt, gate_t])
    };
    let ([xt, wt, bt], [pre_t, yt, gate_t]) = graph();
    let n = batch * out_f;
    let (mut out, mut pre, mut gate) = (vec![0.0; n], vec![0.0; n], vec![0.0; n]);
    k::linear_gelu(
        &mut out, &mut pre, &mut gate, &x, &w, &b, batch, in_f, out_f,
    )
    .unwrap();
    tally.check("linear_gelu value", &case, &out, &values(&yt), TOL);
    tally.check("linear_gelu pre", &case, &pre, &values(&pre_t), TOL);
    tally.check("linear_gelu gate", &case, &gate, &values(&gate_t), TOL);

    let seed = rng.vec(n, -1.0, 1.0);
    let seed_t = tensor(&seed, &[batch, out_f]);
    let want = torch_grads(&[&yt], &[&seed_t], &[&xt, &wt, &bt]);
    check_pullback(
        tally,
        "linear_gelu",
        &case,
        &seed,
        &["d_x", "d_w", "d_b"],
        &want,
        TOL,
        |d, g| {
            let [dx, dw, db] = g else { unreachable!() };
            k::linear_gelu_pullback(
                &mut out,
                &mut pre,
                &mut gate,
                &x,
                &w,
                &b,
                batch,
                in_f,
                out_f,
                d,
                &mut [],
                &mut [],
                dx,
                dw,
                db,
            )
        },
    );

    let (s_pre, s_gate) = (rng.vec(n, -1.0, 1.0), rng.vec(n, -1.0, 1.0));
    let ([xt, wt, bt], [pre_t, yt, gate_t]) = graph();
    let want = torch_grads(
        &[&yt, &pre_t, &gate_t],
        &[
            &seed_t,
            &tensor(&s_pre, &[batch, out_f]),
            &tensor(&s_gate, &[batch, out_f]),
        ],
        &[&xt, &wt, &bt],
    );
    let (mut d_pre, mut d_gate, mut d_out) = (s_pre, s_gate, seed);
    let mut adj = [vec![0.0; x.len()], vec![0.0; w.len()], vec![0.0; b.len()]];
    let [dx, dw, db] = &mut adj;
    k::linear_gelu_pullback(
        &mut out,
        &mut pre,
        &mut gate,
        &x,
        &w,
        &b,
        batch,
        in_f,
        out_f,
        &mut d_out,
        &mut d_pre,
        &mut d_gate,
        dx,
        dw,
        db,
    )
    .unwrap();
    let case = format!("{case}, seeds on out, pre and gate");
    for ((name, got), w) in ["d_x", "d_w", "d_b"].iter().zip(&adj).zip(&want) {
        tally.check(&format!("linear_gelu {name}"), &case, got, w, TOL);
    }
    for (name, s) in [("d_out", &d_out), ("d_pre", &d_pre), ("d_gate", &d_gate)] {
        assert!(
            s.iter().all(|&v| v == 0.0),
            "linear_gelu [{case}]: {name} not zeroed"
        );
    }
}

type UnaryFn = Box<dyn Fn(&mut [f32], &[f32]) -> Result<(), KernelError>>;
type UnaryPullbackFn =
    Box<dyn Fn(&mut [f32], &[f32], &mut [f32], &mut [f32]) -> Result<(), KernelError>>;
type TorchUnary = Box<dyn Fn(&Tensor) -> Tensor>;

/// An element-wise activation: kernel forward, kernel pullback, LibTorch op.
struct Activation {
    name: String,
    forward: UnaryFn,
    pullback: UnaryPullbackFn,
    torch: TorchUnary,
}

fn activations() -> Vec<Activation> {
    let mut acts = vec![
        Activation {
            name: "relu".into(),
            forward: Box::new(k::relu),
            pullback: Box::new(k::relu_pullback),
            torch: Box::new(Tensor::relu),
        },
        Activation {
            name: "gelu".into(),
            forward: Box::new(k::gelu),
            pullback: Box::new(k::gelu_pullback),
            torch: Box::new(|x| x.gelu("tanh")),
        },
        Activation {
            name: "tanh".into(),
            forward: Box::new(k::tanh),
            pullback: Box::new(k::tanh_pullback),
            torch: Box::new(Tensor::tanh),
        },
        Activation {
            name: "sigmoid".into(),
            forward: Box::new(k::sigmoid),
            pullback: Box::new(k::sigmoid_pullback),
            torch: Box::new(Tensor::sigmoid),
        },
        // tch's `leaky_relu` has PyTorch's default slope 0.01.
        Activation {
            name: "leaky_relu(0.01)".into(),
            forward: Box::new(|o, x| k::leaky_relu(o, x, 0.01)),
            pullback: Box::new(|o, x, d, g| k::leaky_relu_pullback(o, x, 0.01, d, g)),
            torch: Box::new(Tensor::leaky_relu),
        },
    ];
    // Other slopes: LibTorch's `prelu` with a single (constant) weight is leaky ReLU.
    for slope in [0.2f32, -0.3, 1.5] {
        acts.push(Activation {
            name: format!("leaky_relu({slope})"),
            forward: Box::new(move |o, x| k::leaky_relu(o, x, slope)),
            pullback: Box::new(move |o, x, d, g| k::leaky_relu_pullback(o, x, slope, d, g)),
            torch: Box::new(move |x| x.prelu(&Tensor::from_slice(&[slope]))),
        });
    }
    acts
}

/// Activation inputs in `[-4, 4]`, with exact zeros (ReLU's kink: LibTorch's convention is
/// gradient 0 at 0) and saturating values of magnitude 10–30 mixed in.
fn activation_input(rng: &mut SplitMix64, n: usize) -> Vec<f32> {
    (0..n)
        .map(|_| match rng.below(20) {
            0 | 1 => 0.0,
            2 => rng.uniform(10.0, 30.0),
            3 => -rng.uniform(10.0, 30.0),
            _ => rng.uniform(-4.0, 4.0),
        })
        .collect()
}

fn activation_case(
    tally: &mut Tally,
    rng: &mut SplitMix64,
    act: &Activation,
    rows: usize,
    cols: usize,
) {
    let case = format!("[{rows}, {cols}]");
    let n = rows * cols;
    let x = activation_input(rng, n);
    let xt = leaf(&x, &[rows, cols]);
    let yt = (act.torch)(&xt);
    let mut out = vec![0.0; n];
    (act.forward)(&mut out, &x).unwrap();
    tally.check(
        &format!("{} value", act.name),
        &case,
        &out,
        &values(&yt),
        TOL,
    );

    let seed = rng.vec(n, -1.0, 1.0);
    let seed_t = tensor(&seed, &[rows, cols]);
    let want = torch_grads(&[&yt], &[&seed_t], &[&xt]);
    check_pullback(
        tally,
        &act.name,
        &case,
        &seed,
        &["d_x"],
        &want,
        TOL,
        |d, g| {
            let [dx] = g else { unreachable!() };
            (act.pullback)(&mut out, &x, d, dx)
        },
    );
}

/// A convolution's random inputs (x in ±1, w in ±0.5, b in ±`b_max`), their LibTorch
/// leaves, and LibTorch's convolution of them.
struct ConvData {
    x: Vec<f32>,
    w: Vec<f32>,
    b: Vec<f32>,
    xt: Tensor,
    wt: Tensor,
    bt: Tensor,
    yt: Tensor,
}

fn conv_data(rng: &mut SplitMix64, d: &Conv1dDims, b_max: f32) -> ConvData {
    let x = rng.vec(d.batch * d.c_in * d.len_in, -1.0, 1.0);
    let w = rng.vec(d.c_out * d.c_in * d.kernel, -0.5, 0.5);
    let b = rng.vec(d.c_out, -b_max, b_max);
    let xt = leaf(&x, &[d.batch, d.c_in, d.len_in]);
    let wt = leaf(&w, &[d.c_out, d.c_in, d.kernel]);
    let bt = leaf(&b, &[d.c_out]);
    let yt = xt.conv1d(
        &wt,
        Some(&bt),
        d.stride as i64,
        d.padding as i64,
        d.dilation as i64,
        1,
    );
    ConvData {
        x,
        w,
        b,
        xt,
        wt,
        bt,
        yt,
    }
}

fn conv1d_case(tally: &mut Tally, rng: &mut SplitMix64, dims: Conv1dDims) {
    let d = dims;
    let len_out = d.len_out().unwrap();
    let case = format!("{d:?}");
    let ConvData {
        x,
        w,
        b,
        xt,
        wt,
        bt,
        yt,
    } = conv_data(rng, &d, 1.0);
    assert_eq!(yt.size(), shape_i64(&[d.batch, d.c_out, len_out]), "{case}");
    let mut out = vec![0.0; d.batch * d.c_out * len_out];
    k::conv1d(&mut out, &x, &w, &b, dims).unwrap();
    tally.check("conv1d value", &case, &out, &values(&yt), TOL);

    let seed = rng.vec(out.len(), -1.0, 1.0);
    let seed_t = tensor(&seed, &[d.batch, d.c_out, len_out]);
    let want = torch_grads(&[&yt], &[&seed_t], &[&xt, &wt, &bt]);
    check_pullback(
        tally,
        "conv1d",
        &case,
        &seed,
        &["d_x", "d_w", "d_b"],
        &want,
        TOL,
        |dy, g| {
            let [dx, dw, db] = g else { unreachable!() };
            k::conv1d_pullback(&mut out, &x, &w, &b, dims, dy, dx, dw, db)
        },
    );
}

/// `conv1d_relu_max_pool1d` against `x.conv1d(w, b).relu().max_pool1d_with_indices(..)`
/// (values, argmax, gradients of x, w and b). Returns whether the gradients were compared
/// (not where a near tie went the other way in LibTorch).
fn conv_relu_max_pool_case(
    tally: &mut Tally,
    rng: &mut SplitMix64,
    c: Conv1dDims,
    (pk, ps, pp): (usize, usize, usize),
) -> bool {
    let len_conv = c.len_out().unwrap();
    let p = pool_dims(c.batch, c.c_out, len_conv, pk, ps, pp);
    let len_out = p.len_out().unwrap();
    let case = format!("{c:?} {p:?}");
    let ConvData {
        x,
        w,
        b,
        xt,
        wt,
        bt,
        yt: conv,
    } = conv_data(rng, &c, 0.3);
    let (yt, idx) = conv
        .relu()
        .max_pool1d_with_indices(pk as i64, ps as i64, pp as i64, 1, false);
    let mut out = vec![0.0; p.rows * len_out];
    let mut argmax = vec![usize::MAX; out.len()];
    k::conv1d_relu_max_pool1d(&mut out, &x, &w, &b, &mut argmax, c, p).unwrap();
    tally.check(
        "conv1d_relu_max_pool1d value",
        &case,
        &out,
        &values(&yt),
        TOL,
    );
    // Where LibTorch's convolution rounds differently, a near tie can go the other way: the
    // indices are compared where the winning values are apart by more than rounding.
    let want_idx = Vec::<i64>::try_from(&idx.flatten(0, -1)).unwrap();
    let conv_vals = values(&conv.relu());
    let mut differ = 0;
    for (i, (&got, &want)) in argmax.iter().zip(&want_idx).enumerate() {
        if got as i64 != want {
            let row = i / len_out * len_conv;
            let (a, b) = (conv_vals[row + got], conv_vals[row + want as usize]);
            assert!(
                (a - b).abs() <= 1e-5 * (1.0 + a.abs()),
                "conv1d_relu_max_pool1d argmax [{case}] at {i}: {got} ({a}) vs {want} ({b})"
            );
            differ += 1;
        }
    }
    assert!(differ * 100 <= argmax.len(), "{differ} ties in [{case}]");
    if differ > 0 {
        // The gradients follow the winners: compare them only where every winner agrees.
        return false;
    }
    let seed = rng.vec(out.len(), -1.0, 1.0);
    let seed_t = tensor(&seed, &[c.batch, c.c_out, len_out]);
    let want = torch_grads(&[&yt], &[&seed_t], &[&xt, &wt, &bt]);
    check_pullback(
        tally,
        "conv1d_relu_max_pool1d",
        &case,
        &seed,
        &["d_x", "d_w", "d_b"],
        &want,
        TOL,
        |dy, g| {
            let [dx, dw, db] = g else { unreachable!() };
            k::conv1d_relu_max_pool1d_pullback(
                &mut out,
                &x,
                &w,
                &b,
                &mut argmax,
                c,
                p,
                dy,
                dx,
                dw,
                db,
            )
        },
    );
    true
}

/// Pool dims for an `x: [batch, channels, len_in]` tensor.
fn pool_dims(
    batch: usize,
    channels: usize,
    len_in: usize,
    kernel: usize,
    stride: usize,
    padding: usize,
) -> Pool1dDims {
    Pool1dDims {
        rows: batch * channels,
        len_in,
        kernel,
        stride,
        padding,
    }
}

/// `max_pool1d` against `Tensor::max_pool1d_with_indices` (values, argmax, gradient); with
/// `relu`, `relu_max_pool1d` against `x.relu()` then the same.
fn max_pool_case(
    tally: &mut Tally,
    rng: &mut SplitMix64,
    batch: usize,
    channels: usize,
    d: Pool1dDims,
    relu: bool,
) {
    let name = if relu {
        "relu_max_pool1d"
    } else {
        "max_pool1d"
    };
    let len_out = d.len_out().unwrap();
    let case = format!("batch={batch} channels={channels} {d:?}");
    let x = rng.vec(d.rows * d.len_in, -1.0, 1.0);
    let xt = leaf(&x, &[batch, channels, d.len_in]);
    let input = if relu { xt.relu() } else { xt.shallow_clone() };
    let (yt, idx) =
        input.max_pool1d_with_indices(d.kernel as i64, d.stride as i64, d.padding as i64, 1, false);
    assert_eq!(yt.size(), shape_i64(&[batch, channels, len_out]), "{case}");
    let mut out = vec![0.0; d.rows * len_out];
    let mut argmax = vec![usize::MAX; out.len()];
    if relu {
        k::relu_max_pool1d(&mut out, &x, &mut argmax, d).unwrap();
    } else {
        k::max_pool1d(&mut out, &x, &mut argmax, d).unwrap();
    }
    tally.check(&format!("{name} value"), &case, &out, &values(&yt), TOL);
    let want_idx = Vec::<i64>::try_from(&idx.flatten(0, -1)).unwrap();
    let got_idx: Vec<i64> = argmax.iter().map(|&j| j as i64).collect();
    assert_eq!(got_idx, want_idx, "{name} argmax [{case}]");

    let seed = rng.vec(out.len(), -1.0, 1.0);
    let want = torch_grads(
        &[&yt],
        &[&tensor(&seed, &[batch, channels, len_out])],
        &[&xt],
    );
    check_pullback(tally, name, &case, &seed, &["d_x"], &want, TOL, |dy, g| {
        let [dx] = g else { unreachable!() };
        if relu {
            k::relu_max_pool1d_pullback(&mut out, &x, &mut argmax, d, dy, dx)
        } else {
            k::max_pool1d_pullback(&mut out, &x, &mut argmax, d, dy, dx)
        }
    });
}

/// `avg_pool1d` against `Tensor::avg_pool1d(count_include_pad = true)`.
fn avg_pool_case(
    tally: &mut Tally,
    rng: &mut SplitMix64,
    batch: usize,
    channels: usize,
    d: Pool1dDims,
) {
    let len_out = d.len_out().unwrap();
    let case = format!("batch={batch} channels={channels} {d:?}");
    let x = rng.vec(d.rows * d.len_in, -1.0, 1.0);
    let xt = leaf(&x, &[batch, channels, d.len_in]);
    let yt = xt.avg_pool1d(
        d.kernel as i64,
        d.stride as i64,
        d.padding as i64,
        false,
        true,
    );
    assert_eq!(yt.size(), shape_i64(&[batch, channels, len_out]), "{case}");
    let mut out = vec![0.0; d.rows * len_out];
    k::avg_pool1d(&mut out, &x, d).unwrap();
    tally.check("avg_pool1d value", &case, &out, &values(&yt), TOL);

    let seed = rng.vec(out.len(), -1.0, 1.0);
    let want = torch_grads(
        &[&yt],
        &[&tensor(&seed, &[batch, channels, len_out])],
        &[&xt],
    );
    check_pullback(
        tally,
        "avg_pool1d",
        &case,
        &seed,
        &["d_x"],
        &want,
        TOL,
        |dy, g| {
            let [dx] = g else { unreachable!() };
            k::avg_pool1d_pullback(&mut out, &x, d, dy, dx)
        },
    );
}

/// Pool windows valid for both: `padding <= kernel / 2` (LibTorch's rule, stricter than the
/// kernel's `padding < kernel`) and at least one output.
fn random_pool(rng: &mut SplitMix64) -> (usize, usize, Pool1dDims) {
    loop {
        let (batch, channels) = (rng.range(1, 3), rng.range(1, 4));
        let kernel = rng.range(1, 6);
        let d = pool_dims(
            batch,
            channels,
            rng.range(1, 20),
            kernel,
            rng.range(1, 4),
            rng.range(0, kernel / 2),
        );
        if d.len_out().is_ok() {
            return (batch, channels, d);
        }
    }
}

/// `(batch, channels, len_in, kernel, stride, padding)`: tiling windows (with the unrolled
/// kernel sizes 2, 3, 4, 8, a generic one, and lengths that leave a tail), overlapping
/// windows, strides that skip input, and padding.
const POOLS: [(usize, usize, usize, usize, usize, usize); 14] = [
    (1, 1, 1, 1, 1, 0),
    (1, 1, 7, 2, 2, 0),
    (1, 3, 13, 3, 3, 0),
    (3, 2, 16, 4, 4, 0),
    (2, 1, 17, 8, 8, 0),
    (2, 2, 13, 5, 5, 0),
    (1, 2, 13, 3, 1, 1),
    (3, 1, 13, 4, 3, 2),
    (2, 3, 7, 2, 3, 1),
    (7, 1, 13, 5, 2, 2),
    (1, 1, 3, 7, 1, 3),
    (1, 4, 13, 3, 5, 0),
    (3, 3, 7, 7, 7, 0),
    (13, 1, 1, 3, 2, 1),
];

// ---------------------------------------------------------------------------------------------
// Tests, one per kernel family
// ---------------------------------------------------------------------------------------------

#[test]
fn matmul_variants() {
    let mut rng = SplitMix64::new(0x6d61_746d);
    let mut tally = Tally::default();
    let mut shapes = vec![
        (1, 1, 1),
        (1, 7, 13),
        (3, 1, 5),
        (13, 7, 3),
        (7, 13, 1),
        (1, 13, 1),
        (64, 33, 70),
    ];
    for _ in 0..4 {
        shapes.push((rng.range(1, 40), rng.range(1, 40), rng.range(1, 40)));
    }
    for (m, kk, n) in shapes {
        matmul_case(&mut tally, &mut rng, m, kk, n);
    }
    tally.print("matmul_variants");
}

#[test]
fn linear_with_bias() {
    let mut rng = SplitMix64::new(0x6c69_6e65);
    let mut tally = Tally::default();
    let mut shapes = vec![
        (1, 1, 1),
        (1, 13, 7),
        (3, 7, 1),
        (13, 3, 7),
        (7, 1, 13),
        (64, 100, 10),
    ];
    for _ in 0..4 {
        shapes.push((rng.range(1, 20), rng.range(1, 40), rng.range(1, 20)));
    }
    for (batch, in_f, out_f) in shapes {
        linear_case(&mut tally, &mut rng, batch, in_f, out_f);
    }
    tally.print("linear_with_bias");
}

#[test]
fn linear_gelu_fused() {
    let mut rng = SplitMix64::new(0x6c67_656c);
    let mut tally = Tally::default();
    let mut shapes = vec![(1, 1, 1), (1, 13, 7), (13, 3, 7), (64, 128, 512)];
    for _ in 0..4 {
        shapes.push((rng.range(1, 20), rng.range(1, 40), rng.range(1, 40)));
    }
    for (batch, in_f, out_f) in shapes {
        linear_gelu_case(&mut tally, &mut rng, batch, in_f, out_f);
    }
    tally.print("linear_gelu_fused");
}

#[test]
fn linear_residual_fused() {
    let mut rng = SplitMix64::new(0x6c72_6573);
    let mut tally = Tally::default();
    let mut shapes = vec![(1, 1, 1), (1, 13, 7), (13, 3, 7), (64, 512, 128)];
    for _ in 0..4 {
        shapes.push((rng.range(1, 20), rng.range(1, 40), rng.range(1, 40)));
    }
    for (batch, in_f, out_f) in shapes {
        linear_residual_case(&mut tally, &mut rng, batch, in_f, out_f);
    }
    tally.print("linear_residual_fused");
}

#[test]
fn elementwise_activations() {
    let mut rng = SplitMix64::new(0x6163_7469);
    let mut tally = Tally::default();
    let mut shapes = vec![(1, 1), (1, 7), (3, 13), (13, 3), (7, 1), (32, 129)];
    for _ in 0..3 {
        shapes.push((rng.range(1, 8), rng.range(1, 64)));
    }
    for act in &activations() {
        for &(rows, cols) in &shapes {
            activation_case(&mut tally, &mut rng, act, rows, cols);
        }
    }
    // LibTorch's own leaky-ReLU backward for arbitrary slopes, too (not just prelu's).
    for slope in [0.01f32, 0.2, -0.3, 1.5] {
        let x = activation_input(&mut rng, 97);
        let seed = rng.vec(97, -1.0, 1.0);
        let want = values(&tensor(&x, &[97]).leaky_relu_backward(
            &tensor(&seed, &[97]),
            f64::from(slope),
            false,
        ));
        let mut out = vec![0.0; 97];
        k::leaky_relu(&mut out, &x, slope).unwrap();
        let (mut d_out, mut dx) = (seed.clone(), vec![0.0; 97]);
        k::leaky_relu_pullback(&mut out, &x, slope, &mut d_out, &mut dx).unwrap();
        let name = format!("leaky_relu({slope}) d_x");
        tally.check(&name, "vs leaky_relu_backward", &dx, &want, TOL);
    }
    tally.print("elementwise_activations");
}

#[test]
fn softmax_rows() {
    let mut rng = SplitMix64::new(0x736f_6674);
    let mut tally = Tally::default();
    let mut shapes = vec![(1, 1), (1, 13), (7, 1), (3, 7), (13, 10), (4, 257)];
    for _ in 0..3 {
        shapes.push((rng.range(1, 16), rng.range(1, 40)));
    }
    for (rows, cols) in shapes {
        // Logits of ordinary size, then large ones (max-shifting must hold up).
        for scale in [3.0f32, 40.0] {
            let case = format!("[{rows}, {cols}], |x| <= {scale}");
            let x = rng.vec(rows * cols, -scale, scale);
            let xt = leaf(&x, &[rows, cols]);
            let yt = xt.softmax(-1, Kind::Float);
            let mut out = vec![0.0; x.len()];
            k::softmax(&mut out, &x, rows, cols).unwrap();
            tally.check("softmax value", &case, &out, &values(&yt), TOL);

            let seed = rng.vec(x.len(), -1.0, 1.0);
            let want = torch_grads(&[&yt], &[&tensor(&seed, &[rows, cols])], &[&xt]);
            check_pullback(
                &mut tally,
                "softmax",
                &case,
                &seed,
                &["d_x"],
                &want,
                TOL,
                |d, g| {
                    let [dx] = g else { unreachable!() };
                    k::softmax_pullback(&mut out, &x, rows, cols, d, dx)
                },
            );
        }
    }
    tally.print("softmax_rows");
}

/// The fused loss against `cross_entropy_loss` (mean, integer labels) for the value and
/// `softmax` for `probs`; the gradient w.r.t. the logits of `d_ret·loss + ⟨d_probs, probs⟩`
/// for an empty (zero) `d_probs`, an explicit zero one and a random one.
#[test]
fn softmax_cross_entropy_mean() {
    let mut rng = SplitMix64::new(0x7863_6e74);
    let mut tally = Tally::default();
    let mut shapes = vec![(1, 1), (1, 7), (3, 2), (13, 10), (7, 13), (64, 10)];
    for _ in 0..3 {
        shapes.push((rng.range(1, 20), rng.range(1, 20)));
    }
    for (batch, classes) in shapes {
        for (variant, scale) in [
            ("zero d_probs", 3.0f32),
            ("random d_probs", 3.0),
            ("large logits", 30.0),
        ] {
            let case = format!("batch={batch} classes={classes}, {variant}");
            let logits = rng.vec(batch * classes, -scale, scale);
            let labels: Vec<usize> = (0..batch).map(|_| rng.below(classes)).collect();
            let xt = leaf(&logits, &[batch, classes]);
            let loss_t = xt.cross_entropy_loss::<Tensor>(
                &indices(&labels, &[batch]),
                None,
                Reduction::Mean,
                -100,
                0.0,
            );
            let probs_t = xt.softmax(-1, Kind::Float);
            let mut probs = vec![0.0; logits.len()];
            let loss =
                k::softmax_cross_entropy(&mut probs, &logits, &labels, batch, classes).unwrap();
            let want_loss = values(&loss_t);
            tally.check(
                "softmax_cross_entropy loss",
                &case,
                &[loss],
                &want_loss,
                TOL,
            );
            tally.check(
                "softmax_cross_entropy probs",
                &case,
                &probs,
                &values(&probs_t),
                TOL,
            );

            let d_ret = if batch.is_multiple_of(2) {
                1.0
            } else {
                rng.uniform(-2.0, 2.0)
            };
            let (seed, d_probs_t) = if variant == "random d_probs" {
                let s = rng.vec(logits.len(), -1.0, 1.0);
                let t = tensor(&s, &[batch, classes]);
                (s, t)
            } else {
                (
                    Vec::new(),
                    Tensor::zeros([batch as i64, classes as i64], (Kind::Float, Device::Cpu)),
                )
            };
            let want = torch_grads(&[&loss_t, &probs_t], &[&scalar(d_ret), &d_probs_t], &[&xt]);
            check_pullback(
                &mut tally,
                "softmax_cross_entropy",
                &case,
                &seed,
                &["d_logits"],
                &want,
                TOL,
                |d, g| {
                    let [dl] = g else { unreachable!() };
                    k::softmax_cross_entropy_pullback(
                        &mut probs, &logits, &labels, batch, classes, d_ret, d, dl,
                    )
                },
            );
            if seed.is_empty() {
                // An all-zero (non-empty) d_probs is the same as an empty one.
                let zero_seed = vec![0.0; logits.len()];
                check_pullback(
                    &mut tally,
                    "softmax_cross_entropy",
                    &format!("{case}, explicit zeros"),
                    &zero_seed,
                    &["d_logits"],
                    &want,
                    TOL,
                    |d, g| {
                        let [dl] = g else { unreachable!() };
                        k::softmax_cross_entropy_pullback(
                            &mut probs, &logits, &labels, batch, classes, d_ret, d, dl,
                        )
                    },
                );
            }
        }
    }
    tally.print("softmax_cross_entropy_mean");
}

/// `mse = (1/n) Σ (pred − target)²` against `mse_loss(Mean)`, gradients w.r.t. both.
#[test]
fn mse_mean() {
    let mut rng = SplitMix64::new(0x6d73_6531);
    let mut tally = Tally::default();
    let mut shapes = vec![(1, 1), (1, 7), (3, 13), (13, 1), (64, 10)];
    for _ in 0..3 {
        shapes.push((rng.range(1, 16), rng.range(1, 40)));
    }
    for (batch, features) in shapes {
        let case = format!("[{batch}, {features}]");
        let n = batch * features;
        let pred = rng.vec(n, -2.0, 2.0);
        let target = rng.vec(n, -2.0, 2.0);
        let (pt, tt) = (
            leaf(&pred, &[batch, features]),
            leaf(&target, &[batch, features]),
        );
        let loss_t = pt.mse_loss(&tt, Reduction::Mean);
        let loss = k::mse(&pred, &target).unwrap();
        tally.check("mse loss", &case, &[loss], &values(&loss_t), TOL);

        let d_ret = rng.uniform(-2.0, 2.0);
        let want = torch_grads(&[&loss_t], &[&scalar(d_ret)], &[&pt, &tt]);
        // mse has no output adjoint: the seed is `d_ret`.
        check_pullback(
            &mut tally,
            "mse",
            &case,
            &[],
            &["d_pred", "d_target"],
            &want,
            TOL,
            |_, g| {
                let [dp, dt] = g else { unreachable!() };
                k::mse_pullback(&pred, &target, d_ret, dp, dt)
            },
        );
    }
    tally.print("mse_mean");
}

#[test]
fn conv1d_stride_padding_dilation() {
    let mut rng = SplitMix64::new(0x636f_6e76);
    let mut tally = Tally::default();
    // (batch, c_in, len_in, c_out, kernel, stride, padding, dilation)
    let mut cases = vec![
        (1, 1, 1, 1, 1, 1, 0, 1),
        (1, 1, 7, 1, 3, 1, 0, 1),
        (1, 3, 13, 2, 3, 2, 1, 1),
        (3, 2, 13, 3, 3, 1, 2, 2),
        (2, 3, 7, 5, 2, 3, 0, 2),
        (7, 1, 13, 1, 5, 2, 2, 1),
        (1, 2, 5, 3, 7, 1, 3, 1),
        (3, 4, 16, 2, 4, 4, 0, 1),
        (2, 3, 9, 4, 3, 5, 4, 3),
        (1, 1, 2, 1, 1, 1, 3, 1),
        (4, 8, 64, 16, 5, 1, 2, 1),
        // One input channel, stride 1, no padding: dilated, and W2's first layer.
        (2, 1, 23, 3, 4, 1, 0, 3),
        (3, 1, 2048, 16, 16, 1, 0, 1),
    ];
    while cases.len() < 21 {
        let c = (
            rng.range(1, 4),
            rng.range(1, 5),
            rng.range(1, 24),
            rng.range(1, 5),
            rng.range(1, 5),
            rng.range(1, 3),
            rng.range(0, 3),
            rng.range(1, 3),
        );
        if conv_dims(c).len_out().is_ok() {
            cases.push(c);
        }
    }
    for c in cases {
        conv1d_case(&mut tally, &mut rng, conv_dims(c));
    }
    tally.print("conv1d_stride_padding_dilation");
}

fn conv_dims(
    (batch, c_in, len_in, c_out, kernel, stride, padding, dilation): (
        usize,
        usize,
        usize,
        usize,
        usize,
        usize,
        usize,
        usize,
    ),
) -> Conv1dDims {
    Conv1dDims {
        batch,
        c_in,
        len_in,
        c_out,
        kernel,
        stride,
        padding,
        dilation,
    }
}

/// The fused convolution, ReLU and max-pool: W2's three stages (batch 2; the first on the
/// full 2048 samples) and stages with padding, dilation, strides and overlapping windows,
/// on one and two threads.
#[test]
fn conv1d_relu_max_pool1d_stages() {
    let mut rng = SplitMix64::new(0x6372_6d70);
    let mut tally = Tally::default();
    // ((batch, c_in, len_in, c_out, kernel, stride, padding, dilation), (pool k, s, pad))
    let cases = [
        ((2, 1, 2048, 16, 16, 1, 0, 1), (4, 4, 0)),
        ((2, 16, 508, 32, 8, 1, 0, 1), (4, 4, 0)),
        ((2, 32, 125, 64, 8, 1, 0, 1), (4, 4, 0)),
        ((3, 1, 100, 4, 5, 1, 2, 1), (4, 4, 0)),
        ((2, 3, 60, 4, 3, 1, 1, 2), (3, 2, 1)),
        ((2, 5, 40, 3, 8, 1, 0, 1), (2, 1, 0)),
        ((3, 2, 41, 3, 3, 2, 1, 1), (2, 2, 0)),
        ((2, 2, 5, 3, 7, 1, 3, 1), (2, 2, 0)),
    ];
    let mut compared = 0;
    for threads in [1, 2] {
        k::set_num_threads(threads);
        for (c, pool) in cases {
            compared += usize::from(conv_relu_max_pool_case(
                &mut tally,
                &mut rng,
                conv_dims(c),
                pool,
            ));
        }
    }
    k::set_num_threads(1);
    assert!(
        compared + 1 >= 2 * cases.len(),
        "gradients compared in {compared} cases"
    );
    tally.print("conv1d_relu_max_pool1d_stages");
}

#[test]
fn max_pool1d_windows() {
    let mut rng = SplitMix64::new(0x6d61_7870);
    let mut tally = Tally::default();
    // W2's shapes too: long rows, hundreds of windows.
    let w2 = [(2, 16, 2033, 4, 4, 0), (3, 64, 118, 4, 4, 0)];
    for (batch, channels, len_in, kernel, stride, padding) in POOLS.into_iter().chain(w2) {
        let d = pool_dims(batch, channels, len_in, kernel, stride, padding);
        max_pool_case(&mut tally, &mut rng, batch, channels, d, false);
    }
    for _ in 0..6 {
        let (batch, channels, d) = random_pool(&mut rng);
        max_pool_case(&mut tally, &mut rng, batch, channels, d, false);
    }
    tally.print("max_pool1d_windows");
}

/// The fused ReLU and max-pool: the same windows, plus W2's three stages (tiling windows of
/// 4 over 2033, 501 and 118 samples: full and partial blocks of 16 windows).
#[test]
fn relu_max_pool1d_windows() {
    let mut rng = SplitMix64::new(0x726d_7870);
    let mut tally = Tally::default();
    let w2 = [
        (2, 16, 2033, 4, 4, 0),
        (2, 32, 501, 4, 4, 0),
        (3, 64, 118, 4, 4, 0),
    ];
    for (batch, channels, len_in, kernel, stride, padding) in POOLS.into_iter().chain(w2) {
        let d = pool_dims(batch, channels, len_in, kernel, stride, padding);
        max_pool_case(&mut tally, &mut rng, batch, channels, d, true);
    }
    for _ in 0..6 {
        let (batch, channels, d) = random_pool(&mut rng);
        max_pool_case(&mut tally, &mut rng, batch, channels, d, true);
    }
    tally.print("relu_max_pool1d_windows");
}

#[test]
fn avg_pool1d_windows() {
    let mut rng = SplitMix64::new(0x6176_6770);
    let mut tally = Tally::default();
    for (batch, channels, len_in, kernel, stride, padding) in POOLS {
        let d = pool_dims(batch, channels, len_in, kernel, stride, padding);
        avg_pool_case(&mut tally, &mut rng, batch, channels, d);
    }
    for _ in 0..6 {
        let (batch, channels, d) = random_pool(&mut rng);
        avg_pool_case(&mut tally, &mut rng, batch, channels, d);
    }
    tally.print("avg_pool1d_windows");
}

/// `[batch, c, l] → [batch, c·l]` against `Tensor::flatten(1, -1)`.
#[test]
fn flatten_copy() {
    let mut rng = SplitMix64::new(0x666c_6174);
    let mut tally = Tally::default();
    for (batch, c, l) in [(1, 1, 1), (1, 3, 7), (13, 1, 3), (3, 7, 13), (2, 16, 5)] {
        let case = format!("[{batch}, {c}, {l}]");
        let x = rng.vec(batch * c * l, -1.0, 1.0);
        let xt = leaf(&x, &[batch, c, l]);
        let yt = xt.flatten(1, -1);
        assert_eq!(yt.size(), shape_i64(&[batch, c * l]));
        let mut out = vec![0.0; x.len()];
        k::flatten(&mut out, &x).unwrap();
        tally.check("flatten value", &case, &out, &values(&yt), 0.0);

        let seed = rng.vec(x.len(), -1.0, 1.0);
        let want = torch_grads(&[&yt], &[&tensor(&seed, &[batch, c * l])], &[&xt]);
        check_pullback(
            &mut tally,
            "flatten",
            &case,
            &seed,
            &["d_x"],
            &want,
            0.0,
            |d, g| {
                let [dx] = g else { unreachable!() };
                k::flatten_pullback(&mut out, &x, d, dx)
            },
        );
    }
    tally.print("flatten_copy");
}

/// One affine layer-norm case against `Tensor::layer_norm`. Rows get offsets in `±offset`
/// and spreads in `spread`.
///
/// Both implementations lose accuracy on rows whose mean is large against their standard
/// deviation (LibTorch's CPU kernel evaluates `x̂` as `x·rstd − μ·rstd`, which cancels; ours
/// rounds μ to f32 before `x − μ`): the error grows with `κ = 1 + max_r |μ_r|·rstd_r`, so the
/// tolerance is `TOL·κ`. One column is special (below). Returns κ.
fn layer_norm_case(
    tally: &mut Tally,
    rng: &mut SplitMix64,
    (rows, cols, eps): (usize, usize, f32),
    offset: f32,
    spread: (f32, f32),
) -> f64 {
    let mut x = Vec::with_capacity(rows * cols);
    for _ in 0..rows {
        let (o, s) = (
            rng.uniform(-offset, offset),
            rng.uniform(spread.0, spread.1),
        );
        x.extend((0..cols).map(|_| o + s * rng.uniform(-1.0, 1.0)));
    }
    let gamma = rng.vec(cols, 0.5, 1.5);
    let beta = rng.vec(cols, -0.5, 0.5);
    let seed = rng.vec(x.len(), -1.0, 1.0);
    // κ from f64 statistics (rstd_r = 1/√(var_r + eps)); 1 for one column, where every
    // quantity is exact once LibTorch's d_gamma noise is replaced by 0 (see below).
    let kappa = if cols == 1 {
        1.0
    } else {
        x.chunks_exact(cols)
            .map(|row| {
                let n = cols as f64;
                let mean = row.iter().map(|&v| f64::from(v)).sum::<f64>() / n;
                let var = row
                    .iter()
                    .map(|&v| (f64::from(v) - mean).powi(2))
                    .sum::<f64>()
                    / n;
                1.0 + mean.abs() / (var + f64::from(eps)).sqrt()
            })
            .fold(1.0f64, f64::max)
    };
    let tol = TOL * kappa;
    let case = format!("[{rows}, {cols}] eps={eps} kappa={kappa:.1}");

    let xt = leaf(&x, &[rows, cols]);
    let (gt, bt) = (leaf(&gamma, &[cols]), leaf(&beta, &[cols]));
    let yt = xt.layer_norm(cols as i64, Some(&gt), Some(&bt), f64::from(eps), false);
    let mut out = vec![0.0; x.len()];
    k::layer_norm(&mut out, &x, &gamma, &beta, rows, cols, eps).unwrap();
    tally.check("layer_norm value", &case, &out, &values(&yt), tol);

    let seed_t = tensor(&seed, &[rows, cols]);
    let mut want = torch_grads(&[&yt], &[&seed_t], &[&xt, &gt, &bt]);
    if cols == 1 {
        // One column: x̂ ≡ 0, so the exact d_gamma is 0 (the kernel forms (x − μ)·rstd = 0),
        // but LibTorch returns rounding noise of order ulp(x)·rstd·|dy| (rstd = 1/√eps = 316
        // for eps = 1e-5; seen: 6e-6). Check LibTorch against that bound, then the kernel
        // against the exact 0.
        let rstd = 1.0 / f64::from(eps).sqrt();
        let dot: f64 = x
            .iter()
            .zip(&seed)
            .map(|(&v, &d)| f64::from(v * d).abs())
            .sum();
        let bound = 4.0 * f64::from(f32::EPSILON) * rstd * dot;
        for &g in &want[1] {
            assert!(
                f64::from(g).abs() <= bound,
                "LibTorch layer_norm d_gamma {g} [{case}]"
            );
        }
        want[1].fill(0.0);
    }
    check_pullback(
        tally,
        "layer_norm",
        &case,
        &seed,
        &["d_x", "d_gamma", "d_beta"],
        &want,
        tol,
        |d, g| {
            let [dx, dg, db] = g else { unreachable!() };
            k::layer_norm_pullback(&mut out, &x, &gamma, &beta, rows, cols, eps, d, dx, dg, db)
        },
    );
    kappa
}

/// Affine layer norm over the last axis against `Tensor::layer_norm`: rows with small
/// offsets, then rows with large offsets and small spreads (see [`layer_norm_case`]).
#[test]
fn layer_norm_affine() {
    let mut rng = SplitMix64::new(0x6c6e_6f72);
    let mut tally = Tally::default();
    let mut kappa = 1.0f64;
    let mut shapes = vec![(1, 1), (1, 13), (7, 3), (3, 7), (13, 64), (2, 2)];
    for _ in 0..3 {
        shapes.push((rng.range(1, 16), rng.range(1, 50)));
    }
    for &(rows, cols) in &shapes {
        for eps in [1e-5f32, 1e-3] {
            let dims = (rows, cols, eps);
            let k1 = layer_norm_case(&mut tally, &mut rng, dims, 0.5, (1.0, 2.0));
            let k2 = layer_norm_case(&mut tally, &mut rng, dims, 3.0, (0.2, 0.5));
            kappa = kappa.max(k1).max(k2);
        }
    }
    println!("layer_norm: largest κ {kappa:.1}");
    tally.print("layer_norm_affine");
}

/// Seeded dropout. LibTorch draws its masks from its own RNG, so this compares semantics:
/// the kernel's output and gradient against LibTorch's `x · mask / (1 − p)` with the kernel's
/// own mask; the mask is a function of the seed; the keep rate is `1 − p`, as is LibTorch's
/// dropout's, and kept elements are scaled by LibTorch's factor.
#[test]
fn dropout_semantics() {
    let mut rng = SplitMix64::new(0x6472_6f70);
    let mut tally = Tally::default();
    for n in [1usize, 7, 13, 1000] {
        for p in [0.0f32, 0.1, 0.5, 0.9] {
            let seed_u = rng.next_u64();
            let case = format!("n={n} p={p} seed={seed_u:#x}");
            let x = rng.vec(n, -2.0, 2.0);
            let mut out = vec![0.0; n];
            let mut mask = vec![7u8; n];
            k::dropout(&mut out, &x, &mut mask, p, seed_u).unwrap();
            assert!(
                mask.iter().all(|&m| m <= 1),
                "dropout mask [{case}]: {mask:?}"
            );
            if p == 0.0 {
                assert!(
                    mask.iter().all(|&m| m == 1),
                    "p = 0 keeps everything [{case}]"
                );
            }
            let mask_f: Vec<f32> = mask.iter().map(|&m| f32::from(m)).collect();
            let xt = leaf(&x, &[n]);
            let yt = &xt * tensor(&mask_f, &[n]) / (1.0 - f64::from(p));
            tally.check("dropout value", &case, &out, &values(&yt), TOL);

            let seed = rng.vec(n, -1.0, 1.0);
            let want = torch_grads(&[&yt], &[&tensor(&seed, &[n])], &[&xt]);
            check_pullback(
                &mut tally,
                "dropout",
                &case,
                &seed,
                &["d_x"],
                &want,
                TOL,
                |d, g| {
                    let [dx] = g else { unreachable!() };
                    k::dropout_pullback(&mut out, &x, &mut mask, p, seed_u, d, dx)
                },
            );

            // Same seed, same mask.
            let (mut out2, mut mask2) = (vec![0.0; n], vec![0u8; n]);
            k::dropout(&mut out2, &x, &mut mask2, p, seed_u).unwrap();
            assert_eq!(
                mask2, mask,
                "dropout is not a function of the seed [{case}]"
            );
        }
    }

    // p = 1 drops everything (no division by zero).
    let x = rng.vec(13, -1.0, 1.0);
    let (mut out, mut mask, mut d_out, mut dx) =
        (vec![1.0; 13], vec![1u8; 13], vec![1.0; 13], vec![0.0; 13]);
    k::dropout(&mut out, &x, &mut mask, 1.0, 5).unwrap();
    assert!(out.iter().all(|&v| v == 0.0) && mask.iter().all(|&m| m == 0));
    k::dropout_pullback(&mut out, &x, &mut mask, 1.0, 5, &mut d_out, &mut dx).unwrap();
    assert!(dx.iter().all(|&v| v == 0.0) && d_out.iter().all(|&v| v == 0.0));

    // Keep rate and scale on a large tensor, against 1 − p and LibTorch's own dropout.
    let n = 1usize << 20;
    let ones = vec![1.0f32; n];
    for p in [0.1f32, 0.5, 0.9] {
        let (mut out, mut mask) = (vec![0.0; n], vec![0u8; n]);
        k::dropout(&mut out, &ones, &mut mask, p, 0xfeed).unwrap();
        let keep = mask.iter().filter(|&&m| m == 1).count() as f64 / n as f64;
        let torch_out = values(&tensor(&ones, &[n]).dropout(f64::from(p), true));
        let torch_keep = torch_out.iter().filter(|&&v| v != 0.0).count() as f64 / n as f64;
        // 6 standard deviations of a binomial proportion.
        let bound = 6.0 * (f64::from(p) * (1.0 - f64::from(p)) / n as f64).sqrt();
        let expected = 1.0 - f64::from(p);
        println!(
            "dropout p={p}: keep rate {keep:.5} (LibTorch {torch_keep:.5}, expected {expected})"
        );
        assert!(
            (keep - expected).abs() < bound,
            "dropout keep rate {keep} for p = {p}"
        );
        assert!(
            (torch_keep - expected).abs() < bound,
            "LibTorch keep rate {torch_keep}"
        );
        // Kept elements of ones carry exactly the scale; LibTorch's scale agrees.
        let scale = out.iter().copied().find(|&v| v != 0.0).unwrap();
        assert!(
            out.iter().all(|&v| v == 0.0 || v == scale),
            "dropout scale not uniform"
        );
        let torch_scale = torch_out.iter().copied().find(|&v| v != 0.0).unwrap();
        tally.check(
            "dropout scale vs LibTorch dropout",
            &format!("p={p}"),
            &[scale],
            &[torch_scale],
            1e-6,
        );
        // A different seed draws a different mask.
        let mut mask2 = vec![0u8; n];
        k::dropout(&mut out, &ones, &mut mask2, p, 0xbeef).unwrap();
        assert_ne!(mask, mask2, "dropout ignores its seed");
    }
    tally.print("dropout_semantics");
}

/// Row gather against `Tensor::embedding`; the table's gradient scatter-adds repeated ids.
#[test]
fn embedding_lookup() {
    let mut rng = SplitMix64::new(0x656d_6264);
    let mut tally = Tally::default();
    // (vocab, dim, batch, seq)
    let mut shapes = vec![
        (1, 1, 1, 1),
        (7, 3, 1, 13),
        (13, 5, 3, 7),
        (3, 13, 7, 1),
        (50, 16, 4, 9),
    ];
    for _ in 0..3 {
        shapes.push((
            rng.range(1, 30),
            rng.range(1, 20),
            rng.range(1, 5),
            rng.range(1, 10),
        ));
    }
    for (vocab, dim, batch, seq) in shapes {
        let case = format!("vocab={vocab} dim={dim} ids=[{batch}, {seq}]");
        let n = batch * seq;
        let mut ids: Vec<usize> = (0..n).map(|_| rng.below(vocab)).collect();
        if n > 1 {
            ids[n - 1] = ids[0]; // at least one repeated id
        }
        let table = rng.vec(vocab * dim, -1.0, 1.0);
        let tt = leaf(&table, &[vocab, dim]);
        let yt = Tensor::embedding(&tt, &indices(&ids, &[batch, seq]), -1, false, false);
        assert_eq!(yt.size(), shape_i64(&[batch, seq, dim]));
        let mut out = vec![0.0; n * dim];
        k::embedding(&mut out, &table, &ids, vocab, dim).unwrap();
        tally.check("embedding value", &case, &out, &values(&yt), 0.0);

        let seed = rng.vec(out.len(), -1.0, 1.0);
        let want = torch_grads(&[&yt], &[&tensor(&seed, &[batch, seq, dim])], &[&tt]);
        check_pullback(
            &mut tally,
            "embedding",
            &case,
            &seed,
            &["d_table"],
            &want,
            TOL,
            |d, g| {
                let [dt] = g else { unreachable!() };
                k::embedding_pullback(&mut out, &table, &ids, vocab, dim, d, dt)
            },
        );
    }
    tally.print("embedding_lookup");
}

/// One causal-attention case against LibTorch: `q·kᵀ/√head_dim`, the causal mask
/// (`masked_fill` with −∞ above the diagonal), `softmax`, `·v`, heads split from and merged
/// back into `[batch, seq, dim]`. Checks both outputs (`out` and the probabilities `att`, 0
/// above the diagonal), then the pullback into `d_qkv` with a seed on `out` only (the
/// `att` adjoint empty, i.e. zero) and with seeds on both outputs (`att`'s seed non-zero
/// everywhere, above the diagonal too, where it must have no effect).
fn attention_case(
    tally: &mut Tally,
    rng: &mut SplitMix64,
    (batch, seq, heads, dim): (usize, usize, usize, usize),
) {
    let case = format!("batch={batch} seq={seq} heads={heads} dim={dim}");
    let hd = dim / heads;
    let qkv = rng.vec(batch * seq * 3 * dim, -1.0, 1.0);
    let qt = leaf(&qkv, &[batch, seq, 3 * dim]);
    let (b, t, h, hdi, c) = (
        batch as i64,
        seq as i64,
        heads as i64,
        hd as i64,
        dim as i64,
    );
    // LibTorch's graph, built afresh for each autograd call (`grad` frees it).
    let torch_attention = || {
        let parts = qt.split(c, -1);
        let split = |z: &Tensor| z.reshape([b, t, h, hdi]).transpose(1, 2);
        let (q, kk, v) = (split(&parts[0]), split(&parts[1]), split(&parts[2]));
        let scores = q.matmul(&kk.transpose(-2, -1)) * (1.0 / (hd as f64).sqrt());
        let above = Tensor::ones([t, t], (Kind::Bool, Device::Cpu)).triu(1);
        let att_t = scores
            .masked_fill(&above, f64::NEG_INFINITY)
            .softmax(-1, Kind::Float);
        let out_t = att_t.matmul(&v).transpose(1, 2).reshape([b, t, c]);
        (out_t, att_t)
    };
    let (out_t, att_t) = torch_attention();

    let mut out = vec![0.0; batch * seq * dim];
    let mut att = vec![0.0; batch * heads * seq * seq];
    k::causal_attention(&mut out, &mut att, &qkv, batch, seq, heads, dim).unwrap();
    tally.check("causal_attention out", &case, &out, &values(&out_t), TOL);
    tally.check("causal_attention att", &case, &att, &values(&att_t), TOL);
    for (i, &p) in att.iter().enumerate() {
        let (row, col) = ((i / seq) % seq, i % seq);
        if col > row {
            assert_eq!(
                p, 0.0,
                "causal_attention att [{case}]: ({row}, {col}) above the diagonal"
            );
        }
    }

    let seed_out = rng.vec(out.len(), -1.0, 1.0);
    let seed_att = rng.vec(att.len(), -1.0, 1.0);
    let upstream_out = tensor(&seed_out, &[batch, seq, dim]);
    let upstream_att = tensor(&seed_att, &[batch, heads, seq, seq]);

    // Seed on `out` only.
    let want = torch_grads(&[&out_t], &[&upstream_out], &[&qt]);
    check_pullback(
        tally,
        "causal_attention (d_out)",
        &case,
        &seed_out,
        &["d_qkv"],
        &want,
        TOL,
        |d, g| {
            let [dq] = g else { unreachable!() };
            k::causal_attention_pullback(
                &mut out,
                &mut att,
                &qkv,
                batch,
                seq,
                heads,
                dim,
                d,
                &mut [],
                dq,
            )
        },
    );

    // Seeds on `out` and on `att`: one seed buffer, `d_out` then `d_att`.
    let (out_t, att_t) = torch_attention();
    let want = torch_grads(&[&out_t, &att_t], &[&upstream_out, &upstream_att], &[&qt]);
    let seed: Vec<f32> = seed_out.iter().chain(&seed_att).copied().collect();
    let n_out = out.len();
    check_pullback(
        tally,
        "causal_attention (d_out, d_att)",
        &case,
        &seed,
        &["d_qkv"],
        &want,
        TOL,
        |d, g| {
            let [dq] = g else { unreachable!() };
            let (d_out, d_att) = d.split_at_mut(n_out);
            k::causal_attention_pullback(
                &mut out, &mut att, &qkv, batch, seq, heads, dim, d_out, d_att, dq,
            )
        },
    );
}

/// Causal multi-head attention (GPT's core, softmax fused) against LibTorch's composed ops,
/// including W4's shape (64 positions, 4 heads of 32).
#[test]
fn causal_attention_heads() {
    let mut rng = SplitMix64::new(0x6174_746e);
    let mut tally = Tally::default();
    // (batch, seq, heads, dim)
    let mut shapes = vec![
        (1, 1, 1, 1),
        (1, 7, 1, 3),
        (3, 5, 2, 8),
        (2, 13, 3, 9),
        (2, 64, 4, 128),
    ];
    for _ in 0..3 {
        let heads = rng.range(1, 5);
        shapes.push((
            rng.range(1, 4),
            rng.range(1, 20),
            heads,
            heads * rng.range(1, 9),
        ));
    }
    for dims in shapes {
        attention_case(&mut tally, &mut rng, dims);
    }
    tally.print("causal_attention_heads");
}

/// Residual sums `out = a + b` and position embeddings added to every sequence
/// (`out[b, t, :] = x[b, t, :] + pos[t, :]`) against LibTorch's broadcasting `+`.
#[test]
fn add_and_add_positions() {
    let mut rng = SplitMix64::new(0x6164_6470);
    let mut tally = Tally::default();
    for n in [1, 7, 13, 1000, 40_001] {
        let case = format!("n={n}");
        let (a, b) = (rng.vec(n, -1.0, 1.0), rng.vec(n, -1.0, 1.0));
        let (at, bt) = (leaf(&a, &[n]), leaf(&b, &[n]));
        let yt = &at + &bt;
        let mut out = vec![0.0; n];
        k::add(&mut out, &a, &b).unwrap();
        tally.check("add value", &case, &out, &values(&yt), 0.0);
        let seed = rng.vec(n, -1.0, 1.0);
        let want = torch_grads(&[&yt], &[&tensor(&seed, &[n])], &[&at, &bt]);
        check_pullback(
            &mut tally,
            "add",
            &case,
            &seed,
            &["d_a", "d_b"],
            &want,
            TOL,
            |d, g| {
                let [da, db] = g else { unreachable!() };
                k::add_pullback(&mut out, &a, &b, d, da, db)
            },
        );
    }
    // (batch, seq, dim)
    let mut shapes = vec![(1, 1, 1), (3, 7, 1), (1, 13, 5), (4, 3, 13), (8, 64, 128)];
    for _ in 0..3 {
        shapes.push((rng.range(1, 6), rng.range(1, 20), rng.range(1, 20)));
    }
    for (batch, seq, dim) in shapes {
        let case = format!("[{batch}, {seq}, {dim}]");
        let x = rng.vec(batch * seq * dim, -1.0, 1.0);
        let pos = rng.vec(seq * dim, -1.0, 1.0);
        let (xt, pt) = (leaf(&x, &[batch, seq, dim]), leaf(&pos, &[seq, dim]));
        let yt = &xt + &pt;
        let mut out = vec![0.0; x.len()];
        k::add_positions(&mut out, &x, &pos, batch, seq, dim).unwrap();
        tally.check("add_positions value", &case, &out, &values(&yt), 0.0);
        let seed = rng.vec(x.len(), -1.0, 1.0);
        let want = torch_grads(&[&yt], &[&tensor(&seed, &[batch, seq, dim])], &[&xt, &pt]);
        check_pullback(
            &mut tally,
            "add_positions",
            &case,
            &seed,
            &["d_x", "d_pos"],
            &want,
            TOL,
            |d, g| {
                let [dx, dp] = g else { unreachable!() };
                k::add_positions_pullback(&mut out, &x, &pos, batch, seq, dim, d, dx, dp)
            },
        );
    }
    tally.print("add_and_add_positions");
}

/// The kernels split large work across threads (`set_num_threads`); the split paths must
/// agree with LibTorch too, on rayon's pool and on LibTorch's own intra-op threads
/// (`ferrograd_torch::parallel_for` as the kernels' backend). Thread count and backend are
/// process-wide, so the other tests in this binary may also run split while this one is
/// running; they check the same thing.
#[test]
fn split_across_threads() {
    let backends: [(&str, Option<k::ForkFn>); 2] = [
        ("rayon", None),
        ("LibTorch threads", Some(ferrograd_torch::parallel_for)),
    ];
    tch::set_num_threads(2);
    for (name, backend) in backends {
        let mut rng = SplitMix64::new(0x7468_7264);
        let mut tally = Tally::default();
        k::set_parallel_backend(backend);
        k::set_num_threads(2);
        matmul_case(&mut tally, &mut rng, 131, 97, 67);
        matmul_case(&mut tally, &mut rng, 9, 300, 201);
        linear_case(&mut tally, &mut rng, 67, 200, 101);
        // Bias rows, bias gradient (by column bands) and seed zeroing split too.
        linear_case(&mut tally, &mut rng, 517, 64, 200);
        // The fused layer's passes split by rows, its bias gradient by column bands.
        linear_gelu_case(&mut tally, &mut rng, 301, 64, 257);
        // The stream-plus-bias rows and the stream's adjoint split by rows.
        linear_residual_case(&mut tally, &mut rng, 517, 64, 200);
        // Rows split, with per-thread partial sums of d_gamma and d_beta; an uneven split;
        // and rows too wide for the partials' stack room (one thread).
        layer_norm_case(&mut tally, &mut rng, (517, 96, 1e-5), 0.5, (1.0, 2.0));
        layer_norm_case(&mut tally, &mut rng, (301, 131, 1e-5), 3.0, (0.2, 0.5));
        layer_norm_case(&mut tally, &mut rng, (40, 2100, 1e-5), 0.5, (1.0, 2.0));
        conv1d_case(&mut tally, &mut rng, conv_dims((9, 4, 203, 16, 5, 1, 2, 1)));
        conv1d_case(&mut tally, &mut rng, conv_dims((5, 3, 301, 8, 3, 2, 1, 2)));
        for act in &activations() {
            activation_case(&mut tally, &mut rng, act, 7, 40_001);
        }
        for relu in [false, true] {
            let (d1, d2) = (
                pool_dims(33, 16, 517, 4, 4, 0),
                pool_dims(17, 16, 517, 3, 2, 1),
            );
            max_pool_case(&mut tally, &mut rng, 33, 16, d1, relu);
            max_pool_case(&mut tally, &mut rng, 17, 16, d2, relu);
        }
        attention_case(&mut tally, &mut rng, (5, 33, 4, 64));
        k::set_num_threads(1);
        k::set_parallel_backend(None);
        tally.print(&format!("split_across_threads ({name})"));
    }
}

/// The comparison itself can fail: a pullback that is off by 1e-3 in one element is caught.
#[test]
#[should_panic(expected = "relu d_x")]
fn a_wrong_gradient_is_caught() {
    let mut rng = SplitMix64::new(1);
    let x = rng.vec(13, -1.0, 1.0);
    let xt = leaf(&x, &[13]);
    let yt = xt.relu();
    let mut out = values(&yt);
    let seed = rng.vec(13, -1.0, 1.0);
    let want = torch_grads(&[&yt], &[&tensor(&seed, &[13])], &[&xt]);
    let mut tally = Tally::default();
    check_pullback(
        &mut tally,
        "relu",
        "perturbed",
        &seed,
        &["d_x"],
        &want,
        TOL,
        |d, g| {
            let [dx] = g else { unreachable!() };
            k::relu_pullback(&mut out, &x, d, dx)?;
            if !dx.is_empty() {
                dx[5] += 1e-3;
            }
            Ok(())
        },
    );
}
