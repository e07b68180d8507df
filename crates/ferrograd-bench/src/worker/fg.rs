//! The ferrograd engine: the arena training engine for W1a/W1b/W2 (`Network::loss_and_grad`,
//! generated backward, fused SGD) and W4 (`Network<MiniGpt>`, fused AdamW), and ferrograd-fit's `#[differentiable(hessian, wrt(p))]` NLL
//! for W3 (`nll_grad`, and `Model::hessian` over event chunks).

use anyhow::{ensure, Result};
use ferrograd_fit::{model, Model};
use ferrograd_train::models::gpt::MiniGpt;
use ferrograd_train::{Model as TrainModel, Network, Optimizer, OptimizerConfig};

use super::Engine;
use crate::workload::{Inputs, Workload, LR, W3_RANGE};

struct Train<M: TrainModel> {
    net: Network<M>,
    opt: Optimizer,
    x: Vec<f32>,
    labels: Vec<usize>,
}

impl<M: TrainModel + Send> Engine for Train<M> {
    fn check(&mut self) -> Result<Vec<f64>> {
        let loss = self.net.loss_and_grad(&self.x, &self.labels)?;
        let mut v = vec![f64::from(loss)];
        v.extend(self.net.grads().iter().map(|&g| f64::from(g)));
        Ok(v)
    }

    fn step(&mut self) -> Result<()> {
        let loss = self.net.loss_and_grad(&self.x, &self.labels)?;
        self.net.step(&mut self.opt)?;
        std::hint::black_box(loss);
        Ok(())
    }
}

struct Nll {
    model: Model,
    p: Vec<f64>,
    x: Vec<f64>,
    hessian: bool,
}

impl Engine for Nll {
    fn check(&mut self) -> Result<Vec<f64>> {
        let (lo, hi) = self.model.range();
        if self.hessian {
            let mut v = vec![model::nll(&self.p, &self.x, lo, hi)];
            v.extend(self.model.hessian(&self.p, &self.x)?.iter().flatten());
            Ok(v)
        } else {
            let mut g = [0.0; 4];
            let v = model::nll_grad(&self.p, &self.x, lo, hi, &mut g);
            Ok(std::iter::once(v).chain(g).collect())
        }
    }

    fn step(&mut self) -> Result<()> {
        let (lo, hi) = self.model.range();
        if self.hessian {
            std::hint::black_box(self.model.hessian(&self.p, &self.x)?);
        } else {
            let mut g = [0.0; 4];
            std::hint::black_box(model::nll_grad(&self.p, &self.x, lo, hi, &mut g));
            std::hint::black_box(g);
        }
        Ok(())
    }
}

/// W4: the arena engine on [`MiniGpt::W4`] with AdamW; the token ids go in as `f32` (exact).
fn gpt(inputs: &Inputs) -> Result<Box<dyn Engine>> {
    let batch = inputs
        .batch(Workload::W4)?
        .unwrap_or(crate::workload::W4_BATCH);
    let mut net = Network::new(MiniGpt::W4, batch, 0)?;
    let params = inputs.f32s("params")?;
    ensure!(
        params.len() == net.params().len(),
        "{} parameters in the file, {} in the network",
        params.len(),
        net.params().len()
    );
    net.params_mut().copy_from_slice(&params);
    let opt = Optimizer::new(crate::workload::w4_adamw(), net.params().len())?;
    let x: Vec<f32> = inputs.i64s("x")?.into_iter().map(|t| t as f32).collect();
    let labels = inputs
        .i64s("y")?
        .into_iter()
        .map(|y| usize::try_from(y).map_err(|_| anyhow::anyhow!("label {y}")))
        .collect::<Result<Vec<_>>>()?;
    ensure!(
        x.len() == batch * MiniGpt::W4.seq && labels.len() == x.len(),
        "{} tokens and {} labels for batch {batch}",
        x.len(),
        labels.len()
    );
    Ok(Box::new(Train {
        net,
        opt,
        x,
        labels,
    }))
}

pub fn engine(workload: Workload, inputs: &Inputs) -> Result<Box<dyn Engine>> {
    if workload == Workload::W4 {
        return gpt(inputs);
    }
    match inputs.network(workload)? {
        Some((spec, batch)) => {
            let mut net = Network::new(spec, batch, 0)?;
            let params = inputs.f32s("params")?;
            ensure!(
                params.len() == net.params().len(),
                "{} parameters in the file, {} in the network",
                params.len(),
                net.params().len()
            );
            net.params_mut().copy_from_slice(&params);
            let opt = Optimizer::new(OptimizerConfig::sgd(LR, 0.0), net.params().len())?;
            let labels = inputs
                .i64s("y")?
                .into_iter()
                .map(|y| usize::try_from(y).map_err(|_| anyhow::anyhow!("label {y}")))
                .collect::<Result<Vec<_>>>()?;
            Ok(Box::new(Train {
                net,
                opt,
                x: inputs.f32s("x")?,
                labels,
            }))
        }
        None => {
            let model = Model::new(W3_RANGE.0, W3_RANGE.1)?;
            let p = inputs.f64s("params")?;
            let x = inputs.f64s("x")?;
            model.check_params(&p)?;
            model.check_events(&x)?;
            Ok(Box::new(Nll {
                model,
                p,
                x,
                hessian: workload == Workload::W3Hess,
            }))
        }
    }
}
