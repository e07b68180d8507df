//! Trains the W1a MLP (784→128 ReLU→10, softmax cross-entropy, batch 64) on MNIST with
//! `tch::nn::VarStore` + `tch::nn::Optimizer`, where the whole loss — forward and
//! backward — is ONE autograd node running ferrograd kernels on the parameters' storage.
//! The same model is then trained with native LibTorch autograd from the same
//! initialisation on the same batches, and both report test accuracy and time per step.
//!
//! ```text
//! source scripts/env.sh && scripts/fetch-mnist.sh
//! cargo run --release -p ferrograd-torch --example mnist_mlp -- [--data DIR] [--epochs 5]
//!     [--optimizer adam|sgd] [--lr 0.001] [--node grad|pullback] [--threads 2] [--seed 0]
//! ```
//! `--data` defaults to where `scripts/fetch-mnist.sh` puts the files. `--node grad` uses
//! `value_and_grad_node` (value and gradients in one sweep); `--node pullback` uses
//! `slice_node` with the pullback (which recomputes the forward in backward).
//!
//! Threads: both trainings run LibTorch on `--threads`, and the node's kernels run on those
//! same LibTorch intra-op threads (`ferrograd_torch::parallel_for` as the kernels' parallel
//! backend): one team of workers, and each thread updates in LibTorch's optimizer the rows of
//! the weight gradient that it computed.

mod w1a;

use std::error::Error as StdError;
use std::path::PathBuf;
use std::time::Instant;

use ferrograd_data::{mnist_default_dir, Batches, Mnist};
use tch::nn::{self, OptimizerConfig, VarStore};
use tch::{Device, Kind, Tensor};
use w1a::{Mlp, NodeKind, BATCH, CLASSES, D_HIDDEN, D_IN};

type Result<T> = std::result::Result<T, Box<dyn StdError>>;

struct Args {
    data: Option<PathBuf>,
    epochs: usize,
    optimizer: String,
    lr: Option<f64>,
    node: NodeKind,
    threads: usize,
    seed: u64,
}

fn parse_args() -> Result<Args> {
    let mut a = Args {
        data: None,
        epochs: 5,
        optimizer: "adam".into(),
        lr: None,
        node: NodeKind::Grad,
        threads: 2,
        seed: 0,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--data" => a.data = Some(value()?.into()),
            "--epochs" => a.epochs = value()?.parse()?,
            "--optimizer" => a.optimizer = value()?,
            "--lr" => a.lr = Some(value()?.parse()?),
            "--threads" => a.threads = value()?.parse()?,
            "--seed" => a.seed = value()?.parse()?,
            "--node" => {
                a.node = match value()?.as_str() {
                    "grad" => NodeKind::Grad,
                    "pullback" => NodeKind::Pullback,
                    other => return Err(format!("--node grad|pullback, not {other}").into()),
                }
            }
            other => return Err(format!("unknown argument {other}; see the file's docs").into()),
        }
    }
    Ok(a)
}

/// How one training step computes the loss.
#[derive(Clone, Copy)]
enum Engine {
    Native,
    Node(NodeKind),
}

struct Run {
    accuracy: f64,
    ms_per_step: Vec<f64>,
}

fn build_optimizer(args: &Args, vs: &VarStore) -> Result<nn::Optimizer> {
    Ok(match args.optimizer.as_str() {
        "adam" => nn::Adam::default().build(vs, args.lr.unwrap_or(1e-3))?,
        "sgd" => nn::Sgd {
            momentum: 0.9,
            ..Default::default()
        }
        .build(vs, args.lr.unwrap_or(0.05))?,
        other => return Err(format!("--optimizer adam|sgd, not {other}").into()),
    })
}

