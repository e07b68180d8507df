//! A model the library does not know: `Linear → tanh → Linear` with softmax cross-entropy,
//! written by a user as view structs and a `#[differentiable]` loss, with a [`Model`] impl.
//! The arena engine trains it like the built-in ones: its gradient matches central finite
//! differences, a step allocates nothing, the loss falls on a separable problem, and the
//! `Trainer` runs it in epochs with checkpoints that resume bit for bit.

use ferrograd::kernels::*;
use ferrograd_train::{Batch, Model, Network, Optimizer, OptimizerConfig, ParamInfo, TrainError};
use ferrograd_train::{Dataset, TrainConfig, Trainer, Workspace};

/// Parameters over any storage.
struct Params<S> {
    w1: S,
    b1: S,
    w2: S,
    b2: S,
}

/// Activations: pre- and post-tanh hidden layer, logits, probabilities.
struct Acts<S> {
    z: S,
    t: S,
    logits: S,
    probs: S,
}

#[derive(Clone, Copy, Debug)]
struct Dims {
    batch: usize,
    input: usize,
    hidden: usize,
    classes: usize,
}

#[ferrograd::differentiable(wrt(p), reverse_only)]
fn tanh_loss(
    x: &[f32],
    labels: &[usize],
    p: &Params<&[f32]>,
    acts: &mut Acts<&mut [f32]>,
    d: &Dims,
) -> Result<f32, KernelError> {
    linear(acts.z, x, p.w1, p.b1, d.batch, d.input, d.hidden)?;
    tanh(acts.t, acts.z)?;
    linear(
        acts.logits,
        acts.t,
        p.w2,
        p.b2,
        d.batch,
        d.hidden,
        d.classes,
    )?;
    let loss = softmax_cross_entropy(acts.probs, acts.logits, labels, d.batch, d.classes)?;
    Ok(loss)
}

/// The user's model: sizes only; the arena holds the numbers.
#[derive(Clone, Copy, Debug)]
struct TanhMlp {
    input: usize,
    hidden: usize,
    classes: usize,
}

impl Model for TanhMlp {
    fn input_len(&self) -> usize {
        self.input
    }
    fn classes(&self) -> usize {
        self.classes
    }
    fn params(&self) -> Result<Vec<ParamInfo>, TrainError> {
        let (i, h, k) = (self.input, self.hidden, self.classes);
        let p = |name, shape: Vec<usize>, fan_in| ParamInfo {
            name,
            shape,
            fan_in,
        };
        Ok(vec![
            p("fc1.weight", vec![h, i], i),
            p("fc1.bias", vec![h], i),
            p("fc2.weight", vec![k, h], h),
            p("fc2.bias", vec![k], h),
        ])
    }
    fn activation_row_lens(&self) -> Result<Vec<usize>, TrainError> {
        Ok(vec![self.hidden, self.hidden, self.classes, self.classes])
    }
    fn logits_region(&self) -> usize {
        2
    }
    fn loss(&self, batch: &Batch<'_>, ws: Workspace<'_>) -> Result<f32, TrainError> {
        let d = Dims {
            batch: ws.rows(),
            input: self.input,
            hidden: self.hidden,
            classes: self.classes,
        };
        let r = ws.split::<4, 4, 0>()?;
        let [w1, b1, w2, b2] = r.params;
        let p = Params { w1, b1, w2, b2 };
        let [z, t, logits, probs] = r.acts;
        let mut acts = Acts {
            z,
            t,
            logits,
            probs,
        };
        Ok(match r.grads {
            Some(([w1, b1, w2, b2], [z, t, logits, probs])) => tanh_loss_grad(
                batch.x,
                batch.labels,
                &p,
                &mut acts,
                &d,
                &mut Params { w1, b1, w2, b2 },
                &mut Acts {
                    z,
                    t,
                    logits,
                    probs,
                },
            )?,
            None => tanh_loss(batch.x, batch.labels, &p, &mut acts, &d)?,
        })
    }
}

const MODEL: TanhMlp = TanhMlp {
    input: 6,
    hidden: 8,
    classes: 3,
};

