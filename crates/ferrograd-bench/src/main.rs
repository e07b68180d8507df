//! `ferrograd-bench`: the benchmark suite behind `bench/run` (see bench/README.md).
//!
//! ```text
//! ferrograd-bench run [--quick] [--check] [--out bench/results] [--jax-python PATH] [--torch-python PATH]
//!                     [--workloads W1a,W1b,W2,W3-grad,W3-hess,W3-grad-1M,W4] [--frameworks ferrograd,tch,…] [--sweep]
//!                     [--repeat N]
//! ferrograd-bench check-report bench/results/<date>.json
//! ferrograd-bench worker --framework ferrograd|ferrograd-torch|tch --workload W1a --data DIR   (internal)
//! ```

mod charts;
mod check;
mod cpu;
mod framework;
mod heap_count;
mod peak;
mod report;
mod run;
mod worker;
mod workload;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{anyhow, Context, Result};
use clap::{Parser, Subcommand};

use framework::{Framework, Launch};
use workload::Workload;

/// Threads every framework runs on (the main run; the sweep also runs 1).
pub const THREADS: usize = 2;

/// The environment variable through which the orchestrator tells a worker (Rust or Python)
/// how many threads to run on; unset: [`THREADS`].
pub const THREADS_ENV: &str = "FERROGRAD_BENCH_THREADS";

/// This worker's thread count: `FERROGRAD_BENCH_THREADS`, or [`THREADS`] when unset.
pub fn threads() -> Result<usize> {
    match std::env::var(THREADS_ENV) {
        Err(std::env::VarError::NotPresent) => Ok(THREADS),
        Err(e) => Err(anyhow!("{THREADS_ENV}: {e}")),
        Ok(s) => s
            .parse::<usize>()
            .ok()
            .filter(|&n| n > 0)
            .ok_or_else(|| anyhow!("{THREADS_ENV}=`{s}` is not a positive integer")),
    }
}

#[derive(Parser)]
#[command(
    name = "ferrograd-bench",
    about = "ferrograd against tch, PyTorch eager, torch.compile and JAX, interleaved in one run"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run the suite: agreement check, then interleaved timing; writes JSON, Markdown, PNGs.
    Run {
        /// Fewer steps (3 warm-up, 3 rounds of 10): a smoke run in under 3 minutes.
        #[arg(long)]
        quick: bool,
        /// Then check that the report written is complete and well-formed (as check-report),
        /// and fail if not: what CI can run (`bench/run --quick --check`).
        #[arg(long)]
        check: bool,
        /// Where the report goes.
        #[arg(long, default_value = "bench/results")]
        out: PathBuf,
        /// Python with torch 2.13 (scripts/env.sh puts it first on PATH).
        #[arg(long, default_value = "python")]
        torch_python: PathBuf,
        /// Python with JAX (scripts/setup-jax.sh); without it JAX is reported unavailable.
        #[arg(long)]
        jax_python: Option<PathBuf>,
        /// The Python workers' directory.
        #[arg(long, default_value = "bench/workers")]
        workers_dir: PathBuf,
        /// Comma-separated workloads (default: all).
        #[arg(long, value_delimiter = ',')]
        workloads: Vec<String>,
        /// Comma-separated frameworks (default: all; the first is the agreement reference).
        #[arg(long, value_delimiter = ',')]
        frameworks: Vec<String>,
        /// Also run the scaling sweep of the selected swept workloads (W1a, W4): each one's
        /// model at batch 1, 8, 64, 256 x threads 1, 2, for
        /// every selected framework (agreement checked at each setting, interleaved timing);
        /// a `sweeps` section in the JSON and Markdown and a chart per workload. Not part of
        /// `--quick`.
        #[arg(long)]
        sweep: bool,
        /// Run the whole suite this many times (each run writes and checks its own report),
        /// then report the median over the runs of every `peer / ferrograd` ratio
        /// (`<date>-repeat.md`): the targets are stated for the median of runs.
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=20))]
        repeat: u32,
    },
    /// Check that a report (the JSON, its Markdown and charts) is complete and well-formed.
    CheckReport { json: PathBuf },
    /// Internal: one Rust framework's worker process.
    Worker {
        #[arg(long)]
        framework: String,
        #[arg(long)]
        workload: String,
        #[arg(long)]
        data: PathBuf,
    },
}

