//! Issue 4: the same model, written once as plain Rust over ferrograd kernels and
//! differentiated by `#[differentiable]` (`ferrograd_train::models`), trained two ways from
//! the same initial parameters on the same batches:
//!
//! - **arena**: [`Network`] (parameters and gradients in its flat arena, the generated
//!   `*_loss_grad`) stepped by [`ferrograd_train::Optimizer`] (`Network::step`, as the
//!   `Trainer` does);
//! - **bridge**: the parameters as `tch::Tensor`s in a `tch::nn::VarStore`, the loss as ONE
//!   LibTorch autograd node over their storage (`value_and_grad_node` running the generated
//!   `*_loss_grad`, or `slice_node` running `*_loss` forward and the generated
//!   `*_loss_pullback` in `backward()`), stepped by `tch::nn::Sgd` / `tch::nn::Adam`.
//!
//! Checked at every step, for SGD, SGD with momentum and Adam, and both node kinds:
//! - the bridge node's loss and gradients are **bitwise** those of the arena evaluated at the
//!   bridge's current parameters (the node, `backward()` and the gradient hand-over to the
//!   `VarStore` add nothing and lose nothing);
//! - the two trajectories agree: losses, gradients and updated parameters, within the
//!   tolerances below (bitwise at the first step). They are not bitwise equal afterwards
//!   because LibTorch's optimizers round differently (vectorised, with FMA) from the arena's,
//!   by about an ulp per step.
//!
//! A control run with the bridge's gradients scaled by 1 + 1e-4 checks that both
//! comparisons do catch a wrong gradient.
//!
//! ```text
//! source scripts/env.sh && export CARGO_TARGET_DIR=target-torch
//! cargo test --release -p ferrograd-cli --test bridge_vs_arena -- --nocapture
//! ```

use ferrograd_torch::node::{slice_node, value_and_grad_node, Pullback};
use ferrograd_train::init::SplitMix64;
use ferrograd_train::models::cnn::{self, CnnActs, CnnParams, PoolArgmax};
use ferrograd_train::models::mlp::{self, MlpActs, MlpDims, MlpParams};
use ferrograd_train::{CnnDims, ModelSpec, Network, Optimizer, OptimizerConfig};
use tch::nn::{self, OptimizerConfig as _};
use tch::{Device, Tensor};

type Result<T, E = Box<dyn std::error::Error + Send + Sync>> = std::result::Result<T, E>;

/// The small W1 MLP of these tests.
const MLP: ModelSpec = ModelSpec::Mlp {
    in_features: 20,
    hidden: 16,
    classes: 4,
};
/// The W2 GW CNN at a short length: conv/pool lengths 285→71→64→16→9→2, 128 flat features.
const CNN: ModelSpec = ModelSpec::GwCnn {
    len: 300,
    classes: 2,
};
const BATCH: usize = 8;
const STEPS: u64 = 10;

/// Tolerances on the two trajectories (arena against bridge). The node itself is checked
/// exactly (see [`compare`]); the trajectories differ only because the two optimizers round
/// differently (LibTorch's are vectorised, with FMA), by about an ulp per step, and the
/// parameters then drift apart by ~1e-7 of their scale.
///
/// Losses: relative.
const LOSS_TOL: f64 = 1e-6;
/// Gradients: the largest difference relative to the largest gradient of the model.
const GRAD_TOL: f64 = 1e-5;

/// Parameters after each update: the largest difference relative to the largest magnitude
/// in the tensor (so entries near zero are judged on the tensor's scale, not their own).
///
/// SGD passes a gradient difference on to the parameters scaled by `lr`. Adam divides each
/// gradient entry by its own running RMS, so an entry whose gradient is tiny (1e-3 of its
/// tensor's scale, e.g. a barely active ReLU unit) turns its ulp-level *absolute* difference
/// into a relative one of ~1e-4 and moves its parameter by a correspondingly different
/// fraction of `lr`; momentum then carries that along. Observed on the CNN: 1.5e-5 after
/// 10 steps (1.2e-7 on the MLP), hence a looser bound for Adam.
fn param_tol(cfg: OptimizerConfig) -> f64 {
    match cfg {
        OptimizerConfig::Sgd { .. } => 1e-6,
        OptimizerConfig::Adam { .. } | OptimizerConfig::AdamW { .. } => 1e-4,
    }
}

