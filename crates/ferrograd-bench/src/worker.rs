//! The Rust workers (ferrograd and tch autograd) and the worker side of the protocol that the
//! Python workers implement too (`bench/workers/protocol.py`): one workload, one framework, one
//! process. Replies are JSON lines on stdout; commands are read from stdin:
//! `check` (writes `[loss, gradient…]` or `[nll, hessian…]` as f64 to
//! `<data>/<workload>.<framework>.out`), `time N [BUDGET_MS]` (runs N steps, fewer if they take longer than the budget, replies the times in ms, the
//! peak RSS and the heap allocations per step of the whole process, Rust's and LibTorch's C++
//! ones alike: [`crate::heap_count`]), `quit`.

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use serde_json::json;

use crate::framework::Framework;
use crate::workload::{Inputs, Workload};

mod bridge;
mod fg;
mod torch;

pub use bridge::NO_W3 as BRIDGE_NO_W3;

/// One framework's implementation of one workload.
pub trait Engine: Send {
    /// The loss (or NLL) and its gradient (or Hessian) at the initial parameters, without
    /// updating them.
    fn check(&mut self) -> Result<Vec<f64>>;
    /// One timed step.
    fn step(&mut self) -> Result<()>;
}

/// The peak resident set size of this process so far, in MiB (`VmHWM`).
pub fn peak_rss_mib() -> Option<f64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

/// Runs the worker for `framework` on `workload` with the inputs in `data` until `quit` or
/// the end of stdin.
pub fn run(framework: Framework, workload: Workload, data: &Path) -> Result<()> {
    let threads = crate::threads()?;
    let inputs = Inputs::load(data, workload)?;
    let out_path = data.join(format!("{}.{}.out", workload.name(), framework.name()));
    match framework {
        Framework::Ferrograd => {
            let mut e = fg::engine(workload, &inputs)?;
            serve(e.as_mut(), &out_path, Pool::ferrograd(threads)?)
        }
        Framework::Bridge => {
            // The node's kernels run on ferrograd's warm pool of `threads` workers; LibTorch's
            // own share (autograd bookkeeping, the SGD update) on one thread, so that the two
            // pools do not compete for the 2 cores (`crates/ferrograd-torch/benches/w1a.rs`,
            // (c'): 0.353 ms with 2 + 2 threads, 0.219 ms with 2 + 1).
            tch::set_num_threads(1);
            let mut e = bridge::engine(workload, &inputs)?;
            serve(e.as_mut(), &out_path, Pool::ferrograd(threads)?)
        }
        Framework::Tch => {
            tch::set_num_threads(i32::try_from(threads)?);
            let mut e = torch::engine(workload, &inputs)?;
            serve(e.as_mut(), &out_path, Pool::Own)
        }
        other => bail!("{} is not a Rust worker", other.name()),
    }
}

/// Where a command's work runs.
enum Pool {
    /// ferrograd's kernel threads, made once for the worker's life and entered per command:
    /// their workers spin for work during a command and sleep between them (an idle worker
    /// process must not keep a core busy while the other frameworks run their rounds). Made
    /// once, the threads' scratch is warm from the first command on, so a round of one step
    /// (W4 at batch 256 on one thread) counts a steady step's allocations, not the scratch
    /// that new threads would allocate.
    Ferrograd(ferrograd_train::KernelThreads),
    /// On the framework's own threads (LibTorch's).
    Own,
}

impl Pool {
    fn ferrograd(threads: usize) -> Result<Pool> {
        Ok(Pool::Ferrograd(ferrograd_train::KernelThreads::new(
            threads,
        )?))
    }

    fn run<R: Send>(&self, f: impl FnOnce() -> R + Send) -> R {
        match self {
            Pool::Ferrograd(threads) => threads.run(f),
            Pool::Own => f(),
        }
    }
}

fn reply(v: serde_json::Value) -> Result<()> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{v}")?;
    out.flush()?;
    Ok(())
}

fn serve(e: &mut dyn Engine, out_path: &PathBuf, pool: Pool) -> Result<()> {
    reply(json!({"ready": true, "rss_mib": peak_rss_mib()}))?;
    for line in std::io::stdin().lock().lines() {
        let line = line?;
        let cmd: Vec<&str> = line.split_whitespace().collect();
        match cmd.as_slice() {
            [] => continue,
            ["quit"] => break,
            ["check"] => {
                let v = pool.run(|| e.check())?;
                let bytes: Vec<u8> = v.iter().flat_map(|x| x.to_le_bytes()).collect();
                std::fs::write(out_path, bytes)
                    .with_context(|| format!("writing {}", out_path.display()))?;
                reply(json!({"out": out_path}))?;
            }
            ["time", n, budget @ ..] => {
                let n: usize = n.parse().with_context(|| format!("step count `{n}`"))?;
                let budget_ms: f64 = match budget {
                    [] => f64::INFINITY,
                    [b] => b.parse().with_context(|| format!("time budget `{b}`"))?,
                    _ => bail!("`time N [BUDGET_MS]`, got `{line}`"),
                };
                let start = Instant::now();
                let mut times = Vec::with_capacity(n);
                let mut result = Ok(());
                // Every allocation of the process, on every thread, over the second half of
                // the steps: the steady state (the kernel threads and their scratch were made
                // by the earlier commands, `Pool::Ferrograd`). `None` (no count in the report)
                // if the counter failed its self-check.
                let counter = crate::heap_count::counter()
                    .map_err(|why| eprintln!("heap allocations not counted: {why}"))
                    .ok();
                // The count before each step and after the last (capacity reserved here, so
                // recording allocates nothing).
                let mut counts: Vec<u64> = Vec::with_capacity(n + 1);
                pool.run(|| {
                    for _ in 0..n {
                        if let Some(count) = counter {
                            counts.push(count());
                        }
                        let t0 = Instant::now();
                        if let Err(err) = e.step() {
                            result = Err(err);
                            return;
                        }
                        times.push(t0.elapsed().as_secs_f64() * 1e3);
                        if start.elapsed().as_secs_f64() * 1e3 > budget_ms {
                            break;
                        }
                    }
                    if let Some(count) = counter {
                        counts.push(count());
                    }
                });
                result?;
                let done = times.len();
                let half = done / 2;
                let allocs = match (counts.get(half), counts.get(done)) {
                    (Some(mid), Some(end)) if done > half => {
                        Some((end - mid) as f64 / (done - half) as f64)
                    }
                    _ => None,
                };
                reply(json!({
                    "times_ms": times,
                    "rss_mib": peak_rss_mib(),
                    "allocs_per_step": allocs,
                }))?;
            }
            _ => reply(json!({"error": format!("unknown command `{line}`")}))?,
        }
    }
    Ok(())
}
