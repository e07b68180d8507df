//! The ferrograd engine: the arena training engine for W1a/W1b/W2 (`Network::loss_and_grad`,
//! generated backward, fused SGD), and ferrograd-fit's `#[differentiable(hessian, wrt(p))]` NLL
//! for W3 (`nll_grad`, and `Model::hessian` over event chunks).

use anyhow::{ensure, Result};
use ferrograd_fit::{model, Model};
use ferrograd_train::{Network, Optimizer, OptimizerConfig};

use super::Engine;
use crate::workload::{Inputs, Workload, LR, W3_RANGE};

struct Train {
    net: Network,
    opt: Optimizer,
    x: Vec<f32>,
    labels: Vec<usize>,
}

impl Engine for Train {
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

    fn counts_allocations(&self) -> bool {
        true
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

    fn counts_allocations(&self) -> bool {
        true
    }
}

pub fn engine(workload: Workload, inputs: &Inputs) -> Result<Box<dyn Engine>> {
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