/// Which autograd node carries the model on the bridge path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum NodeKind {
    /// `value_and_grad_node` + the generated `*_loss_grad` (gradients at forward time).
    Grad,
    /// `slice_node`: `*_loss` forward, the generated `*_loss_pullback` in `backward()`.
    Pullback,
}

// ---------------------------------------------------------------------------
// The bridge path

/// The model's parameters as `tch` variables of a `VarStore`, named as in
/// [`Network::param_infos`] (`fc1.weight`, `conv2.bias`, …).
struct Bridge {
    spec: ModelSpec,
    vs: nn::VarStore,
    /// The variables in `param_infos` order (they share storage with the `VarStore`'s).
    params: Vec<Tensor>,
}

impl Bridge {
    /// Copies `net`'s parameters into fresh trainable variables.
    fn from_network(net: &Network) -> Result<Self> {
        let vs = nn::VarStore::new(Device::Cpu);
        let mut params = Vec::new();
        let mut off = 0;
        for info in net.param_infos() {
            let (layer, leaf) = info.name.split_once('.').ok_or("parameter name")?;
            let n = info.len();
            let shape: Vec<i64> = info.shape.iter().map(|&d| d as i64).collect();
            let init = Tensor::from_slice(&net.params()[off..off + n]).view(shape.as_slice());
            params.push((vs.root() / layer).f_var_copy(leaf, &init)?);
            off += n;
        }
        Ok(Bridge {
            spec: net.spec(),
            vs,
            params,
        })
    }

    /// The parameters flattened in [`Network::params`] order.
    fn flat_params(&self) -> Result<Vec<f32>> {
        let mut v = Vec::new();
        for t in &self.params {
            v.extend(Vec::<f32>::try_from(&t.detach().flatten(0, -1))?);
        }
        Ok(v)
    }

    /// The gradients of the last `backward()`, flattened in [`Network::params`] order.
    fn flat_grads(&self) -> Result<Vec<f32>> {
        let mut v = Vec::new();
        for t in &self.params {
            let g = t.grad();
            if !g.defined() {
                return Err("a parameter got no gradient".into());
            }
            v.extend(Vec::<f32>::try_from(&g.flatten(0, -1))?);
        }
        Ok(v)
    }

    /// The mean loss on the batch as one autograd node over the parameters.
    fn loss(&self, kind: NodeKind, x: &[f32], labels: &[usize]) -> Result<Tensor> {
        let inputs: Vec<&Tensor> = self.params.iter().collect();
        let rows = labels.len();
        Ok(match self.spec {
            ModelSpec::Mlp {
                in_features,
                hidden,
                classes,
            } => {
                let d = MlpDims {
                    batch: rows,
                    in_features,
                    hidden,
                    classes,
                };
                mlp_node(kind, &inputs, x, labels, d)?
            }
            ModelSpec::GwCnn { len, classes } => {
                cnn_node(kind, &inputs, x, labels, &CnnDims::new(len, classes, rows)?)?
            }
        })
    }
}

fn mlp_node(
    kind: NodeKind,
    inputs: &[&Tensor],
    x: &[f32],
    labels: &[usize],
    d: MlpDims,
) -> Result<Tensor, ferrograd_torch::Error> {
    match kind {
        NodeKind::Grad => value_and_grad_node("mlp_loss", inputs, |p, dp| {
            let (mut acts, mut d_acts) = (MlpActs::zeros(&d), MlpActs::zeros(&d));
            Ok(mlp::mlp_loss_grad(
                x,
                labels,
                &MlpParams::from_regions(p),
                &mut acts.as_view(),
                &d,
                &mut MlpParams::from_regions(dp),
                &mut d_acts.as_view(),
            )?)
        }),
        NodeKind::Pullback => {
            let (x_bwd, labels_bwd) = (x.to_vec(), labels.to_vec());
            slice_node(
                "mlp_loss",
                inputs,
                &[],
                |p, out| {
                    let mut acts = MlpActs::zeros(&d);
                    let p = MlpParams::from_regions(p);
                    out[0] = mlp::mlp_loss(x, labels, &p, &mut acts.as_view(), &d)?;
                    Ok(acts)
                },
                move |acts, pb: Pullback<f32, 4>| {
                    let mut d_acts = MlpActs::zeros(&d);
                    mlp::mlp_loss_pullback(
                        &x_bwd,
                        &labels_bwd,
                        &MlpParams::from_regions(pb.inputs),
                        &mut acts.as_view(),
                        &d,
                        pb.d_out[0],
                        &mut [], // d_x: not wanted
                        &mut MlpParams::from_regions(pb.d_inputs),
                        &mut d_acts.as_view(),
                    )?;
                    Ok(())
                },
            )
        }
    }
}

