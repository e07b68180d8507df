//! The ferrograd node inside LibTorch (`ferrograd-torch`): the parameters are `tch` variables
//! of a `VarStore`, the loss is ONE LibTorch autograd node over their storage
//! (`value_and_grad_node` running the generated `mlp_loss_grad` / `gw_cnn_loss_grad`, which
//! computes the value and every gradient in one sweep), `backward()` hands the gradients to the
//! variables and `tch::nn::Sgd` updates them, as `crates/ferrograd-cli/tests/bridge_vs_arena.rs`
//! trains W1 and W2. The activation buffers are allocated once and reused (zeroed per step).
//! W3 does not apply: the NLL is not a `tch` model (ferrograd's row covers it).

use anyhow::{anyhow, ensure, Result};
use ferrograd_torch::node::value_and_grad_node;
use ferrograd_train::models::{cnn, mlp};
use ferrograd_train::{CnnDims, ModelSpec};
use tch::nn::{self, OptimizerConfig as _};
use tch::{Device, Tensor};

use super::Engine;
use crate::workload::{Inputs, Workload, LR};

/// Activation buffers and their adjoints for one model.
enum Acts {
    /// `h, a: [batch, hidden]`, `logits, probs: [batch, classes]`, and adjoints.
    Mlp {
        f: [Vec<f32>; 4],
        d: [Vec<f32>; 4],
        in_f: usize,
        hidden: usize,
        classes: usize,
    },
    /// The three stages' conv, ReLU and pool outputs, `f1`, `a1`, logits, probs; their
    /// adjoints; the pools' argmax.
    Cnn {
        f: Box<[Vec<f32>; 13]>,
        d: Box<[Vec<f32>; 13]>,
        am: [Vec<usize>; 3],
        dims: Box<CnnDims>,
    },
}

impl Acts {
    fn new(spec: ModelSpec, batch: usize) -> Result<Acts> {
        Ok(match spec {
            ModelSpec::Mlp {
                in_features,
                hidden,
                classes,
            } => {
                let z = |n: usize| vec![0.0f32; batch * n];
                Acts::Mlp {
                    f: [z(hidden), z(hidden), z(classes), z(classes)],
                    d: [z(hidden), z(hidden), z(classes), z(classes)],
                    in_f: in_features,
                    hidden,
                    classes,
                }
            }
            ModelSpec::GwCnn { len, classes } => {
                let dims = CnnDims::new(len, classes, batch)?;
                let mut lens = Vec::new();
                let mut am = Vec::new();
                for p in &dims.pool {
                    let pooled = p.rows * p.len_out()?;
                    lens.extend([p.rows * p.len_in, p.rows * p.len_in, pooled]);
                    am.push(vec![0usize; pooled]);
                }
                let (h, k) = (dims.batch * dims.hidden, dims.batch * dims.classes);
                lens.extend([h, h, k, k]);
                let f: Vec<Vec<f32>> = lens.iter().map(|&n| vec![0.0; n]).collect();
                let f: [Vec<f32>; 13] = f.try_into().map_err(|_| anyhow!("13 activations"))?;
                Acts::Cnn {
                    d: Box::new(f.clone()),
                    f: Box::new(f),
                    am: am.try_into().map_err(|_| anyhow!("3 argmax buffers"))?,
                    dims: Box::new(dims),
                }
            }
        })
    }
}

struct Bridge {
    /// Owns the variables that `params` and `opt` use.
    _vs: nn::VarStore,
    /// The variables in `ModelSpec::params` order (they share storage with the `VarStore`'s).
    params: Vec<Tensor>,
    opt: nn::Optimizer,
    acts: Acts,
    x: Vec<f32>,
    labels: Vec<usize>,
}