fn parse_list<T: Copy>(
    names: &[String],
    all: &[T],
    from: fn(&str) -> Option<T>,
    what: &str,
) -> Result<Vec<T>> {
    if names.is_empty() {
        return Ok(all.to_vec());
    }
    names
        .iter()
        .map(|n| from(n).ok_or_else(|| anyhow!("unknown {what} `{n}`")))
        .collect()
}

fn main() -> ExitCode {
    match real_main() {
        Ok(code) => code,
        Err(e) => {
            eprintln!("ferrograd-bench: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn real_main() -> Result<ExitCode> {
    let cli = Cli::parse();
    match cli.cmd {
        Cmd::Worker {
            framework,
            workload,
            data,
        } => {
            let f = Framework::from_name(&framework)
                .ok_or_else(|| anyhow!("unknown framework `{framework}`"))?;
            let w = Workload::from_name(&workload)
                .ok_or_else(|| anyhow!("unknown workload `{workload}`"))?;
            worker::run(f, w, &data)?;
            Ok(ExitCode::SUCCESS)
        }
        Cmd::CheckReport { json } => {
            let problems = check::check_report(&json)?;
            if problems.is_empty() {
                println!("{}: complete and well-formed", json.display());
                Ok(ExitCode::SUCCESS)
            } else {
                for p in &problems {
                    eprintln!("{}: {p}", json.display());
                }
                Ok(ExitCode::FAILURE)
            }
        }
        Cmd::Run {
            quick,
            check,
            out,
            torch_python,
            jax_python,
            workers_dir,
            workloads,
            frameworks,
            sweep,
            repeat,
        } => {
            let workloads =
                parse_list(&workloads, &Workload::ALL, Workload::from_name, "workload")?;
            let frameworks = parse_list(
                &frameworks,
                &Framework::ALL,
                Framework::from_name,
                "framework",
            )?;
            let plan = if quick {
                run::Plan::quick()
            } else {
                run::Plan::full()
            };
            let launch = Launch {
                torch_python: &torch_python,
                jax_python: jax_python.as_deref(),
                workers_dir: &workers_dir,
            };
            let mut reports = Vec::new();
            for k in 0..repeat {
                if repeat > 1 {
                    println!("== run {} of {repeat}", k + 1);
                }
                let t0 = Instant::now();
                let load_before = report::Report::load_now();
                let data = std::env::temp_dir()
                    .join(format!("ferrograd-bench-{}-{k}", std::process::id()));
                std::fs::create_dir_all(&data)
                    .with_context(|| format!("creating {}", data.display()))?;
                let result = run::run(&workloads, &frameworks, &launch, &data, plan, sweep);
                let _ = std::fs::remove_dir_all(&data);
                let mut report = result?;
                report.load_before = load_before;
                report.wall_s = t0.elapsed().as_secs_f64();
                println!("\n{}", report.markdown());
                let written = report.write(&out)?;
                for p in &written {
                    println!("wrote {}", p.display());
                }
                if check {
                    let json = written.first().context("no report written")?;
                    let problems = check::check_report(json)?;
                    if !problems.is_empty() {
                        for p in &problems {
                            eprintln!("{}: {p}", json.display());
                        }
                        return Ok(ExitCode::FAILURE);
                    }
                    println!("{}: complete and well-formed", json.display());
                }
                reports.push(report);
            }
            if reports.len() > 1 {
                let md = report::repeat_summary(&reports);
                println!("\n{md}");
                let path = out.join(format!("{}-repeat.md", reports[0].date));
                std::fs::write(&path, &md)
                    .with_context(|| format!("writing {}", path.display()))?;
                println!("wrote {}", path.display());
            }
            let failures: Vec<String> = reports
                .iter()
                .flat_map(|r| r.failures())
                .filter(|f| !f.contains(": unavailable:"))
                .collect();
            if failures.is_empty() {
                Ok(ExitCode::SUCCESS)
            } else {
                for f in failures {
                    eprintln!("FAILED {f}");
                }
                Ok(ExitCode::FAILURE)
            }
        }
    }
}
