//! `--engine libtorch`: the same model, initialised with the same parameters, trained with
//! LibTorch's native autograd and `tch::nn` optimizers on the same batch sequence.

use std::time::Instant;

use anyhow::{bail, Result};
use ferrograd_data::EpochOrder;
use ferrograd_train::metrics::{count_correct, efficiency_at_far, roc_auc};
use ferrograd_train::{Dataset, EpochReport, EvalReport, ModelSpec, Network, OptimizerConfig};
use tch::nn::{self, Module, OptimizerConfig as _};
use tch::{Device, Tensor};

use crate::{epoch_line, progress_bar, TrainArgs};

/// A `tch::nn` version of a [`ModelSpec`].
pub struct TorchModel {
    pub vs: nn::VarStore,
    spec: ModelSpec,
    convs: Vec<nn::Conv1D>,
    fcs: Vec<nn::Linear>,
}

impl TorchModel {
    /// Builds the layers and copies `net`'s parameters into them (same names and layouts).
    pub fn from_network(net: &Network) -> Result<Self> {
        let vs = nn::VarStore::new(Device::Cpu);
        let root = vs.root();
        let spec = net.spec();
        let mut convs = Vec::new();
        let mut fcs = Vec::new();
        let infos = net.param_infos();
        for pair in infos.chunks(2) {
            let (w, b) = (&pair[0], &pair[1]);
            let layer = w.name.trim_end_matches(".weight");
            match w.shape.as_slice() {
                &[c_out, c_in, k] => convs.push(nn::conv1d(
                    &root / layer,
                    c_in as i64,
                    c_out as i64,
                    k as i64,
                    Default::default(),
                )),
                &[o, i] => fcs.push(nn::linear(
                    &root / layer,
                    i as i64,
                    o as i64,
                    Default::default(),
                )),
                s => bail!("unexpected parameter shape {s:?} for {}", w.name),
            }
            debug_assert_eq!(b.shape.len(), 1);
        }
        let m = TorchModel {
            vs,
            spec,
            convs,
            fcs,
        };
        m.load(net)?;
        Ok(m)
    }

    /// The parameters in [`Network::param_infos`] order.
    pub fn tensors(&self) -> Vec<&Tensor> {
        let mut v = Vec::new();
        for c in &self.convs {
            v.push(&c.ws);
            if let Some(b) = &c.bs {
                v.push(b);
            }
        }
        for l in &self.fcs {
            v.push(&l.ws);
            if let Some(b) = &l.bs {
                v.push(b);
            }
        }
        v
    }

    /// Copies `net`'s parameters in.
    pub fn load(&self, net: &Network) -> Result<()> {
        let mut off = 0;
        let ts = self.tensors();
        if ts.len() != net.param_infos().len() {
            bail!(
                "LibTorch model has {} tensors, expected {}",
                ts.len(),
                net.param_infos().len()
            );
        }
        tch::no_grad(|| -> Result<()> {
            for (t, info) in ts.into_iter().zip(net.param_infos()) {
                let n = info.len();
                let shape: Vec<i64> = info.shape.iter().map(|&d| d as i64).collect();
                let src = Tensor::from_slice(&net.params()[off..off + n]).view(shape.as_slice());
                let mut t = t.shallow_clone();
                t.f_copy_(&src)?;
                off += n;
            }
            Ok(())
        })
    }

    /// The parameters flattened in [`Network::params`] order.
    #[cfg(test)]
    pub fn flat_params(&self) -> Result<Vec<f32>> {
        let mut v = Vec::new();
        for t in self.tensors() {
            v.extend(Vec::<f32>::try_from(&t.detach().flatten(0, -1))?);
        }
        Ok(v)
    }

    /// The gradients flattened in [`Network::params`] order (zeros where none).
    #[cfg(test)]
    pub fn flat_grads(&self) -> Result<Vec<f32>> {
        let mut v = Vec::new();
        for t in self.tensors() {
            let g = t.grad();
            if g.defined() {
                v.extend(Vec::<f32>::try_from(&g.flatten(0, -1))?);
            } else {
                v.extend(std::iter::repeat_n(0.0, t.numel()));
            }
        }
        Ok(v)
    }

    /// Logits for `x: [rows, input_len]`.
    pub fn logits(&self, x: &Tensor) -> Tensor {
        match self.spec {
            ModelSpec::Mlp { .. } => self.fcs[1].forward(&self.fcs[0].forward(x).relu()),
            ModelSpec::GwCnn { len, .. } => {
                let mut h = x.view([-1, 1, len as i64]);
                for c in &self.convs {
                    h = c.forward(&h).relu().max_pool1d([4], [4], [0], [1], false);
                }
                let h = self.fcs[0].forward(&h.flatten(1, -1)).relu();
                self.fcs[1].forward(&h)
            }
        }
    }