fn train(args: &Args, data: &Mnist, vs: &VarStore, model: &Mlp, engine: Engine) -> Result<Run> {
    let mut opt = build_optimizer(args, vs)?;
    let train = &data.train;
    let mut batches =
        Batches::new(&train.images, &train.labels, D_IN, BATCH, args.seed)?.with_drop_last(true);
    let (mut xb, mut yb) = (vec![0.0f32; BATCH * D_IN], vec![0usize; BATCH]);
    let mut ms_per_step = Vec::new();
    let mut scratch = w1a::Scratch::new();
    for epoch in 0..args.epochs {
        let mut loss_sum = 0.0;
        let mut steps = 0;
        while let Some(rows) = batches.next_into(&mut xb, &mut yb)? {
            let x = Tensor::from_slice(&xb[..rows * D_IN]).view([rows as i64, D_IN as i64]);
            let labels = &yb[..rows];
            let start = Instant::now();
            opt.zero_grad();
            let loss = match engine {
                Engine::Native => {
                    let y: Vec<i64> = labels.iter().map(|&l| l as i64).collect();
                    w1a::native_loss(model, &x, &Tensor::from_slice(&y))
                }
                Engine::Node(kind) => w1a::node_loss(kind, model, &x, labels, &mut scratch)?,
            };
            ferrograd_torch::backward(&loss)?;
            opt.step();
            ms_per_step.push(start.elapsed().as_secs_f64() * 1e3);
            loss_sum += loss.double_value(&[]);
            steps += 1;
        }
        println!(
            "    epoch {}: mean training loss {:.4}",
            epoch + 1,
            loss_sum / f64::from(steps.max(1))
        );
    }
    Ok(Run {
        accuracy: accuracy(data, model)?,
        ms_per_step,
    })
}

/// Test accuracy, evaluated with native ops under `no_grad`.
fn accuracy(data: &Mnist, model: &Mlp) -> Result<f64> {
    let test = &data.test;
    let x = Tensor::from_slice(&test.images).view([test.len() as i64, D_IN as i64]);
    let y = Tensor::from_slice(&test.labels).to_kind(Kind::Int64);
    let correct = tch::no_grad(|| {
        model
            .logits(&x)
            .argmax(-1, false)
            .eq_tensor(&y)
            .sum(Kind::Int64)
            .int64_value(&[])
    });
    Ok(correct as f64 / test.len() as f64)
}

fn median(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    s.get(s.len() / 2).copied().unwrap_or(f64::NAN)
}

fn main() -> Result<()> {
    let args = parse_args()?;
    tch::set_num_threads(args.threads as i32);
    ferrograd_kernels::set_num_threads(args.threads);
    let dir = args
        .data
        .clone()
        .or_else(mnist_default_dir)
        .ok_or("no --data DIR and no default MNIST dir; run scripts/fetch-mnist.sh")?;
    let data = Mnist::load(&dir)?;
    println!(
        "MNIST from {}: {} train, {} test; W1a MLP {D_IN}→{D_HIDDEN} ReLU→{CLASSES}, batch {BATCH}, \
         {} epochs, {} (lr {}), {} threads",
        dir.display(),
        data.train.len(),
        data.test.len(),
        args.epochs,
        args.optimizer,
        args.lr.map_or_else(|| "default".to_owned(), |l| l.to_string()),
        args.threads,
    );

    tch::manual_seed(args.seed as i64);
    let vs_node = VarStore::new(Device::Cpu);
    let model_node = Mlp::new(&vs_node.root(), D_IN, D_HIDDEN, CLASSES);
    let mut vs_native = VarStore::new(Device::Cpu);
    let model_native = Mlp::new(&vs_native.root(), D_IN, D_HIDDEN, CLASSES);
    vs_native.copy(&vs_node)?; // same initialisation

    let label = match args.node {
        NodeKind::Grad => "ferrograd node (value_and_grad_node)",
        NodeKind::Pullback => "ferrograd node (slice_node + pullback)",
    };
    println!("  {label}:");
    ferrograd_kernels::set_parallel_backend(Some(ferrograd_torch::parallel_for));
    let node = train(&args, &data, &vs_node, &model_node, Engine::Node(args.node))?;
    println!("  native LibTorch autograd:");
    let native = train(&args, &data, &vs_native, &model_native, Engine::Native)?;

    println!(
        "\n  {:<40} {:>9} {:>14} {:>14}",
        "", "test acc", "median ms/step", "mean ms/step"
    );
    for (name, run) in [(label, &node), ("native LibTorch autograd", &native)] {
        let mean = run.ms_per_step.iter().sum::<f64>() / run.ms_per_step.len().max(1) as f64;
        println!(
            "  {:<40} {:>8.2}% {:>14.3} {:>14.3}",
            name,
            100.0 * run.accuracy,
            median(&run.ms_per_step),
            mean
        );
    }
    println!(
        "  native / node median step time: {:.2}×",
        median(&native.ms_per_step) / median(&node.ms_per_step)
    );
    if node.accuracy < 0.97 {
        return Err(format!("node model reached only {:.2}%", 100.0 * node.accuracy).into());
    }
    Ok(())
}
