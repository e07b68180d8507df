//! The ferrograd node inside LibTorch (`ferrograd-torch`): the parameters are `tch` variables
//! of a `VarStore`, the loss is ONE LibTorch autograd node over their storage
//! (`value_and_grad_node` running the generated `mlp_loss_grad` / `gw_cnn_loss_grad`, which
//! computes the value and every gradient in one sweep), `backward()` hands the gradients to the
//! variables and `tch::nn::Sgd` updates them, as `crates/ferrograd-cli/tests/bridge_vs_arena.rs`
//! trains W1 and W2. The activation buffers are allocated once and reused (zeroed per step).
//! W4: the node runs the generated `gpt_loss_grad` over the 16 stacked GPT parameters, and
//! `tch::nn::AdamW` (configured as the tch worker's) updates them.
//! W3 does not apply: the NLL is not a `tch` model (ferrograd's row covers it).

use anyhow::{anyhow, ensure, Result};
use ferrograd_torch::node::value_and_grad_node;
use ferrograd_train::models::cnn::{self, CnnActs, CnnParams, PoolArgmax};
use ferrograd_train::models::gpt::{self, GptActs, GptDims, GptParams, MiniGpt};
use ferrograd_train::models::mlp::{self, MlpActs, MlpDims, MlpParams};
use ferrograd_train::{CnnDims, Model as _, ModelSpec};
use tch::nn::{self, OptimizerConfig as _};
use tch::{Device, Tensor};

use super::Engine;
use crate::workload::{Inputs, Workload, LR};

/// Activation buffers and their adjoints for one model.
enum Acts {
    Mlp {
        f: MlpActs<Vec<f32>>,
        d: MlpActs<Vec<f32>>,
        dims: MlpDims,
    },
    Cnn {
        f: Box<CnnActs<Vec<f32>>>,
        d: Box<CnnActs<Vec<f32>>>,
        am: PoolArgmax<Vec<usize>>,
        dims: Box<CnnDims>,
    },
    /// W4: the `gpt::ACT_REGIONS` activation regions of `MiniGpt::activation_row_lens` at the batch, their
    /// adjoints (which the pullbacks leave zeroed; re-zeroed only after a failed call), the
    /// token ids.
    Gpt {
        f: Box<[Vec<f32>; gpt::ACT_REGIONS]>,
        d: Box<[Vec<f32>; gpt::ACT_REGIONS]>,
        dirty: bool,
        ids: Vec<usize>,
        dims: GptDims,
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
                let dims = MlpDims {
                    batch,
                    in_features,
                    hidden,
                    classes,
                };
                Acts::Mlp {
                    f: MlpActs::zeros(&dims),
                    d: MlpActs::zeros(&dims),
                    dims,
                }
            }
            ModelSpec::GwCnn { len, classes } => {
                let dims = CnnDims::new(len, classes, batch)?;
                Acts::Cnn {
                    f: Box::new(CnnActs::zeros(&dims)),
                    d: Box::new(CnnActs::zeros(&dims)),
                    am: PoolArgmax::zeros(&dims),
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
        let node = match &mut self.acts {
            Acts::Mlp { f, d, dims } => {
                d.zero();
                value_and_grad_node("mlp_loss", &inputs, |p, g| {
                    Ok(mlp::mlp_loss_grad(
                        x,
                        labels,
                        &MlpParams::from_regions(p),
                        &mut f.as_view(),
                        dims,
                        &mut MlpParams::from_regions(g),
                        &mut d.as_view(),
                    )?)
                })?
            }
            Acts::Gpt {
                f,
                d,
                dirty,
                ids,
                dims,
            } => {
                if *dirty {
                    d.iter_mut().for_each(|v| v.fill(0.0));
                }
                *dirty = true;
                let node = value_and_grad_node("gpt_loss", &inputs, |p, g| {
                    Ok(gpt::gpt_loss_grad(
                        ids,
                        labels,
                        &GptParams::from_regions(p),
                        &mut GptActs::from_regions(f.each_mut().map(Vec::as_mut_slice)),
                        dims,
                        &mut GptParams::from_regions(g),
                        &mut GptActs::from_regions(d.each_mut().map(Vec::as_mut_slice)),
                    )?)
                })?;
                *dirty = false;
                node
            }
            Acts::Cnn { f, d, am, dims } => {
                d.zero();
                value_and_grad_node("gw_cnn_loss", &inputs, |p, g| {
                    Ok(cnn::gw_cnn_loss_grad(
                        x,
                        labels,
                        &CnnParams::from_regions(p),
                        &mut f.as_view(),
                        &mut am.as_view(),
                        dims,
                        &mut CnnParams::from_regions(g),
                        &mut d.as_view(),
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
}

/// Why the bridge has no W3 row.
pub const NO_W3: &str = "the bridge carries ferrograd's training models (W1, W2) as one LibTorch autograd node; the W3 NLL is not a tch model (see ferrograd's row)";

/// W4's bridge: the `VarStore` and AdamW as the tch worker's, the arena model's buffers.
fn gpt_engine(inputs: &Inputs) -> Result<Box<dyn Engine>> {
    let g = MiniGpt::W4;
    let vs = nn::VarStore::new(Device::Cpu);
    let params = super::torch::gpt_vars(&vs, &g, &inputs.f32s("params")?)?;
    let opt = super::torch::gpt_adamw(&vs)?;
    let batch = inputs
        .batch(Workload::W4)?
        .unwrap_or(crate::workload::W4_BATCH);
    let to_usize = |v: Vec<i64>| -> Result<Vec<usize>> {
        v.into_iter()
            .map(|t| {
                usize::try_from(t)
                    .ok()
                    .filter(|&t| t < g.vocab)
                    .ok_or_else(|| anyhow!("token id {t} outside 0..{}", g.vocab))
            })
            .collect()
    };
    let ids = to_usize(inputs.i64s("x")?)?;
    let labels = to_usize(inputs.i64s("y")?)?;
    ensure!(
        ids.len() == batch * g.seq && labels.len() == ids.len(),
        "{} tokens and {} labels for batch {batch}",
        ids.len(),
        labels.len()
    );
    let lens = g.activation_row_lens()?;
    ensure!(
        lens.len() == gpt::ACT_REGIONS,
        "{} GPT activation regions, expected {}",
        lens.len(),
        gpt::ACT_REGIONS
    );
    let bufs = || -> Box<[Vec<f32>; gpt::ACT_REGIONS]> {
        Box::new(std::array::from_fn(|i| vec![0.0; lens[i] * batch]))
    };
    Ok(Box::new(Bridge {
        _vs: vs,
        params,
        opt,
        acts: Acts::Gpt {
            f: bufs(),
            d: bufs(),
            dirty: false,
            ids,
            dims: g.dims(batch),
        },
        x: Vec::new(),
        labels,
    }))
}

pub fn engine(workload: Workload, inputs: &Inputs) -> Result<Box<dyn Engine>> {
    if workload == Workload::W4 {
        return gpt_engine(inputs);
    }
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