    /// Mean cross-entropy.
    #[cfg(test)]
    pub fn loss(&self, x: &Tensor, y: &Tensor) -> Tensor {
        self.logits(x).cross_entropy_for_logits(y)
    }
}

/// Mean cross-entropy of `logits: [n, classes]` against `y: [n]`, each row's term multiplied
/// by its event weight `w: [n]` when given (ferrograd's `weighted_softmax_cross_entropy`).
fn cross_entropy(logits: &Tensor, y: &Tensor, w: Option<&Tensor>) -> Tensor {
    match w {
        None => logits.cross_entropy_for_logits(y),
        Some(w) => {
            let nll = -logits
                .log_softmax(-1, tch::Kind::Float)
                .gather(1, &y.unsqueeze(1), false)
                .squeeze_dim(1);
            (nll * w).mean(tch::Kind::Float)
        }
    }
}

/// A `tch::nn` optimizer with our configuration's hyper-parameters.
pub fn optimizer(vs: &nn::VarStore, cfg: &OptimizerConfig) -> Result<nn::Optimizer> {
    Ok(match *cfg {
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

fn evaluate(m: &TorchModel, data: &Dataset<'_>, bs: usize, far: f64) -> Result<EvalReport> {
    let classes = m.spec.classes();
    let row = data.row_len;
    let (mut loss_sum, mut correct) = (0.0f64, 0usize);
    let mut scores = Vec::new();
    tch::no_grad(|| -> Result<()> {
        for (k, (xc, yc)) in data.x.chunks(bs * row).zip(data.y.chunks(bs)).enumerate() {
            let n = yc.len();
            let x = Tensor::from_slice(xc).view([n as i64, row as i64]);
            let labels: Vec<usize> = yc.iter().map(|&v| usize::from(v)).collect();
            let y = Tensor::from_slice(&yc.iter().map(|&v| i64::from(v)).collect::<Vec<_>>());
            let w = data.w.map(|w| Tensor::from_slice(&w[k * bs..k * bs + n]));
            let logits = m.logits(&x);
            loss_sum += cross_entropy(&logits, &y, w.as_ref()).double_value(&[]) * n as f64;
            let l = Vec::<f32>::try_from(&logits.flatten(0, -1))?;
            correct += count_correct(&l, &labels, classes);
            if classes == 2 {
                scores.extend(l.chunks_exact(2).map(|r| r[1] - r[0]));
            }
        }
        Ok(())
    })?;
    let n = data.len();
    let (auc, efficiency) = if classes == 2 {
        let truth: Vec<bool> = data.y.iter().map(|&y| y == 1).collect();
        (
            roc_auc(&scores, &truth),
            efficiency_at_far(&scores, &truth, far).map(|(_, e)| (far, e)),
        )
    } else {
        (None, None)
    };
    Ok(EvalReport {
        examples: n,
        loss: loss_sum / n as f64,
        accuracy: correct as f64 / n as f64,
        auc,
        efficiency,
    })
}

/// Trains with LibTorch; returns the last test report and the step durations.
pub fn run(
    args: &TrainArgs,
    spec: ModelSpec,
    train: &Dataset<'_>,
    test: &Dataset<'_>,
) -> Result<(Option<EvalReport>, Vec<f64>)> {
    if args.checkpoint.is_some() || args.resume {
        bail!("checkpoints are implemented for --engine ferrograd only");
    }
    tch::set_num_threads(args.threads.max(1) as i32);
    tch::manual_seed(args.seed as i64);
    let bs = args.batch();
    let net = Network::new(spec, bs, args.seed)?;
    let model = TorchModel::from_network(&net)?;
    let mut opt = optimizer(&model.vs, &args.optimizer())?;
    let mut order = EpochOrder::new(train.len(), bs, args.seed)?;
    let row = train.row_len;
    let mut xbuf = vec![0.0f32; bs * row];
    let mut ybuf = vec![0i64; bs];
    let mut wbuf = vec![1.0f32; bs];
    let mut labels = vec![0usize; bs];
    let mut step_seconds = Vec::new();
    let mut last = None;
    let mut step = 0u64;
    for epoch in 0..args.epochs {
        let pb = progress_bar(args, order.batches_per_epoch());
        pb.set_prefix(format!("epoch {}/{}", epoch + 1, args.epochs));
        let (mut loss_sum, mut correct, mut seen) = (0.0f64, 0usize, 0usize);
        let mut batch = 0;
        while let Some(idx) = order.next_indices() {
            let n = idx.len();
            for (j, &i) in idx.iter().enumerate() {
                xbuf[j * row..(j + 1) * row].copy_from_slice(&train.x[i * row..(i + 1) * row]);
                ybuf[j] = i64::from(train.y[i]);
                labels[j] = usize::from(train.y[i]);
                if let Some(w) = train.w {
                    wbuf[j] = w[i];
                }
            }
            let x = Tensor::from_slice(&xbuf[..n * row]).view([n as i64, row as i64]);
            let y = Tensor::from_slice(&ybuf[..n]);
            let w = train.w.map(|_| Tensor::from_slice(&wbuf[..n]));
            let t0 = Instant::now();
            let logits = model.logits(&x);
            let loss = cross_entropy(&logits, &y, w.as_ref());
            opt.backward_step(&loss);
            let lv = loss.double_value(&[]);
            step_seconds.push(t0.elapsed().as_secs_f64());
            step += 1;
            if !lv.is_finite() {
                bail!(
                    "loss is {lv} at step {step} (epoch {}, batch {batch}); training stopped",
                    epoch
                );
            }
            let l = Vec::<f32>::try_from(&logits.detach().flatten(0, -1))?;
            correct += count_correct(&l, &labels[..n], spec.classes());
            loss_sum += lv * n as f64;
            seen += n;
            batch += 1;
            pb.set_position(batch as u64);
            if args.kill_after_steps == Some(step) {
                std::process::exit(137);
            }
        }
        pb.finish_and_clear();
        let report = EpochReport {
            epoch,
            train_loss: loss_sum / seen.max(1) as f64,
            train_accuracy: correct as f64 / seen.max(1) as f64,
            test: Some(evaluate(&model, test, bs, args.far)?),
        };
        println!("{}", epoch_line(&report, args.epochs));
        last = report.test;
    }
    Ok((last, step_seconds))
}

#[cfg(test)]
mod tests {
    //! Parity with LibTorch: our optimizers against `tch::nn` step by step, and our model
    //! gradients against LibTorch autograd on the same parameters and batch.

    use super::*;
    use ferrograd_train::Optimizer;
    use tch::Kind;

    fn rand_vec(n: usize, seed: u64) -> Vec<f32> {
        let mut rng = ferrograd_train::init::SplitMix64::new(seed);
        (0..n).map(|_| rng.uniform(-1.0, 1.0)).collect()
    }

    fn max_rel(a: &[f32], b: &[f32]) -> f32 {
        a.iter()
            .zip(b)
            .map(|(x, y)| (x - y).abs() / x.abs().max(y.abs()).max(1e-3))
            .fold(0.0, f32::max)
    }

    /// Ten steps with changing gradients: `loss = Σ p·g_t` makes LibTorch's gradient exactly
    /// `g_t`, which we feed to our optimizer too.
    fn optimizer_matches(cfg: OptimizerConfig, tol: f32) {
        let n = 257;
        let p0 = rand_vec(n, 1);
        let vs = nn::VarStore::new(Device::Cpu);
        let p = vs.root().var_copy("p", &Tensor::from_slice(&p0));
        let mut topt = optimizer(&vs, &cfg).unwrap();
        let mut ours = Optimizer::new(cfg, n).unwrap();
        let mut q = p0.clone();
        for t in 0..10 {
            let mut g = rand_vec(n, 100 + t);
            let loss = (&p * Tensor::from_slice(&g)).sum(Kind::Float);
            topt.backward_step(&loss);
            ours.step(&mut q, &mut g).unwrap();
            let theirs = Vec::<f32>::try_from(&p.detach()).unwrap();
            let err = max_rel(&q, &theirs);
            assert!(
                err < tol,
                "{cfg:?}, step {}: max rel. difference {err:e}",
                t + 1
            );
        }
    }

    /// Tolerance: LibTorch's vectorised `add_` uses FMA and another operation order, a few
    /// ulps per step that momentum carries along (observed ≤ 1.1e-5 after 10 steps).
    #[test]
    fn sgd_matches_tch() {
        optimizer_matches(OptimizerConfig::sgd(0.1, 0.9), 3e-5);
        optimizer_matches(OptimizerConfig::sgd(0.1, 0.0), 3e-5);
        optimizer_matches(
            OptimizerConfig::Sgd {
                lr: 0.05,
                momentum: 0.8,
                weight_decay: 0.01,
                nesterov: true,
            },
            3e-5,
        );
    }

    #[test]
    fn adam_matches_tch() {
        optimizer_matches(OptimizerConfig::adam(1e-2), 1e-5);
        optimizer_matches(
            OptimizerConfig::Adam {
                lr: 3e-3,
                beta1: 0.8,
                beta2: 0.99,
                eps: 1e-6,
                weight_decay: 0.05,
            },
            1e-5,
        );
    }

    /// AdamW: decoupled weight decay (`torch.optim.AdamW`, tch's `nn::AdamW`).
    #[test]
    fn adamw_matches_tch() {
        optimizer_matches(OptimizerConfig::adamw(1e-2, 0.1), 1e-5);
        optimizer_matches(
            OptimizerConfig::AdamW {
                lr: 3e-3,
                beta1: 0.9,
                beta2: 0.95,
                eps: 1e-6,
                weight_decay: 0.5,
            },
            1e-5,
        );
    }

    fn grads_match(spec: ModelSpec, batch: usize, tol: f32) {
        let mut net = Network::new(spec, batch, 3).unwrap();
        let model = TorchModel::from_network(&net).unwrap();
        assert_eq!(
            model.flat_params().unwrap(),
            net.params(),
            "parameters copied exactly"
        );
        let row = spec.input_len();
        let x = rand_vec(batch * row, 9);
        let labels: Vec<usize> = (0..batch).map(|i| (i * 7 + 1) % spec.classes()).collect();
        let ours = net.loss_and_grad(&x, &labels).unwrap();
        let xt = Tensor::from_slice(&x).view([batch as i64, row as i64]);
        let yt = Tensor::from_slice(&labels.iter().map(|&l| l as i64).collect::<Vec<_>>());
        let loss = model.loss(&xt, &yt);
        loss.backward();
        let theirs = loss.double_value(&[]) as f32;
        assert!(
            (ours - theirs).abs() < 1e-5 * theirs.abs().max(1.0),
            "loss {ours} vs {theirs}"
        );
        let tg = model.flat_grads().unwrap();
        let mut off = 0;
        for info in net.param_infos() {
            let n = info.len();
            let err = max_rel(&net.grads()[off..off + n], &tg[off..off + n]);
            println!("{}: max rel. difference {err:.2e}", info.name);
            assert!(
                err < tol,
                "{} gradient: max rel. difference {err:e}",
                info.name
            );
            off += n;
        }
    }

    /// The event-weighted loss: ferrograd's weighted kernel (and the macro's gradient of the
    /// weighted MLP) against LibTorch autograd of `mean(w · nll)`.
    #[test]
    fn weighted_mlp_gradients_match_libtorch_autograd() {
        let spec = ModelSpec::Mlp {
            in_features: 12,
            hidden: 9,
            classes: 3,
        };
        let batch = 11;
        let mut net = Network::new(spec, batch, 5).unwrap();
        let model = TorchModel::from_network(&net).unwrap();
        let x = rand_vec(batch * 12, 4);
        let labels: Vec<usize> = (0..batch).map(|i| (i * 5 + 2) % 3).collect();
        let w: Vec<f32> = rand_vec(batch, 6).iter().map(|v| 1.0 + v).collect();
        let ours = net.loss_and_grad_weighted(&x, &labels, &w).unwrap();
        let xt = Tensor::from_slice(&x).view([batch as i64, 12]);
        let yt = Tensor::from_slice(&labels.iter().map(|&l| l as i64).collect::<Vec<_>>());
        let loss = cross_entropy(&model.logits(&xt), &yt, Some(&Tensor::from_slice(&w)));
        loss.backward();
        let theirs = loss.double_value(&[]) as f32;
        assert!(
            (ours - theirs).abs() < 1e-5 * theirs.abs().max(1.0),
            "loss {ours} vs {theirs}"
        );
        let err = max_rel(net.grads(), &model.flat_grads().unwrap());
        println!("weighted MLP gradient: max rel. difference {err:.2e}");
        assert!(err < 1e-3, "max rel. difference {err:e}");
    }

    #[test]
    fn mlp_gradients_match_libtorch_autograd() {
        grads_match(ModelSpec::W1A, 17, 1e-3);
    }

    #[test]
    fn cnn_gradients_match_libtorch_autograd() {
        grads_match(ModelSpec::W2, 3, 1e-3);
    }
}
