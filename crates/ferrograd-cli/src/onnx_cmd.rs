//! `ferrograd onnx ops|run`: ONNX models from the shell. The report and the run live in
//! `ferrograd_onnx` (`ops_report`, `run`, tested there); this file only parses arguments.
//!
//! ```text
//! ferrograd onnx ops MODEL
//! ferrograd onnx run MODEL --input NAME=FILE.npy ... --out DIR [--grad]
//! ```

use std::path::PathBuf;

use anyhow::{Context, Result};

#[derive(clap::Args, Debug)]
pub struct OnnxArgs {
    #[command(subcommand)]
    command: OnnxCommand,
}

#[derive(clap::Subcommand, Debug)]
enum OnnxCommand {
    /// List the graph's ops with their counts and flag the unsupported ones (by node).
    #[command(after_help = "Example: ferrograd onnx ops model.onnx")]
    Ops {
        /// The .onnx model.
        model: PathBuf,
    },
    /// Run the model on .npy inputs: writes DIR/<output>.npy per graph output; with --grad
    /// also DIR/grad/<name>.npy, the gradient of the sum of all outputs w.r.t. every input and
    /// every float initializer (characters outside [A-Za-z0-9._-] in names become `_`).
    #[command(
        after_help = "Example: ferrograd onnx run model.onnx --input x=x.npy --out out --grad"
    )]
    Run {
        /// The .onnx model.
        model: PathBuf,
        /// A graph input, NAME=FILE.npy (float32, float64 read as float32, or int64); repeat
        /// for each input.
        #[arg(long = "input", value_parser = name_file, required = true)]
        inputs: Vec<(String, PathBuf)>,
        /// Directory for the outputs (created if missing).
        #[arg(long)]
        out: PathBuf,
        /// Also write the gradients of sum(outputs) into DIR/grad/.
        #[arg(long)]
        grad: bool,
    },
}

fn name_file(s: &str) -> std::result::Result<(String, PathBuf), String> {
    match s.split_once('=') {
        Some((n, f)) if !n.is_empty() && !f.is_empty() => Ok((n.to_string(), PathBuf::from(f))),
        _ => Err(format!("{s:?} is not NAME=FILE.npy, e.g. x=input.npy")),
    }
}

pub fn run(args: OnnxArgs) -> Result<()> {
    match args.command {
        OnnxCommand::Ops { model } => {
            let report = ferrograd_onnx::ops_report(&model)
                .with_context(|| format!("reading {}", model.display()))?;
            print!("{report}");
        }
        OnnxCommand::Run {
            model,
            inputs,
            out,
            grad,
        } => {
            let s = ferrograd_onnx::run(&model, &inputs, &out, grad)
                .with_context(|| format!("running {}", model.display()))?;
            for p in s.outputs.iter().chain(&s.gradients) {
                println!("wrote: {}", p.display());
            }
            println!("outputs: {}", s.outputs.len());
            if grad {
                println!("gradients: {}", s.gradients.len());
            }
        }
    }
    Ok(())
}
