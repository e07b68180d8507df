//! `ferrograd` — the command line.
//!
//! ```text
//! ferrograd train --model mlp|cnn --data mnist|gw|root:FILE:TREE [--engine ferrograd|libtorch] [--epochs N]
//!                 [--batch B] [--threads T] [--hidden H] [--lr LR] [--optimizer sgd|adam]
//!                 [--seed S] [--on-nan stop|rollback]
//!                 [--checkpoint PATH [--checkpoint-every STEPS] [--resume [--override] | --overwrite]]
//!                 with root:FILE:TREE: --features A,B,C --target LABEL [--weight W] [--cut "x > 0"]
//!                 [--validation-split F] [--max-len N]
//! ferrograd gw-demo [--out DIR] [--train N] [--test N] [--epochs N] [--batch B] [--threads T]
//!                   [--seed S] [--snr-min A] [--snr-max B] [--optimizer adam|sgd] [--lr LR]
//!                   [--compression zlib|lz4|zstd|lzma|none] [--snr-bins K]
//! ferrograd root ls|dump ...
//! ferrograd onnx ops MODEL
//! ferrograd onnx run MODEL --input NAME=FILE.npy ... --out DIR [--grad]
//! ```
//! Per-epoch lines go to stdout, a progress bar to stderr; the run ends with one
//! `name: value` line per metric (`test accuracy: 97.83%`, `test AUC: 0.973`,
//! `median step: 0.085 ms`, …), stable for scripts to parse; `gw-demo` ends with `test AUC: X`,
//! `efficiency at FAP 1e-2: X%`, `efficiency at FAP 1e-3: X%` and `plots: DIR`.
//! Errors are one line on stderr; the exit code is 2 for a usage error (checked before any work
//! starts) and 1 for a failed run.

mod args;
mod data;
mod gw_demo_cmd;
mod onnx_cmd;
mod root_cmd;
mod torch_engine;
mod train_cmd;

use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};

pub(crate) use train_cmd::{epoch_line, progress_bar, DataKind, TrainArgs};

#[derive(Parser, Debug)]
#[command(
    name = "ferrograd",
    version,
    about = "Compile-time AD for Rust: training front end"
)]
pub(crate) struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Train a model and report its test metrics and step time.
    Train(Box<TrainArgs>),
    /// Look into ROOT files: list trees and branches, dump entries.
    Root(root_cmd::RootArgs),
    /// The gravitational-wave analysis: simulate strain into ROOT files, train the W2 CNN from
    /// them, report ROC AUC and efficiencies at fixed false-alarm probability, draw plots.
    GwDemo(Box<gw_demo_cmd::GwDemoArgs>),
    /// Run ONNX models forward and backward: list their ops, write outputs and gradients.
    Onnx(onnx_cmd::OnnxArgs),
}

fn main() -> ExitCode {
    let matches = match Cli::command().try_get_matches() {
        Ok(m) => m,
        Err(e) => return args::clap_exit(&e),
    };
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(c) => c,
        Err(e) => return args::clap_exit(&e),
    };
    let result = match cli.command {
        Command::Train(a) => train_cmd::train(*a, matches.subcommand_matches("train")),
        Command::Root(a) => root_cmd::run(a),
        Command::GwDemo(a) => gw_demo_cmd::run(*a),
        Command::Onnx(a) => onnx_cmd::run(a),
    };
    args::finish(result)
}
