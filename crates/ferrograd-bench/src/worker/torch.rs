//! tch autograd from Rust: the same models written with LibTorch ops (what a Rust user would
//! write without ferrograd), autograd backward, SGD update under `no_grad`; W4 a GPT written
//! with LibTorch ops (`scaled_dot_product_attention`, `gelu("tanh")`, `layer_norm`) over the
//! stacked parameters of a `VarStore`, stepped by `tch::nn::AdamW`. W3 as vectorised
//! f64 tensor code; its Hessian by differentiating each gradient component again
//! (`create_graph`), four extra backward passes.

use anyhow::{anyhow, ensure, Result};
use ferrograd_train::models::gpt::MiniGpt;
use ferrograd_train::Model as _;
use tch::nn::{self, OptimizerConfig as _};
use tch::{Device, Kind, Reduction, Tensor};

use super::Engine;
use crate::workload::{Inputs, Workload, LR};

fn to_f64s(t: &Tensor) -> Result<Vec<f64>> {
    let flat = t.f_to_kind(Kind::Double)?.f_flatten(0, -1)?;
    Ok(Vec::<f64>::try_from(&flat)?)
}

enum Net {
    Mlp,
    Cnn,
}

struct Train {
    net: Net,
    params: Vec<Tensor>,
    x: Tensor,
    y: Tensor,
}

impl Train {
    fn loss(&self) -> Result<Tensor> {
        let p = &self.params;
        let logits = match self.net {
            Net::Mlp => self
                .x
                .f_linear(&p[0], Some(&p[1]))?
                .f_relu()?
                .f_linear(&p[2], Some(&p[3]))?,
            Net::Cnn => {
                let mut h = self.x.shallow_clone();
                for k in 0..3 {
                    h = h
                        .f_conv1d(&p[2 * k], Some(&p[2 * k + 1]), [1], [0], [1], 1)?
                        .f_relu()?
                        .f_max_pool1d([4], [4], [0], [1], false)?;
                }
                h.f_flatten(1, -1)?
                    .f_linear(&p[6], Some(&p[7]))?
                    .f_relu()?
                    .f_linear(&p[8], Some(&p[9]))?
            }
        };
        Ok(logits
            .f_log_softmax(-1, Kind::Float)?
            .f_nll_loss::<Tensor>(&self.y, None, Reduction::Mean, -100)?)
    }

    fn zero_grads(&mut self) {
        for p in &mut self.params {
            p.zero_grad();
        }
    }
}

impl Engine for Train {
    fn check(&mut self) -> Result<Vec<f64>> {
        self.zero_grads();
        let loss = self.loss()?;
        loss.f_backward()?;
        let mut v = to_f64s(&loss)?;
        for p in &self.params {
            v.extend(to_f64s(&p.grad())?);
        }
        Ok(v)
    }

    fn step(&mut self) -> Result<()> {
        self.zero_grads();
        let loss = self.loss()?;
        loss.f_backward()?;
        tch::no_grad(|| -> Result<()> {
            for p in &mut self.params {
                let g = p.grad().f_mul_scalar(f64::from(LR))?;
                let _ = p.f_sub_(&g)?;
            }
            Ok(())
        })
    }
}

struct Nll {
    p: Tensor,
    x: Tensor,
    lo: f64,
    hi: f64,
    hessian: bool,
}

impl Nll {
    /// `−Σ ln[f·G(x)/I_G + (1−f)·e^{cx}/I_E]`, as in `ferrograd_fit::model::nll`.
    fn nll(&self) -> Result<Tensor> {
        let (lo, hi) = (self.lo, self.hi);
        let sel = |k: i64| self.p.f_select(0, k);
        let (mean, sigma, c, frac) = (sel(0)?, sel(1)?, sel(2)?, sel(3)?);
        let s2 = sigma.f_mul_scalar(std::f64::consts::SQRT_2)?;
        let erf_at =
            |v: f64| -> Result<Tensor> { Ok(mean.f_neg()?.f_add_scalar(v)?.f_div(&s2)?.f_erf()?) };
        let norm_g = sigma
            .f_mul_scalar((std::f64::consts::PI / 2.0).sqrt())?
            .f_mul(&erf_at(hi)?.f_sub(&erf_at(lo)?)?)?;
        let norm_e = c
            .f_mul_scalar(hi)?
            .f_exp()?
            .f_sub(&c.f_mul_scalar(lo)?.f_exp()?)?
            .f_div(&c)?;
        let wg = frac.f_div(&norm_g)?;
        let we = frac.f_rsub_scalar(1.0)?.f_div(&norm_e)?;
        let z = self.x.f_sub(&mean)?.f_div(&sigma)?;
        let gauss = z.f_mul(&z)?.f_mul_scalar(-0.5)?.f_exp()?.f_mul(&wg)?;
        let expo = self.x.f_mul(&c)?.f_exp()?.f_mul(&we)?;
        Ok(gauss.f_add(&expo)?.f_log()?.f_sum(Kind::Double)?.f_neg()?)
    }