fn cnn_node(
    kind: NodeKind,
    inputs: &[&Tensor],
    x: &[f32],
    labels: &[usize],
    d: &CnnDims,
) -> Result<Tensor, ferrograd_torch::Error> {
    let d = *d;
    match kind {
        NodeKind::Grad => value_and_grad_node("gw_cnn_loss", inputs, |p, dp| {
            let (mut acts, mut d_acts) = (CnnActs::zeros(&d), CnnActs::zeros(&d));
            let mut am = PoolArgmax::zeros(&d);
            Ok(cnn::gw_cnn_loss_grad(
                x,
                labels,
                &CnnParams::from_regions(p),
                &mut acts.as_view(),
                &mut am.as_view(),
                &d,
                &mut CnnParams::from_regions(dp),
                &mut d_acts.as_view(),
            )?)
        }),
        NodeKind::Pullback => {
            let (x_bwd, labels_bwd) = (x.to_vec(), labels.to_vec());
            slice_node(
                "gw_cnn_loss",
                inputs,
                &[],
                |p, out| {
                    let (mut acts, mut am) = (CnnActs::zeros(&d), PoolArgmax::zeros(&d));
                    let p = CnnParams::from_regions(p);
                    out[0] = cnn::gw_cnn_loss(
                        x,
                        labels,
                        &p,
                        &mut acts.as_view(),
                        &mut am.as_view(),
                        &d,
                    )?;
                    Ok((acts, am))
                },
                move |(acts, am), pb: Pullback<f32, 10>| {
                    let mut d_acts = CnnActs::zeros(&d);
                    cnn::gw_cnn_loss_pullback(
                        &x_bwd,
                        &labels_bwd,
                        &CnnParams::from_regions(pb.inputs),
                        &mut acts.as_view(),
                        &mut am.as_view(),
                        &d,
                        pb.d_out[0],
                        &mut [], // d_x: not wanted
                        &mut CnnParams::from_regions(pb.d_inputs),
                        &mut d_acts.as_view(),
                    )?;
                    Ok(())
                },
            )
        }
    }
}

/// The `tch::nn` optimizer with the same hyper-parameters. (The same mapping as the CLI's
/// `torch_engine::optimizer`, which an integration test cannot import from a binary crate.)
fn tch_optimizer(vs: &nn::VarStore, cfg: OptimizerConfig) -> Result<nn::Optimizer> {
    Ok(match cfg {
        OptimizerConfig::Sgd {
            lr,
            momentum,
            weight_decay,
            nesterov,
        } => nn::Sgd {
            momentum: f64::from(momentum),
            dampening: 0.0,
            wd: f64::from(weight_decay),
            nesterov,
        }
        .build(vs, f64::from(lr))?,
        OptimizerConfig::Adam {
            lr,
            beta1,
            beta2,
            eps,
            weight_decay,
        } => nn::Adam {
            beta1: f64::from(beta1),
            beta2: f64::from(beta2),
            wd: f64::from(weight_decay),
            eps: f64::from(eps),
            amsgrad: false,
        }
        .build(vs, f64::from(lr))?,
        OptimizerConfig::AdamW {
            lr,
            beta1,
            beta2,
            eps,
            weight_decay,
        } => nn::AdamW {
            beta1: f64::from(beta1),
            beta2: f64::from(beta2),
            wd: f64::from(weight_decay),
            eps: f64::from(eps),
            amsgrad: false,
        }
        .build(vs, f64::from(lr))?,
    })
}

// ---------------------------------------------------------------------------
// Both paths, step by step

/// The batch of step `step`: inputs uniform in [-1, 1], labels pseudo-random.
fn batch(spec: ModelSpec, step: u64) -> (Vec<f32>, Vec<usize>) {
    let mut rng = SplitMix64::new(1000 + step);
    let x = (0..BATCH * spec.input_len())
        .map(|_| rng.uniform(-1.0, 1.0))
        .collect();
    let labels = (0..BATCH)
        .map(|_| (rng.next_u64() % spec.classes() as u64) as usize)
        .collect();
    (x, labels)
}

