//! Fused, allocation-free optimizers over the arena's flat parameter and gradient buffers,
//! with LibTorch's semantics (`torch::optim::SGD` / `Adam`, which `tch::nn::Sgd` / `Adam` use).
//!
//! State (momentum buffer, Adam moments) is allocated once in [`Optimizer::new`]; a step is
//! one pass over all parameters.

use crate::TrainError;
use ferrograd::kernels;

/// Which optimizer, with its hyper-parameters.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum OptimizerConfig {
    /// `d = g + wd·p`; `buf = momentum·buf + d` (`buf = d` on the first step);
    /// `d = nesterov ? d + momentum·buf : buf`; `p -= lr·d`. No dampening.
    Sgd {
        lr: f32,
        momentum: f32,
        weight_decay: f32,
        nesterov: bool,
    },
    /// `g += wd·p`; `m = β₁m + (1−β₁)g`; `v = β₂v + (1−β₂)g²`;
    /// `p −= lr/(1−β₁ᵗ) · m / (√v/√(1−β₂ᵗ) + ε)` (L2 weight decay, not AdamW).
    Adam {
        lr: f32,
        beta1: f32,
        beta2: f32,
        eps: f32,
        weight_decay: f32,
    },
    /// AdamW (decoupled weight decay, `torch.optim.AdamW`): `p ·= 1 − lr·wd`, then the Adam
    /// step above without the L2 term.
    AdamW {
        lr: f32,
        beta1: f32,
        beta2: f32,
        eps: f32,
        weight_decay: f32,
    },
}

impl OptimizerConfig {
    /// SGD with momentum, no weight decay.
    pub fn sgd(lr: f32, momentum: f32) -> Self {
        OptimizerConfig::Sgd {
            lr,
            momentum,
            weight_decay: 0.0,
            nesterov: false,
        }
    }

    /// Adam with PyTorch's defaults (β = (0.9, 0.999), ε = 1e-8, no weight decay).
    pub fn adam(lr: f32) -> Self {
        OptimizerConfig::Adam {
            lr,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 0.0,
        }
    }

    /// AdamW with PyTorch's defaults for β and ε (β = (0.9, 0.999), ε = 1e-8).
    pub fn adamw(lr: f32, weight_decay: f32) -> Self {
        OptimizerConfig::AdamW {
            lr,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay,
        }
    }

    /// The learning rate.
    pub fn lr(&self) -> f32 {
        match *self {
            OptimizerConfig::Sgd { lr, .. }
            | OptimizerConfig::Adam { lr, .. }
            | OptimizerConfig::AdamW { lr, .. } => lr,
        }
    }

    /// Whether the optimizer keeps a second moment (Adam and AdamW).
    pub fn has_second_moment(&self) -> bool {
        !matches!(self, OptimizerConfig::Sgd { .. })
    }

    /// Checks the hyper-parameters.
    ///
    /// # Errors
    /// [`TrainError::Config`] naming the bad value.
    pub fn validate(&self) -> Result<(), TrainError> {
        let finite_nonneg = |name: &'static str, v: f32| {
            if v.is_finite() && v >= 0.0 {
                Ok(())
            } else {
                Err(TrainError::config(
                    name,
                    format!("{v}; must be finite and ≥ 0"),
                ))
            }
        };
        match *self {
            OptimizerConfig::Sgd {
                lr,
                momentum,
                weight_decay,
                ..
            } => {
                finite_nonneg("learning rate", lr)?;
                finite_nonneg("momentum", momentum)?;
                finite_nonneg("weight decay", weight_decay)
            }
            OptimizerConfig::Adam {
                lr,
                beta1,
                beta2,
                eps,
                weight_decay,
            }
            | OptimizerConfig::AdamW {
                lr,
                beta1,
                beta2,
                eps,
                weight_decay,
            } => {
                finite_nonneg("learning rate", lr)?;
                finite_nonneg("weight decay", weight_decay)?;
                finite_nonneg("eps", eps)?;
                for (name, b) in [("beta1", beta1), ("beta2", beta2)] {
                    if !(0.0..1.0).contains(&b) {
                        return Err(TrainError::config(name, format!("{b}; must be in [0, 1)")));
                    }
                }
                Ok(())
            }
        }
    }

    /// A stable text form for checkpoints (`sgd` / `adam`).
    pub fn kind(&self) -> &'static str {
        match self {
            OptimizerConfig::Sgd { .. } => "sgd",
            OptimizerConfig::Adam { .. } => "adam",
            OptimizerConfig::AdamW { .. } => "adamw",
        }
    }
}

