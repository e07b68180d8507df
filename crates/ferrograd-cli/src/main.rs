//! `ferrograd` — the command line.
//!
//! ```text
//! ferrograd train --model mlp|cnn --data mnist|gw [--engine ferrograd|libtorch] [--epochs N]
//!                 [--batch B] [--threads T] [--hidden H] [--lr LR] [--optimizer sgd|adam]
//!                 [--seed S] [--checkpoint PATH [--checkpoint-every STEPS] [--resume]]
//! ```
//! Per-epoch lines go to stdout, a progress bar to stderr; the run ends with one
//! `name: value` line per metric (`test accuracy: 97.83%`, `test AUC: 0.973`,
//! `median step: 0.085 ms`, …), stable for scripts to parse.

mod data;
mod root_cmd;
mod torch_engine;

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand, ValueEnum};
use ferrograd_train::{
    median_ms, with_threads, Dataset, EpochReport, EvalReport, Event, ModelSpec, OptimizerConfig,
    TrainConfig, Trainer,
};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

#[derive(Parser, Debug)]
#[command(
    name = "ferrograd",
    version,
    about = "Compile-time AD for Rust: training front end"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Train a model and report its test metrics and step time.
    Train(TrainArgs),
    /// Look into ROOT files: list trees and branches, dump entries.
    Root(root_cmd::RootArgs),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ModelKind {
    /// W1: Linear(784→H) → ReLU → Linear(H→10).
    Mlp,
    /// W2: the three-layer 1D CNN on 2048 samples.
    Cnn,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum DataKind {
    /// MNIST digits (scripts/fetch-mnist.sh).
    Mnist,
    /// Synthetic gravitational-wave chirps in whitened aLIGO noise.
    Gw,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Engine {
    /// Kernels with pullbacks, one arena, fused optimizers (pure Rust).
    Ferrograd,
    /// The same model with LibTorch's native autograd and tch::nn optimizers.
    Libtorch,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum OptKind {
    Sgd,
    Adam,
}

#[derive(clap::Args, Debug, Clone)]
pub struct TrainArgs {
    #[arg(long, value_enum)]
    pub model: ModelKind,
    #[arg(long, value_enum)]
    pub data: DataKind,
    #[arg(long, value_enum, default_value = "ferrograd")]
    pub engine: Engine,
    /// Epochs in total (a resumed run continues up to this many).
    #[arg(long, default_value_t = 5)]
    pub epochs: u64,
    /// Batch size [default: 64 for the MLP, 32 for the CNN].
    #[arg(long)]
    pub batch: Option<usize>,
    /// Threads for the kernels (or LibTorch's intra-op pool).
    #[arg(long, default_value_t = 1)]
    pub threads: usize,
    /// Hidden units of the MLP (W1a: 128, W1b: 512).
    #[arg(long, default_value_t = 128)]
    pub hidden: usize,
    /// Learning rate [default: 0.02 for SGD, 0.001 for Adam].
    #[arg(long)]
    pub lr: Option<f32>,
    /// SGD momentum.
    #[arg(long, default_value_t = 0.9)]
    pub momentum: f32,
    #[arg(long, value_enum, default_value = "sgd")]
    pub optimizer: OptKind,
    /// Seed of the initialisation, the shuffling and the GW data.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Checkpoint file (safetensors), written at every epoch end.
    #[arg(long)]
    pub checkpoint: Option<PathBuf>,
    /// Also write the checkpoint every this many steps.
    #[arg(long, requires = "checkpoint")]
    pub checkpoint_every: Option<u64>,
    /// Continue from --checkpoint.
    #[arg(long, requires = "checkpoint")]
    pub resume: bool,
    /// MNIST directory [default: $FERROGRAD_CACHE/mnist or ~/.cache/ferrograd/mnist].
    #[arg(long)]
    pub mnist_dir: Option<PathBuf>,
    /// Use only the first N training examples.
    #[arg(long)]
    pub train_size: Option<usize>,
    /// Use only the first N test examples.
    #[arg(long)]
    pub test_size: Option<usize>,
    /// GW: generated training examples.
    #[arg(long, default_value_t = 8000)]
    pub gw_train: usize,
    /// GW: generated held-out examples (another seed).
    #[arg(long, default_value_t = 2000)]
    pub gw_test: usize,
    /// GW: lowest and highest injected SNR.
    #[arg(long, default_value_t = 8.0)]
    pub snr_min: f64,
    #[arg(long, default_value_t = 20.0)]
    pub snr_max: f64,
    /// False-alarm probability for the detection efficiency.
    #[arg(long, default_value_t = 0.01)]
    pub far: f64,
    /// No progress bar.
    #[arg(long)]
    pub no_progress: bool,
    /// Testing aid: exit abruptly (status 137, no cleanup) right after this global step.
    #[arg(long, hide = true)]
    pub kill_after_steps: Option<u64>,
}

impl TrainArgs {
    fn batch(&self) -> usize {
        self.batch.unwrap_or(match self.model {
            ModelKind::Mlp => 64,
            ModelKind::Cnn => 32,
        })
    }

    fn optimizer(&self) -> OptimizerConfig {
        match self.optimizer {
            OptKind::Sgd => OptimizerConfig::sgd(self.lr.unwrap_or(0.02), self.momentum),
            OptKind::Adam => OptimizerConfig::adam(self.lr.unwrap_or(1e-3)),
        }
    }

    fn spec(&self) -> Result<ModelSpec> {
        Ok(match (self.model, self.data) {
            (ModelKind::Mlp, DataKind::Mnist) => ModelSpec::Mlp {
                in_features: 784,
                hidden: self.hidden,
                classes: 10,
            },
            (ModelKind::Cnn, DataKind::Gw) => ModelSpec::W2,
            (m, d) => bail!(
                "--model {m:?} does not fit --data {d:?}: use `--model mlp --data mnist` or `--model cnn --data gw`"
            ),
        })
    }
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Train(args) => train(&args),
        Command::Root(a) => root_cmd::run(a),
    }
}

fn train(args: &TrainArgs) -> Result<()> {
    let spec = args.spec()?;
    let data = data::load(args, spec)?;
    let train = data.train()?;
    let test = data.test()?;
    println!(
        "{} on {} ({} train / {} test examples), engine {:?}, batch {}, {} thread(s), {} lr {}",
        spec.tag(),
        data.name,
        train.len(),
        test.len(),
        args.engine,
        args.batch(),
        args.threads,
        args.optimizer().kind(),
        args.optimizer().lr()
    );
    let (last, step_seconds) = match args.engine {
        Engine::Ferrograd => run_ferrograd(args, spec, &train, &test)?,
        Engine::Libtorch => torch_engine::run(args, spec, &train, &test)?,
    };
    summary(&last, &step_seconds, args.far);
    Ok(())
}

/// The `name: value` lines at the end of a run.
fn summary(test: &Option<EvalReport>, step_seconds: &[f64], far: f64) {
    if let Some(t) = test {
        println!("test loss: {:.6}", t.loss);
        println!("test accuracy: {:.2}%", 100.0 * t.accuracy);
        if let Some(auc) = t.auc {
            println!("test AUC: {auc:.3}");
        }
        if let Some((_, eff)) = t.efficiency {
            println!("test efficiency at FAR {far}: {:.2}%", 100.0 * eff);
        }
    }
    match median_ms(step_seconds, 20.min(step_seconds.len() / 2)) {
        Some(ms) => println!("median step: {ms:.3} ms"),
        None => println!("median step: n/a"),
    }
}

pub(crate) fn epoch_line(r: &EpochReport, epochs: u64) -> String {
    let mut s = format!(
        "epoch {}/{epochs}: train loss {:.4}, train accuracy {:.2}%",
        r.epoch + 1,
        r.train_loss,
        100.0 * r.train_accuracy
    );
    if let Some(t) = &r.test {
        s += &format!(
            ", test loss {:.4}, test accuracy {:.2}%",
            t.loss,
            100.0 * t.accuracy
        );
        if let Some(auc) = t.auc {
            s += &format!(", test AUC {auc:.4}");
        }
    }
    s
}

pub(crate) fn progress_bar(args: &TrainArgs, batches: usize) -> ProgressBar {
    let pb = ProgressBar::new(batches as u64);
    if args.no_progress {
        pb.set_draw_target(ProgressDrawTarget::hidden());
    }
    pb.set_style(
        ProgressStyle::with_template("{prefix} [{bar:30}] {pos}/{len} {msg} ({eta})")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    pb
}

fn run_ferrograd(
    args: &TrainArgs,
    spec: ModelSpec,
    train: &Dataset<'_>,
    test: &Dataset<'_>,
) -> Result<(Option<EvalReport>, Vec<f64>)> {
    let mut cfg = TrainConfig::new(args.epochs, args.batch(), args.seed, args.optimizer());
    cfg.checkpoint = args.checkpoint.clone();
    cfg.checkpoint_every = args.checkpoint_every;
    cfg.far = args.far;
    let mut trainer = match (&args.checkpoint, args.resume) {
        (Some(path), true) => {
            if !path.exists() {
                bail!("--resume: no checkpoint at {}", path.display());
            }
            let t = Trainer::resume(path, spec, cfg, train.len())?;
            let (e, b) = t.position();
            println!(
                "resumed from {} at epoch {}, batch {} (step {})",
                path.display(),
                e + 1,
                b,
                t.steps()
            );
            t
        }
        _ => Trainer::new(spec, cfg, train.len())?,
    };
    let batches = trainer.batches_per_epoch();
    let epochs = args.epochs;
    let mut pb = progress_bar(args, batches);
    let mut last = None;
    let kill = args.kill_after_steps;
    let result = with_threads(args.threads, || {
        trainer.fit(train, Some(test), &mut |e| match e {
            Event::Step(s) => {
                if s.batch == 0 || pb.is_finished() {
                    pb = progress_bar(args, s.batches_per_epoch);
                    pb.set_prefix(format!("epoch {}/{epochs}", s.epoch + 1));
                }
                pb.set_position(s.batch as u64 + 1);
                if s.batch % 32 == 0 {
                    pb.set_message(format!("loss {:.4}", s.loss));
                }
                if kill == Some(s.step) {
                    pb.abandon();
                    eprintln!("killed after step {} (--kill-after-steps)", s.step);
                    std::process::exit(137);
                }
            }
            Event::Epoch(r) => {
                pb.finish_and_clear();
                println!("{}", epoch_line(r, epochs));
                last = r.test;
            }
            Event::Checkpoint(p) => {
                pb.println(format!("checkpoint: {}", p.display()));
            }
        })
    })?;
    result.context("training failed")?;
    if last.is_none() {
        // Nothing left to train (resumed a finished run): evaluate what we have.
        last = Some(ferrograd_train::evaluate(
            trainer.network_mut(),
            test,
            args.far,
        )?);
    }
    Ok((last, trainer.step_seconds().to_vec()))
}