/// `max |a − b| / max(|a|, |b|)` over a tensor (0 for two zero tensors).
fn rel_diff(a: &[f32], b: &[f32]) -> f64 {
    assert_eq!(a.len(), b.len());
    let (mut diff, mut scale) = (0.0f64, 0.0f64);
    for (&x, &y) in a.iter().zip(b) {
        let (x, y) = (f64::from(x), f64::from(y));
        diff = diff.max((x - y).abs());
        scale = scale.max(x.abs()).max(y.abs());
    }
    if scale == 0.0 {
        diff
    } else {
        diff / scale
    }
}

/// The largest differences seen over a run (each the worst over steps and parameter tensors).
#[derive(Debug, Default)]
struct Report {
    /// Arena against bridge trajectory: relative loss difference.
    loss: f64,
    /// Arena against bridge trajectory: gradients ([`rel_diff`] over the whole model).
    grad: f64,
    /// Arena against bridge trajectory: parameters after each update.
    param: f64,
    /// Whether, at every step, the bridge node's loss and gradients were bitwise those of
    /// the arena evaluated at the bridge's own current parameters.
    node_bitwise: bool,
    /// The same, against the bridge: the largest gradient difference (0 when bitwise).
    node_grad: f64,
    /// Whether the first step (same parameters on both paths) had bitwise equal loss and
    /// gradients.
    first_step_bitwise: bool,
    /// Whether the whole trajectories were bitwise equal (parameters included).
    all_bitwise: bool,
    /// How far training moved the parameters (relative), so the run is not vacuous.
    moved: f64,
    /// The arena's loss at the first and last step.
    losses: (f32, f32),
}

/// Worst per-tensor [`rel_diff`] over the model's parameter tensors.
fn per_tensor(net: &Network, a: &[f32], b: &[f32]) -> f64 {
    let mut off = 0;
    let mut worst = 0.0f64;
    for info in net.param_infos() {
        let n = info.len();
        worst = worst.max(rel_diff(&a[off..off + n], &b[off..off + n]));
        off += n;
    }
    worst
}

fn rel_loss(a: f32, b: f32) -> f64 {
    f64::from((a - b).abs()) / f64::from(a.abs().max(b.abs()))
}

/// Trains `spec` for [`STEPS`] steps both ways from the same initial parameters on the same
/// batches. `seed_scale` multiplies the bridge's backward seed: 1 for the real comparison;
/// anything else scales the bridge's gradients, which must be caught.
fn compare(
    spec: ModelSpec,
    cfg: OptimizerConfig,
    kind: NodeKind,
    seed_scale: f64,
) -> Result<Report> {
    let mut net = Network::new(spec, BATCH, 7)?;
    let bridge = Bridge::from_network(&net)?;
    // The arena evaluated at the bridge's parameters (loaded each step).
    let mut probe = Network::new(spec, BATCH, 0)?;
    let p0 = net.params().to_vec();
    assert_eq!(
        bridge.flat_params()?,
        p0,
        "initial parameters copied exactly"
    );
    let mut ours = Optimizer::new(cfg, p0.len())?;
    let mut theirs = tch_optimizer(&bridge.vs, cfg)?;
    let mut r = Report {
        node_bitwise: true,
        all_bitwise: true,
        ..Report::default()
    };
    for step in 0..STEPS {
        let (x, labels) = batch(spec, step);

        // arena: loss and gradients into the arena, then the fused update (which clears the
        // gradients as it consumes them, hence the copy first), as `Trainer` does
        let loss_a = net.loss_and_grad(&x, &labels)?;
        let grads_a = net.grads().to_vec();
        net.step(&mut ours)?;

        // bridge: one autograd node, LibTorch's backward and optimizer
        probe.params_mut().copy_from_slice(&bridge.flat_params()?);
        let loss_probe = probe.loss_and_grad(&x, &labels)?;
        theirs.zero_grad();
        let loss = bridge.loss(kind, &x, &labels)?;
        let loss_b = loss.f_double_value(&[])? as f32;
        if seed_scale == 1.0 {
            ferrograd_torch::backward(&loss)?;
        } else {
            ferrograd_torch::backward(&loss.f_mul_scalar(seed_scale)?)?;
        }
        let grads_b = bridge.flat_grads()?;
        theirs.step();
        let params_b = bridge.flat_params()?;

        let same_node = loss_probe.to_bits() == loss_b.to_bits() && probe.grads() == grads_b;
        r.node_bitwise &= same_node;
        r.node_grad = r.node_grad.max(per_tensor(&net, probe.grads(), &grads_b));
        let params_a = net.params();
        let same_step = loss_a.to_bits() == loss_b.to_bits() && grads_a == grads_b;
        if step == 0 {
            r.first_step_bitwise = same_step;
            r.losses.0 = loss_a;
        }
        r.losses.1 = loss_a;
        r.all_bitwise &= same_step && params_a == params_b.as_slice();
        r.loss = r.loss.max(rel_loss(loss_a, loss_b));
        r.grad = r.grad.max(rel_diff(&grads_a, &grads_b));
        r.param = r.param.max(per_tensor(&net, params_a, &params_b));
        assert!(loss_a.is_finite(), "step {step}: loss {loss_a}");
    }
    r.moved = per_tensor(&net, net.params(), &p0);
    println!(
        "{spec:?}, {cfg:?}, {kind:?} node, seed ×{seed_scale}, {STEPS} steps: node = arena at \
         the bridge's parameters bitwise: {} (max grad diff {:.2e}); trajectories: max rel. \
         difference loss {:.2e}, gradients {:.2e}, parameters {:.2e}, first step bitwise {}, \
         all bitwise {}; parameters moved {:.2e}; loss {:.4} → {:.4}",
        r.node_bitwise,
        r.node_grad,
        r.loss,
        r.grad,
        r.param,
        r.first_step_bitwise,
        r.all_bitwise,
        r.moved,
        r.losses.0,
        r.losses.1
    );
    Ok(r)
}