/// An optimizer and its state for `n` parameters.
#[derive(Debug, Clone, PartialEq)]
pub struct Optimizer {
    cfg: OptimizerConfig,
    /// SGD: momentum buffer; Adam: first moment.
    state1: Vec<f32>,
    /// Adam: second moment (empty for SGD).
    state2: Vec<f32>,
    /// Steps taken.
    step: u64,
}

impl Optimizer {
    /// Fresh state for `n` parameters.
    ///
    /// # Errors
    /// [`TrainError::Config`] for invalid hyper-parameters.
    pub fn new(cfg: OptimizerConfig, n: usize) -> Result<Self, TrainError> {
        cfg.validate()?;
        let n2 = if cfg.has_second_moment() { n } else { 0 };
        Ok(Optimizer {
            cfg,
            state1: vec![0.0; n],
            state2: vec![0.0; n2],
            step: 0,
        })
    }

    /// The configuration.
    pub fn config(&self) -> &OptimizerConfig {
        &self.cfg
    }

    /// Sets the learning rate (the other hyper-parameters and the state are kept).
    pub fn set_lr(&mut self, lr: f32) {
        match &mut self.cfg {
            OptimizerConfig::Sgd { lr: l, .. }
            | OptimizerConfig::Adam { lr: l, .. }
            | OptimizerConfig::AdamW { lr: l, .. } => *l = lr,
        }
    }

    /// Steps taken so far.
    pub fn steps(&self) -> u64 {
        self.step
    }

    /// The state buffers (SGD: `[momentum]`; Adam: `[m, v]`), for checkpoints.
    pub fn state(&self) -> (&[f32], &[f32]) {
        (&self.state1, &self.state2)
    }

    /// Restores state saved with [`Optimizer::state`] and [`Optimizer::steps`].
    ///
    /// # Errors
    /// [`TrainError::Config`] if a buffer has the wrong length.
    pub fn restore(&mut self, s1: &[f32], s2: &[f32], step: u64) -> Result<(), TrainError> {
        if s1.len() != self.state1.len() || s2.len() != self.state2.len() {
            return Err(TrainError::config(
                "optimizer state",
                format!(
                    "lengths ({}, {}), expected ({}, {})",
                    s1.len(),
                    s2.len(),
                    self.state1.len(),
                    self.state2.len()
                ),
            ));
        }
        self.state1.copy_from_slice(s1);
        self.state2.copy_from_slice(s2);
        self.step = step;
        Ok(())
    }

