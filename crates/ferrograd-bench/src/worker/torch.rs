//! tch autograd from Rust: the same models written with LibTorch ops (what a Rust user would
//! write without ferrograd), autograd backward, SGD update under `no_grad`. W3 as vectorised
//! f64 tensor code; its Hessian by differentiating each gradient component again
//! (`create_graph`), four extra backward passes.

use anyhow::{ensure, Result};
use tch::{Kind, Reduction, Tensor};

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

    fn counts_allocations(&self) -> bool {
        false // LibTorch allocates with the C++ allocator, which the Rust counter does not see
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

    fn counts_allocations(&self) -> bool {
        false
    }
}

pub fn engine(workload: Workload, inputs: &Inputs) -> Result<Box<dyn Engine>> {
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