fn configs() -> [OptimizerConfig; 3] {
    [
        OptimizerConfig::sgd(0.1, 0.0),
        OptimizerConfig::sgd(0.1, 0.9),
        OptimizerConfig::adam(1e-2),
    ]
}

fn paths_agree(spec: ModelSpec) -> Result<()> {
    let mut failures = Vec::new();
    for cfg in configs() {
        for kind in [NodeKind::Grad, NodeKind::Pullback] {
            let r = compare(spec, cfg, kind, 1.0)?;
            let checks = [
                (
                    r.node_bitwise,
                    "node loss/gradients bitwise = arena at the same parameters",
                ),
                (
                    r.first_step_bitwise,
                    "first step's loss/gradients bitwise equal",
                ),
                (r.loss <= LOSS_TOL, "losses within LOSS_TOL"),
                (r.grad <= GRAD_TOL, "gradients within GRAD_TOL"),
                (r.param <= param_tol(cfg), "parameters within param_tol"),
                (r.moved > 0.05, "training moved the parameters"),
            ];
            for (ok, what) in checks {
                if !ok {
                    failures.push(format!("{cfg:?}, {kind:?}: {what} failed: {r:?}"));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{spec:?}:\n{}", failures.join("\n"));
    Ok(())
}

#[test]
fn mlp_bridge_and_arena_train_identically() -> Result<()> {
    paths_agree(MLP)
}

#[test]
fn cnn_bridge_and_arena_train_identically() -> Result<()> {
    paths_agree(CNN)
}

/// The comparison is sensitive: bridge gradients off by one part in 10⁴ are caught, both by
/// the exact check of the node and on the trajectories.
#[test]
fn scaled_bridge_gradients_are_caught() -> Result<()> {
    for spec in [MLP, CNN] {
        for cfg in configs() {
            let r = compare(spec, cfg, NodeKind::Grad, 1.0 + 1e-4)?;
            let what = format!("{spec:?}, {cfg:?}: scaled gradients went unnoticed ({r:?})");
            assert!(!r.node_bitwise && r.node_grad > 5e-5, "{what}");
            assert!(r.grad > 5.0 * GRAD_TOL, "{what}");
            // Adam's update is (nearly) invariant to a gradient scale, hence the gradient
            // checks; SGD's is not.
            if let OptimizerConfig::Sgd { .. } = cfg {
                assert!(r.param > 10.0 * param_tol(cfg), "{what}");
            }
        }
    }
    Ok(())
}