impl Bridge {
    /// The mean loss on the batch as one autograd node over the parameters.
    fn loss(&mut self) -> Result<Tensor> {
        let inputs: Vec<&Tensor> = self.params.iter().collect();
        let (x, labels) = (self.x.as_slice(), self.labels.as_slice());
        let rows = labels.len();
        let node = match &mut self.acts {
            Acts::Mlp {
                f,
                d,
                in_f,
                hidden,
                classes,
            } => {
                let (in_f, hidden, classes) = (*in_f, *hidden, *classes);
                for v in d.iter_mut() {
                    v.fill(0.0);
                }
                let [h, a, lg, pr] = f;
                let [dh, da, dl, dp] = d;
                value_and_grad_node("mlp_loss", &inputs, |[w1, b1, w2, b2], g| {
                    let [dw1, db1, dw2, db2] = g;
                    Ok(mlp::mlp_loss_grad(
                        x, labels, w1, b1, w2, b2, h, a, lg, pr, rows, in_f, hidden, classes, dw1,
                        db1, dw2, db2, dh, da, dl, dp,
                    )?)
                })?
            }
            Acts::Cnn { f, d, am, dims } => {
                let dims = **dims;
                for v in d.iter_mut() {
                    v.fill(0.0);
                }
                let [c1, r1, p1, c2, r2, p2, c3, r3, p3, f1, a1, lg, pr] = &mut **f;
                let [am1, am2, am3] = am;
                let [dc1, dr1, dp1, dc2, dr2, dp2, dc3, dr3, dp3, df1, da1, dlg, dpr] = &mut **d;
                value_and_grad_node("gw_cnn_loss", &inputs, |p, g| {
                    let [cw1, cb1, cw2, cb2, cw3, cb3, fw1, fb1, fw2, fb2] = p;
                    let [dcw1, dcb1, dcw2, dcb2, dcw3, dcb3, dfw1, dfb1, dfw2, dfb2] = g;
                    Ok(cnn::gw_cnn_loss_grad(
                        x, labels, cw1, cb1, cw2, cb2, cw3, cb3, fw1, fb1, fw2, fb2, c1, r1, p1,
                        c2, r2, p2, c3, r3, p3, f1, a1, lg, pr, am1, am2, am3, &dims, dcw1, dcb1,
                        dcw2, dcb2, dcw3, dcb3, dfw1, dfb1, dfw2, dfb2, dc1, dr1, dp1, dc2, dr2,
                        dp2, dc3, dr3, dp3, df1, da1, dlg, dpr,
                    )?)
                })?
            }
        };
        Ok(node)
    }
}

impl Engine for Bridge {
    fn check(&mut self) -> Result<Vec<f64>> {
        self.opt.zero_grad();
        let loss = self.loss()?;
        ferrograd_torch::backward(&loss)?;
        let mut v = vec![loss.f_double_value(&[])?];
        for t in &self.params {
            let g = t.grad();
            ensure!(g.defined(), "a parameter got no gradient");
            let g = Vec::<f32>::try_from(&g.f_flatten(0, -1)?)?;
            v.extend(g.into_iter().map(f64::from));
        }
        Ok(v)
    }

    fn step(&mut self) -> Result<()> {
        self.opt.zero_grad();
        let loss = self.loss()?;
        ferrograd_torch::backward(&loss)?;
        self.opt.step();
        std::hint::black_box(&loss);
        Ok(())
    }

    fn counts_allocations(&self) -> bool {
        // The node's gradients and LibTorch's autograd graph are C++ allocations the Rust
        // counter does not see; the count would be partial.
        false
    }
}

/// Why the bridge has no W3 row.
pub const NO_W3: &str = "the bridge carries ferrograd's training models (W1, W2) as one LibTorch autograd node; the W3 NLL is not a tch model (see ferrograd's row)";

pub fn engine(workload: Workload, inputs: &Inputs) -> Result<Box<dyn Engine>> {
    let Some((spec, batch)) = inputs.network(workload)? else {
        return Err(anyhow!("unavailable: {NO_W3}"));
    };
    let flat = inputs.f32s("params")?;
    let vs = nn::VarStore::new(Device::Cpu);
    let mut params = Vec::new();
    let mut off = 0;
    for info in spec.params()? {
        let (layer, leaf) = info
            .name
            .split_once('.')
            .ok_or_else(|| anyhow!("parameter name `{}`", info.name))?;
        let n = info.len();
        ensure!(off + n <= flat.len(), "parameter file too short");
        let shape: Vec<i64> = info.shape.iter().map(|&d| d as i64).collect();
        let init = Tensor::f_from_slice(&flat[off..off + n])?.f_view(shape.as_slice())?;
        params.push((vs.root() / layer).f_var_copy(leaf, &init)?);
        off += n;
    }
    ensure!(off == flat.len(), "{} parameters, {off} used", flat.len());
    let opt = nn::Sgd::default().build(&vs, f64::from(LR))?;
    let x = inputs.f32s("x")?;
    let labels = inputs
        .i64s("y")?
        .into_iter()
        .map(|y| usize::try_from(y).map_err(|_| anyhow!("label {y}")))
        .collect::<Result<Vec<_>>>()?;
    ensure!(
        labels.len() == batch,
        "{} labels, batch {batch}",
        labels.len()
    );
    Ok(Box::new(Bridge {
        _vs: vs,
        params,
        opt,
        acts: Acts::new(spec, batch)?,
        x,
        labels,
    }))
}