    fn eval(&self) -> Result<Vec<f64>> {
        let v = self.nll()?;
        let mut out = to_f64s(&v)?;
        if self.hessian {
            let g = Tensor::f_run_backward(&[&v], &[&self.p], true, true)?;
            for i in 0..4 {
                let gi = g[0].f_select(0, i)?;
                let h = Tensor::f_run_backward(&[&gi], &[&self.p], true, false)?;
                out.extend(to_f64s(&h[0])?);
            }
        } else {
            let g = Tensor::f_run_backward(&[&v], &[&self.p], false, false)?;
            out.extend(to_f64s(&g[0])?);
        }
        Ok(out)
    }
}

impl Engine for Nll {
    fn check(&mut self) -> Result<Vec<f64>> {
        self.eval()
    }

    fn step(&mut self) -> Result<()> {
        std::hint::black_box(self.eval()?);
        Ok(())
    }
}

/// Loads the flat parameter file into `vs` in `MiniGpt::params` order and layouts; the
/// variables' paths are the PyTorch names (`h.attn.c_attn.weight` → `h / attn / c_attn`,
/// `weight`). Returns them in that order.
pub fn gpt_vars(vs: &nn::VarStore, g: &MiniGpt, flat: &[f32]) -> Result<Vec<Tensor>> {
    let mut params = Vec::new();
    let mut off = 0;
    for info in g.params()? {
        let n = info.len();
        ensure!(off + n <= flat.len(), "parameter file too short");
        let shape: Vec<i64> = info.shape.iter().map(|&d| d as i64).collect();
        let init = Tensor::f_from_slice(&flat[off..off + n])?.f_view(shape.as_slice())?;
        let (path, leaf) = info
            .name
            .rsplit_once('.')
            .ok_or_else(|| anyhow!("parameter name `{}`", info.name))?;
        let mut p = vs.root();
        for seg in path.split('.') {
            p = p / seg;
        }
        params.push(p.f_var_copy(leaf, &init)?);
        off += n;
    }
    ensure!(off == flat.len(), "{} parameters, {off} used", flat.len());
    Ok(params)
}

/// W4's AdamW as `tch::nn::AdamW` (LibTorch's `torch::optim::AdamW`: decoupled decay on every
/// variable of the store, as `torch.optim.AdamW` and ferrograd's).
pub fn gpt_adamw(vs: &nn::VarStore) -> Result<nn::Optimizer> {
    use crate::workload::{W4_BETAS, W4_EPS, W4_LR, W4_WEIGHT_DECAY};
    let cfg = nn::AdamW {
        beta1: f64::from(W4_BETAS.0),
        beta2: f64::from(W4_BETAS.1),
        wd: f64::from(W4_WEIGHT_DECAY),
        eps: f64::from(W4_EPS),
        amsgrad: false,
    };
    Ok(cfg.build(vs, f64::from(W4_LR))?)
}

/// W4's token ids `[batch, seq]` and labels `[batch·seq]` as `i64` tensors.
pub fn gpt_batch(inputs: &Inputs, g: &MiniGpt) -> Result<(Tensor, Tensor, usize)> {
    let batch = inputs
        .batch(Workload::W4)?
        .unwrap_or(crate::workload::W4_BATCH);
    let x = inputs.i64s("x")?;
    let y = inputs.i64s("y")?;
    ensure!(
        x.len() == batch * g.seq && y.len() == x.len(),
        "{} tokens and {} labels for batch {batch}",
        x.len(),
        y.len()
    );
    ensure!(
        x.iter()
            .chain(&y)
            .all(|&t| (0..g.vocab as i64).contains(&t)),
        "a token id outside 0..{}",
        g.vocab
    );
    Ok((
        Tensor::f_from_slice(&x)?.f_view([batch as i64, g.seq as i64])?,
        Tensor::f_from_slice(&y)?,
        batch,
    ))
}