    /// One update of `params` with `grads`, which it then zeroes (the fused `step()` +
    /// `zero_grad()` of a LibTorch loop: the gradients are read once and cleared while in
    /// cache, so the next backward can accumulate into them without a separate pass).
    /// Allocation-free; split across the kernel threads.
    ///
    /// # Errors
    /// [`TrainError::Config`] if the lengths differ from the state's.
    pub fn step(&mut self, params: &mut [f32], grads: &mut [f32]) -> Result<(), TrainError> {
        let n = self.state1.len();
        if params.len() != n || grads.len() != n {
            return Err(TrainError::config(
                "optimizer step",
                format!(
                    "{} parameters and {} gradients for an optimizer of {n}",
                    params.len(),
                    grads.len()
                ),
            ));
        }
        self.step += 1;
        match self.cfg {
            OptimizerConfig::Sgd {
                lr,
                momentum,
                weight_decay,
                nesterov,
            } => {
                let h = kernels::Sgd {
                    lr,
                    momentum,
                    weight_decay,
                    nesterov,
                };
                kernels::sgd_update(params, grads, &mut self.state1, h, true)?;
            }
            OptimizerConfig::Adam {
                lr,
                beta1,
                beta2,
                eps,
                weight_decay,
            }
            | OptimizerConfig::AdamW {
                lr,
                beta1,
                beta2,
                eps,
                weight_decay,
            } => {
                // Adam adds `wd·p` to the gradient (L2); AdamW decays the parameter itself.
                let decoupled = matches!(self.cfg, OptimizerConfig::AdamW { .. });
                let t = self.step as f64;
                let bc1 = 1.0 - f64::from(beta1).powf(t);
                let bc2 = 1.0 - f64::from(beta2).powf(t);
                let h = kernels::AdamStep {
                    step_size: (f64::from(lr) / bc1) as f32,
                    beta1,
                    beta2,
                    eps,
                    weight_decay: if decoupled { 0.0 } else { weight_decay },
                    bc2_sqrt: bc2.sqrt() as f32,
                    decay: if decoupled {
                        1.0 - lr * weight_decay
                    } else {
                        1.0
                    },
                };
                kernels::adam_update(params, grads, &mut self.state1, &mut self.state2, h, true)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sgd_momentum_by_hand() {
        // p = [1, -2], g = [0.5, 0.25] twice; lr 0.1, momentum 0.9.
        let mut opt = Optimizer::new(OptimizerConfig::sgd(0.1, 0.9), 2).unwrap();
        let mut p = [1.0f32, -2.0];
        opt.step(&mut p, &mut [0.5, 0.25]).unwrap();
        // buf = g; p = p − 0.1·g
        assert_eq!(p, [0.95, -2.025]);
        opt.step(&mut p, &mut [0.5, 0.25]).unwrap();
        // buf = 0.9·g + g = 1.9g; p −= 0.19g  → 0.95 − 0.095, −2.025 − 0.0475
        assert!((p[0] - 0.855).abs() < 1e-7, "{}", p[0]);
        assert!((p[1] + 2.0725).abs() < 1e-6, "{}", p[1]);
        assert_eq!(opt.steps(), 2);
    }

    #[test]
    fn sgd_nesterov_and_weight_decay_by_hand() {
        let cfg = OptimizerConfig::Sgd {
            lr: 0.5,
            momentum: 0.5,
            weight_decay: 0.1,
            nesterov: true,
        };
        let mut opt = Optimizer::new(cfg, 1).unwrap();
        let mut p = [2.0f32];
        opt.step(&mut p, &mut [1.0]).unwrap();
        // d = 1 + 0.2 = 1.2; buf = 1.2; d = 1.2 + 0.6 = 1.8; p = 2 − 0.9 = 1.1
        assert!((p[0] - 1.1).abs() < 1e-6, "{}", p[0]);
        opt.step(&mut p, &mut [1.0]).unwrap();
        // d = 1 + 0.11 = 1.11; buf = 0.6 + 1.11 = 1.71; d = 1.11 + 0.855 = 1.965;
        // p = 1.1 − 0.9825 = 0.1175
        assert!((p[0] - 0.1175).abs() < 1e-6, "{}", p[0]);
    }

    #[test]
    fn adam_by_hand() {
        let mut opt = Optimizer::new(OptimizerConfig::adam(0.01), 3).unwrap();
        let mut p = [1.0f32, -1.0, 0.5];
        let g1 = [0.2f32, -3.0, 0.0];
        opt.step(&mut p, &mut g1.clone()).unwrap();
        // First step: p −= lr·g/(|g| + ε) (bias corrections cancel).
        let want1 = [
            1.0 - 0.01 * 0.2 / (0.2 + 1e-8),
            -1.0 + 0.01 * 3.0 / (3.0 + 1e-8),
            0.5,
        ];
        for (a, b) in p.iter().zip(want1) {
            assert!((f64::from(*a) - b).abs() < 1e-7, "{a} vs {b}");
        }
        // Second step, computed in f64 from the formulas.
        let g2 = [0.1f32, 1.0, -0.5];
        opt.step(&mut p, &mut g2.clone()).unwrap();
        for i in 0..3 {
            let (g1, g2) = (f64::from(g1[i]), f64::from(g2[i]));
            let m = 0.9 * (0.1 * g1) + 0.1 * g2;
            let v = 0.999 * (0.001 * g1 * g1) + 0.001 * g2 * g2;
            let (bc1, bc2) = (1.0 - 0.81, 1.0 - 0.999f64.powi(2));
            let want = want1[i] - 0.01 / bc1 * m / (v.sqrt() / bc2.sqrt() + 1e-8);
            assert!(
                (f64::from(p[i]) - want).abs() < 2e-6,
                "{i}: {} vs {want}",
                p[i]
            );
        }
    }

    #[test]
    fn bad_config_and_lengths_are_errors() {
        assert!(Optimizer::new(OptimizerConfig::sgd(f32::NAN, 0.9), 1).is_err());
        assert!(Optimizer::new(OptimizerConfig::sgd(0.1, -1.0), 1).is_err());
        let cfg = OptimizerConfig::Adam {
            lr: 0.1,
            beta1: 1.0,
            beta2: 0.9,
            eps: 1e-8,
            weight_decay: 0.0,
        };
        assert!(Optimizer::new(cfg, 1).is_err());
        let mut opt = Optimizer::new(OptimizerConfig::adam(0.1), 2).unwrap();
        assert!(opt.step(&mut [0.0; 3], &mut [0.0; 3]).is_err());
        assert!(opt.restore(&[0.0; 2], &[0.0; 1], 5).is_err());
    }
}