/// A separable problem: the label is the index of the largest of the first three features.
fn data(n: usize, seed: u64) -> (Vec<f32>, Vec<usize>) {
    let mut s = seed;
    let mut next = || {
        s = s
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((s >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
    };
    let mut x = Vec::new();
    let mut y = Vec::new();
    for _ in 0..n {
        let row: Vec<f32> = (0..MODEL.input).map(|_| next()).collect();
        let label = (0..3)
            .max_by(|&a, &b| row[a].total_cmp(&row[b]))
            .unwrap_or(0);
        x.extend(row);
        y.push(label);
    }
    (x, y)
}

#[test]
fn user_model_gradient_matches_finite_differences() {
    let (x, y) = data(5, 1);
    let mut net = Network::new(MODEL, 8, 7).unwrap();
    net.loss_and_grad(&x, &y).unwrap();
    let g = net.grads().to_vec();
    let p0 = net.params().to_vec();
    assert!(g.iter().any(|v| *v != 0.0));
    let h = 1e-2f32;
    let mut worst = 0.0f64;
    let scale = g.iter().fold(0.0f32, |m, v| m.max(v.abs()));
    for k in 0..p0.len() {
        let mut at = |s: f32| {
            let mut p = p0.clone();
            p[k] += s;
            net.params_mut().copy_from_slice(&p);
            f64::from(net.forward(&x, &y).unwrap())
        };
        let fd = (at(h) - at(-h)) / (2.0 * f64::from(h));
        worst = worst.max((fd - f64::from(g[k])).abs() / f64::from(scale));
    }
    println!("user model: max |grad - fd| / max |grad| = {worst:.2e}");
    assert!(worst < 2e-3, "{worst}");
}

#[test]
fn user_model_trains_without_allocating() {
    ferrograd::kernels::set_num_threads(1);
    let (x, y) = data(256, 3);
    let batch = 32;
    let mut net = Network::new(MODEL, batch, 11).unwrap();
    let n_params = net.params().len();
    let mut opt = Optimizer::new(OptimizerConfig::sgd(0.5, 0.9), n_params).unwrap();
    let first = net.forward(&x[..batch * 6], &y[..batch]).unwrap();
    let step = |net: &mut Network<TanhMlp>, opt: &mut Optimizer, b: usize| {
        let (lo, hi) = (b * batch, (b + 1) * batch);
        net.loss_and_grad(&x[lo * 6..hi * 6], &y[lo..hi]).unwrap();
        net.step(opt).unwrap();
    };
    for b in 0..8 {
        step(&mut net, &mut opt, b);
    }
    let info = allocation_counter::measure(|| {
        for e in 0..20 {
            for b in 0..8 {
                step(&mut net, &mut opt, (b + e) % 8);
            }
        }
    });
    assert_eq!(info.count_total, 0, "{} allocations", info.count_total);
    let last = net.forward(&x[..batch * 6], &y[..batch]).unwrap();
    let correct = net
        .logits()
        .chunks(3)
        .zip(&y[..batch])
        .filter(|(l, &t)| (0..3).max_by(|&a, &b| l[a].total_cmp(&l[b])) == Some(t))
        .count();
    println!("user model: loss {first:.3} -> {last:.3}, {correct}/{batch} correct");
    assert!(last < 0.5 * first, "{first} -> {last}");
    assert!(correct >= batch * 8 / 10);
}

#[test]
fn user_model_runs_in_the_trainer_and_resumes_bit_for_bit() {
    let (x, y) = data(200, 5);
    let y: Vec<u8> = y.iter().map(|&l| l as u8).collect();
    let ds = Dataset::new(&x, &y, MODEL.input).unwrap();
    let opt = OptimizerConfig::adam(1e-2);
    let cfg = |epochs: u64, ck: Option<std::path::PathBuf>| {
        let mut c = TrainConfig::new(epochs, 20, 9, opt);
        c.checkpoint = ck;
        c
    };
    let mut straight = Trainer::new(MODEL, cfg(2, None), ds.len()).unwrap();
    let reports = straight.fit(&ds, Some(&ds), &mut |_| {}).unwrap();
    let (first, last) = (&reports[0], &reports[1]);
    println!(
        "user model in the Trainer: epoch losses {:.3} -> {:.3}, test accuracy {:.2}",
        first.train_loss,
        last.train_loss,
        last.test.as_ref().map_or(0.0, |t| t.accuracy)
    );
    assert!(last.train_loss < first.train_loss);

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tanh.safetensors");
    let mut a = Trainer::new(MODEL, cfg(1, Some(path.clone())), ds.len()).unwrap();
    a.fit(&ds, None, &mut |_| {}).unwrap();
    drop(a);
    let mut b = Trainer::resume(&path, MODEL, cfg(2, Some(path.clone())), ds.len()).unwrap();
    b.fit(&ds, None, &mut |_| {}).unwrap();
    assert!(b.network().params() == straight.network().params());
    assert_eq!(b.optimizer(), straight.optimizer());

    // Another model cannot resume this file.
    let other = TanhMlp { hidden: 9, ..MODEL };
    let e = Trainer::resume(&path, other, cfg(2, None), ds.len()).unwrap_err();
    assert!(e.to_string().contains("saved with model"), "{e}");
}