/// The mini-GPT's mean next-token cross-entropy with LibTorch ops (the math of
/// `ferrograd_train::models::gpt::gpt_loss`): `p` in `MiniGpt::params` order.
fn gpt_loss(p: &[Tensor], ids: &Tensor, y: &Tensor, g: &MiniGpt) -> Result<Tensor> {
    const EPS: f64 = 1e-5;
    ensure!(p.len() == 16, "{} GPT parameters, 16 expected", p.len());
    let (b, t, c, h) = (ids.size()[0], g.seq as i64, g.dim as i64, g.heads as i64);
    let hd = c / h;
    let mut x = Tensor::f_embedding(&p[0], ids, -1, false, false)?.f_add(&p[1])?;
    let heads = |z: &Tensor| -> Result<Tensor> { Ok(z.f_view([b, t, h, hd])?.f_transpose(1, 2)?) };
    for l in 0..g.layers as i64 {
        let at = |k: usize| p[k].f_select(0, l);
        let a = x.f_layer_norm([c], Some(&at(2)?), Some(&at(3)?), EPS, false)?;
        let qkv = a.f_linear(&at(4)?, Some(&at(5)?))?;
        let parts = qkv.f_split(c, -1)?;
        let y_att = Tensor::f_scaled_dot_product_attention(
            &heads(&parts[0])?,
            &heads(&parts[1])?,
            &heads(&parts[2])?,
            None::<Tensor>,
            0.0,
            true,
            None,
            false,
        )?
        .f_transpose(1, 2)?
        .f_reshape([b, t, c])?;
        x = x.f_add(&y_att.f_linear(&at(6)?, Some(&at(7)?))?)?;
        let m = x.f_layer_norm([c], Some(&at(8)?), Some(&at(9)?), EPS, false)?;
        let f = m
            .f_linear(&at(10)?, Some(&at(11)?))?
            .f_gelu("tanh")?
            .f_linear(&at(12)?, Some(&at(13)?))?;
        x = x.f_add(&f)?;
    }
    let logits = x
        .f_layer_norm([c], Some(&p[14]), Some(&p[15]), EPS, false)?
        .f_linear(&p[0], None::<Tensor>)?;
    Ok(logits
        .f_view([-1, g.vocab as i64])?
        .f_cross_entropy_loss::<Tensor>(y, None, Reduction::Mean, -100, 0.0)?)
}

struct Gpt {
    /// Owns the variables that `params` and `opt` use.
    _vs: nn::VarStore,
    params: Vec<Tensor>,
    opt: nn::Optimizer,
    ids: Tensor,
    y: Tensor,
}

impl Engine for Gpt {
    fn check(&mut self) -> Result<Vec<f64>> {
        self.opt.zero_grad();
        let loss = gpt_loss(&self.params, &self.ids, &self.y, &MiniGpt::W4)?;
        loss.f_backward()?;
        let mut v = to_f64s(&loss)?;
        for p in &self.params {
            v.extend(to_f64s(&p.grad())?);
        }
        Ok(v)
    }

    fn step(&mut self) -> Result<()> {
        self.opt.zero_grad();
        let loss = gpt_loss(&self.params, &self.ids, &self.y, &MiniGpt::W4)?;
        loss.f_backward()?;
        self.opt.step();
        std::hint::black_box(&loss);
        Ok(())
    }
}

pub fn engine(workload: Workload, inputs: &Inputs) -> Result<Box<dyn Engine>> {
    if workload == Workload::W4 {
        let g = MiniGpt::W4;
        let vs = nn::VarStore::new(Device::Cpu);
        let params = gpt_vars(&vs, &g, &inputs.f32s("params")?)?;
        let opt = gpt_adamw(&vs)?;
        let (ids, y, _) = gpt_batch(inputs, &g)?;
        return Ok(Box::new(Gpt {
            _vs: vs,
            params,
            opt,
            ids,
            y,
        }));
    }
    match inputs.network(workload)? {
        Some((spec, batch)) => {
            let flat = inputs.f32s("params")?;
            let mut params = Vec::new();
            let mut off = 0;
            for info in spec.params()? {
                let n = info.len();
                ensure!(off + n <= flat.len(), "parameter file too short");
                let shape: Vec<i64> = info.shape.iter().map(|&d| d as i64).collect();
                params.push(
                    Tensor::f_from_slice(&flat[off..off + n])?
                        .f_view(shape.as_slice())?
                        .set_requires_grad(true),
                );
                off += n;
            }
            ensure!(off == flat.len(), "{} parameters, {off} used", flat.len());
            let x = Tensor::f_from_slice(&inputs.f32s("x")?)?;
            let n_in = spec.input_len() as i64;
            let (net, x) = match spec {
                ferrograd_train::ModelSpec::Mlp { .. } => {
                    (Net::Mlp, x.f_view([batch as i64, n_in])?)
                }
                ferrograd_train::ModelSpec::GwCnn { .. } => {
                    (Net::Cnn, x.f_view([batch as i64, 1, n_in])?)
                }
            };
            let y = Tensor::f_from_slice(&inputs.i64s("y")?)?;
            Ok(Box::new(Train { net, params, x, y }))
        }
        None => {
            let m = &inputs.manifest;
            let lo = m["lo"].as_f64().unwrap_or(f64::NAN);
            let hi = m["hi"].as_f64().unwrap_or(f64::NAN);
            ensure!(lo.is_finite() && hi.is_finite(), "manifest lacks lo/hi");
            Ok(Box::new(Nll {
                p: Tensor::f_from_slice(&inputs.f64s("params")?)?.set_requires_grad(true),
                x: Tensor::f_from_slice(&inputs.f64s("x")?)?,
                lo,
                hi,
                hessian: workload == Workload::W3Hess,
            }))
        }
    }
}
