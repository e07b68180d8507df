//! Statistics and the report: JSON, a Markdown table, PNG charts.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde_json::{json, Value};

use crate::cpu::CpuShare;
use crate::framework::Framework;
use crate::run::Plan;
use crate::workload::Workload;

/// Whether a framework produced timings.
#[derive(Clone, Debug, PartialEq)]
pub enum Status {
    Ok,
    /// Could not start, crashed, was unavailable, or disagreed (the reason, never hidden).
    Failed(String),
}

/// One framework on one workload.
#[derive(Clone, Debug)]
pub struct FrameworkResult {
    pub framework: Framework,
    pub status: Status,
    pub times_ms: Vec<f64>,
    pub median_ms: Option<f64>,
    pub q25_ms: Option<f64>,
    pub q75_ms: Option<f64>,
    pub peak_rss_mib: Option<f64>,
    pub allocs_per_step: Option<f64>,
    pub max_rel_diff: Option<f64>,
    /// Who used the machine's CPUs during the timed steps.
    pub cpu: CpuShare,
}

/// The `q` quantile (linear interpolation) of sorted data.
pub fn quantile(sorted: &[f64], q: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let pos = q * (sorted.len() - 1) as f64;
    let (i, frac) = (pos.floor() as usize, pos - pos.floor());
    let next = sorted.get(i + 1).copied().unwrap_or(sorted[i]);
    Some(sorted[i] + frac * (next - sorted[i]))
}

impl FrameworkResult {
    pub fn new(
        framework: Framework,
        status: Status,
        times_ms: Vec<f64>,
        peak_rss_mib: Option<f64>,
        allocs_per_step: Option<f64>,
        max_rel_diff: Option<f64>,
        cpu: CpuShare,
    ) -> FrameworkResult {
        let mut sorted = times_ms.clone();
        sorted.sort_by(f64::total_cmp);
        let ok = status == Status::Ok;
        FrameworkResult {
            framework,
            median_ms: quantile(&sorted, 0.5).filter(|_| ok),
            q25_ms: quantile(&sorted, 0.25).filter(|_| ok),
            q75_ms: quantile(&sorted, 0.75).filter(|_| ok),
            status,
            times_ms,
            peak_rss_mib,
            allocs_per_step,
            max_rel_diff,
            cpu,
        }
    }

    pub fn unavailable(framework: Framework, why: String) -> FrameworkResult {
        FrameworkResult::new(
            framework,
            Status::Failed(why),
            Vec::new(),
            None,
            None,
            None,
            CpuShare::default(),
        )
    }
}

/// One workload, every framework.
pub struct WorkloadReport {
    pub workload: Workload,
    pub flops: Option<f64>,
    pub results: Vec<FrameworkResult>,
}

impl WorkloadReport {
    /// At `batch` (`None`: the workload's own; the sweep's differ).
    pub fn new_at(
        workload: Workload,
        batch: Option<usize>,
        results: Vec<FrameworkResult>,
    ) -> Result<WorkloadReport> {
        Ok(WorkloadReport {
            workload,
            flops: workload.step_flops_at(batch)?,
            results,
        })
    }

    /// The frameworks during whose timed steps steal time and other processes took more than
    /// [`crate::cpu::DISTURBED_PCT`] of the machine, in a sentence; `None` when the run was
    /// quiet.
    pub fn disturbance(&self) -> Option<String> {
        let loud: Vec<String> = self
            .results
            .iter()
            .filter(|r| r.cpu.disturbed())
            .map(|r| {
                format!(
                    "{} (other processes {:.0}%, steal {:.0}%)",
                    r.framework.name(),
                    r.cpu.foreign_pct().unwrap_or(0.0),
                    r.cpu.steal_pct().unwrap_or(0.0)
                )
            })
            .collect();
        (!loud.is_empty()).then(|| {
            format!(
                "{}: disturbed run; of the machine's CPU time during the timed steps, other \
                 processes and steal took more than {}% for {}",
                self.workload.name(),
                crate::cpu::DISTURBED_PCT,
                loud.join(", ")
            )
        })
    }

    pub fn ferrograd_ms(&self) -> Option<f64> {
        self.results
            .iter()
            .find(|r| r.framework == Framework::Ferrograd)
            .and_then(|r| r.median_ms)
    }
}

/// One setting of the scaling sweep: a workload's model at `batch`, on `threads` threads.
pub struct SweepPoint {
    pub batch: usize,
    pub threads: usize,
    pub report: WorkloadReport,
}

/// The scaling sweep (`--sweep`) of one workload's model.
pub struct Sweep {
    pub workload: Workload,
    pub plan: Plan,
    pub points: Vec<SweepPoint>,
}

impl Sweep {
    fn to_json(&self) -> Value {
        let points: Vec<Value> = self
            .points
            .iter()
            .map(|p| {
                let fg = p.report.ferrograd_ms();
                let results: Vec<Value> = p
                    .report
                    .results
                    .iter()
                    .map(|r| {
                        json!({
                            "framework": r.framework.name(),
                            "status": match &r.status { Status::Ok => "ok".to_string(), Status::Failed(w) => w.clone() },
                            "steps": r.times_ms.len(),
                            "median_ms": r.median_ms,
                            "q25_ms": r.q25_ms,
                            "q75_ms": r.q75_ms,
                            "us_per_example": r.median_ms.map(|m| m * 1e3 / p.batch as f64),
                            "peer_over_ferrograd": fg.zip(r.median_ms).map(|(f, m)| m / f),
                            "gflops": p.report.flops.zip(r.median_ms).map(|(f, ms)| f / (ms * 1e-3) / 1e9),
                            "peak_rss_mib": r.peak_rss_mib,
                            "allocs_per_step": r.allocs_per_step,
                            "max_rel_diff": r.max_rel_diff,
                            "cpu_steal_pct": r.cpu.steal_pct(),
                            "cpu_foreign_pct": r.cpu.foreign_pct(),
                        })
                    })
                    .collect();
                json!({
                    "batch": p.batch,
                    "threads": p.threads,
                    "flops_per_step": p.report.flops,
                    "disturbed": p.report.disturbance(),
                    "results": results,
                })
            })
            .collect();
        json!({
            "workload": self.workload.name(),
            "model": self.workload.describe(),
            "batches": crate::run::SWEEP_BATCHES,
            "threads": crate::run::SWEEP_THREADS,
            "tolerance": self.workload.tolerance(),
            "plan": {
                "warmup": self.plan.warmup,
                "rounds": self.plan.rounds,
                "steps_per_round": self.plan.steps_per_round,
                "budget_ms": self.plan.budget_ms,
            },
            "points": points,
        })
    }

    fn markdown(&self) -> String {
        let mut s = format!(
            "\n### Scaling sweep: {}'s model ({}) by batch size and threads\n\n\
             {} warm-up steps, then {} rounds x {} steps per framework and setting (each round \
             stops after {} ms, at least one step), interleaved; agreement checked at every \
             setting.\n\n",
            self.workload.name(),
            self.workload.describe(),
            self.plan.warmup,
            self.plan.rounds,
            self.plan.steps_per_round,
            self.plan.budget_ms.unwrap_or(f64::INFINITY)
        );
        s += "| threads | batch | framework | median ms/step | µs/example | peer / ferrograd | GFLOP/s | allocs/step | max rel diff |\n";
        s += "|---:|---:|---|---:|---:|---:|---:|---:|---:|\n";
        for p in &self.points {
            let fg = p.report.ferrograd_ms();
            for r in &p.report.results {
                let name = r.framework.name();
                if let Status::Failed(why) = &r.status {
                    s += &format!(
                        "| {} | {} | {name} | {} | | | | | {} |\n",
                        p.threads,
                        p.batch,
                        why.replace('|', "/"),
                        r.max_rel_diff
                            .map_or_else(|| "-".into(), |d| format!("{d:.1e}"))
                    );
                    continue;
                }
                s += &format!(
                    "| {} | {} | {name} | {} | {} | {} | {} | {} | {} |\n",
                    p.threads,
                    p.batch,
                    fmt_opt(r.median_ms, 3),
                    fmt_opt(r.median_ms.map(|m| m * 1e3 / p.batch as f64), 2),
                    fg.zip(r.median_ms)
                        .map_or_else(|| "-".into(), |(f, m)| format!("{:.2}x", m / f)),
                    fmt_opt(
                        p.report
                            .flops
                            .zip(r.median_ms)
                            .map(|(f, ms)| f / (ms * 1e-3) / 1e9),
                        1
                    ),
                    fmt_opt(r.allocs_per_step, 1),
                    r.max_rel_diff
                        .map_or_else(|| "-".into(), |d| format!("{d:.1e}")),
                );
            }
        }
        for p in &self.points {
            if let Some(d) = p.report.disturbance() {
                s += &format!("\n- batch {}, {} threads: {d}.\n", p.batch, p.threads);
            }
        }
        s
    }
}

/// The whole run.
pub struct Report {
    pub plan: Plan,
    /// The sgemm peak measured before the first workload, and after the last (`None`: not
    /// yet); the shares are of [`Report::sgemm_peak`].
    pub sgemm_peak_start_gflops: f64,
    pub sgemm_peak_end_gflops: Option<f64>,
    pub workloads: Vec<WorkloadReport>,
    pub date: String,
    pub load_before: String,
    pub load_after: String,
    pub wall_s: f64,
    /// The scaling sweeps (one per swept workload), with `--sweep`.
    pub sweeps: Vec<Sweep>,
}

/// A change of the sgemm peak between a run's start and end beyond this (%) is reported.
pub const PEAK_DRIFT_PCT: f64 = 15.0;

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
}

/// UTC now as `YYYY-MM-DDTHHMMSSZ` (days to civil date: Howard Hinnant's algorithm).
pub fn utc_stamp() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}{:02}{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

fn fmt_opt(v: Option<f64>, prec: usize) -> String {
    v.map_or_else(|| "-".into(), |v| format!("{v:.prec$}"))
}

impl Report {
    pub fn new(plan: Plan, sgemm_peak_gflops: f64, workloads: Vec<WorkloadReport>) -> Report {
        Report {
            plan,
            sgemm_peak_start_gflops: sgemm_peak_gflops,
            sgemm_peak_end_gflops: None,
            workloads,
            date: utc_stamp(),
            load_before: String::new(),
            load_after: loadavg(),
            wall_s: 0.0,
            sweeps: Vec::new(),
        }
    }

    /// Records the peak measured again after the last workload.
    pub fn set_peak_end(&mut self, end: f64) {
        self.sgemm_peak_end_gflops = Some(end);
    }

    /// The peak the shares are of: the higher of the two measurements, so that a machine that
    /// sped up during the run does not show products above 100% of its peak.
    pub fn sgemm_peak(&self) -> f64 {
        self.sgemm_peak_end_gflops
            .map_or(self.sgemm_peak_start_gflops, |end| {
                self.sgemm_peak_start_gflops.max(end)
            })
    }

    /// A sentence when the machine's sgemm peak moved by more than [`PEAK_DRIFT_PCT`] between
    /// the start and the end of the run: its speed changed under the run (a noisy neighbour,
    /// a frequency change), which steal time does not always show.
    pub fn peak_drift(&self) -> Option<String> {
        let (start, end) = (self.sgemm_peak_start_gflops, self.sgemm_peak_end_gflops?);
        let change = 100.0 * (end - start) / start.max(end);
        (change.abs() > PEAK_DRIFT_PCT).then(|| {
            format!(
                "the machine's speed changed during the run: sgemm peak {start:.1} GFLOP/s at the \
                 start, {end:.1} at the end ({change:+.0}%)"
            )
        })
    }

    pub fn load_now() -> String {
        loadavg()
    }

    /// Whether every framework produced timings on every workload.
    pub fn failures(&self) -> Vec<String> {
        let mut v = Vec::new();
        for w in &self.workloads {
            for r in &w.results {
                if let Status::Failed(why) = &r.status {
                    v.push(format!(
                        "{} {}: {why}",
                        w.workload.name(),
                        r.framework.name()
                    ));
                }
            }
        }
        for p in self.sweeps.iter().flat_map(|s| &s.points) {
            for r in &p.report.results {
                if let Status::Failed(why) = &r.status {
                    v.push(format!(
                        "sweep {} b{} t{} {}: {why}",
                        p.report.workload.name(),
                        p.batch,
                        p.threads,
                        r.framework.name()
                    ));
                }
            }
        }
        v
    }

    pub fn to_json(&self) -> Value {
        let workloads: Vec<Value> = self
            .workloads
            .iter()
            .map(|w| {
                let fg = w.ferrograd_ms();
                let results: Vec<Value> = w
                    .results
                    .iter()
                    .map(|r| {
                        let gflops = w.flops.zip(r.median_ms).map(|(f, ms)| f / (ms * 1e-3) / 1e9);
                        json!({
                            "framework": r.framework.name(),
                            "status": match &r.status { Status::Ok => "ok".to_string(), Status::Failed(w) => w.clone() },
                            "steps": r.times_ms.len(),
                            "median_ms": r.median_ms,
                            "q25_ms": r.q25_ms,
                            "q75_ms": r.q75_ms,
                            "iqr_ms": r.q75_ms.zip(r.q25_ms).map(|(a, b)| a - b),
                            "peer_over_ferrograd": fg.zip(r.median_ms).map(|(f, m)| m / f),
                            "gflops": gflops,
                            "pct_sgemm_peak": gflops.map(|g| 100.0 * g / self.sgemm_peak()),
                            "peak_rss_mib": r.peak_rss_mib,
                            "allocs_per_step": r.allocs_per_step,
                            "max_rel_diff": r.max_rel_diff,
                            "cpu_steal_pct": r.cpu.steal_pct(),
                            "cpu_foreign_pct": r.cpu.foreign_pct(),
                            "times_ms": r.times_ms,
                        })
                    })
                    .collect();
                json!({
                    "workload": w.workload.name(),
                    "step": w.workload.describe(),
                    "flops_per_step": w.flops,
                    "tolerance": w.workload.tolerance(),
                    "disturbed": w.disturbance(),
                    "results": results,
                })
            })
            .collect();
        let mut out = json!({
            "date": self.date,
            "threads": crate::THREADS,
            "plan": {
                "warmup": self.plan.warmup,
                "rounds": self.plan.rounds,
                "steps_per_round": self.plan.steps_per_round,
            },
            "machine": {
                "cpus": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
                "loadavg_before": self.load_before,
                "loadavg_after": self.load_after,
            },
            "sgemm_peak_gflops": self.sgemm_peak(),
            "sgemm_peak_start_gflops": self.sgemm_peak_start_gflops,
            "sgemm_peak_end_gflops": self.sgemm_peak_end_gflops,
            "peak_drift": self.peak_drift(),
            "wall_s": self.wall_s,
            "workloads": workloads,
        });
        if !self.sweeps.is_empty() {
            out["sweeps"] = Value::Array(self.sweeps.iter().map(Sweep::to_json).collect());
        }
        out
    }

    pub fn markdown(&self) -> String {
        let mut s = format!(
            "Run {} ({} threads; {} warm-up steps, then {} rounds x {} steps per framework, interleaved; \
             load average {} before, {} after; {:.0} s). sgemm peak {:.1} GFLOP/s at the start, {} at \
             the end; the shares below are of the higher.\n\n",
            self.date,
            crate::THREADS,
            self.plan.warmup,
            self.plan.rounds,
            self.plan.steps_per_round,
            self.load_before,
            self.load_after,
            self.wall_s,
            self.sgemm_peak_start_gflops,
            fmt_opt(self.sgemm_peak_end_gflops, 1),
        );
        if let Some(d) = self.peak_drift() {
            s += &format!("**Note: {d}.**\n\n");
        }
        s += "| workload | framework | median ms | IQR ms | peer / ferrograd | GFLOP/s | % sgemm peak | peak RSS MiB | allocs/step | max rel diff |\n";
        s += "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|\n";
        for w in &self.workloads {
            let fg = w.ferrograd_ms();
            for r in &w.results {
                let name = r.framework.name();
                if let Status::Failed(why) = &r.status {
                    s += &format!(
                        "| {} | {name} | {} | | | | | | | {} |\n",
                        w.workload.name(),
                        why.replace('|', "/"),
                        r.max_rel_diff
                            .map_or_else(|| "-".into(), |d| format!("{d:.1e}"))
                    );
                    continue;
                }
                let gflops = w
                    .flops
                    .zip(r.median_ms)
                    .map(|(f, ms)| f / (ms * 1e-3) / 1e9);
                let ratio = fg.zip(r.median_ms).map(|(f, m)| m / f);
                s += &format!(
                    "| {} | {name} | {} | {} | {} | {} | {} | {} | {} | {} |\n",
                    w.workload.name(),
                    fmt_opt(r.median_ms, 3),
                    fmt_opt(r.q75_ms.zip(r.q25_ms).map(|(a, b)| a - b), 3),
                    ratio.map_or_else(|| "-".into(), |x| format!("{x:.2}x")),
                    fmt_opt(gflops, 1),
                    fmt_opt(gflops.map(|g| 100.0 * g / self.sgemm_peak()), 0),
                    fmt_opt(r.peak_rss_mib, 0),
                    fmt_opt(r.allocs_per_step, 1),
                    r.max_rel_diff
                        .map_or_else(|| "-".into(), |d| format!("{d:.1e}")),
                );
            }
        }
        s += "\n`peer / ferrograd` is the peer's median step time over ferrograd's (above 1: ferrograd is faster). \
              GFLOP/s counts the matrix products of a step only. allocs/step: heap allocations \
              per step (over the second half of the timed steps) of the whole worker process, every \
              thread, Rust's and LibTorch's C++ ones alike (`malloc` and its aligned variants, \
              counted by the Rust workers; none for the Python ones).\n";
        let disturbed: Vec<String> = self
            .workloads
            .iter()
            .filter_map(WorkloadReport::disturbance)
            .collect();
        if disturbed.is_empty() {
            s += &format!(
                "\nNo workload was disturbed: during every framework's timed steps, other \
                 processes and steal took at most {}% of the machine's CPU time (or the steps \
                 were too short to tell).\n",
                crate::cpu::DISTURBED_PCT
            );
        } else {
            for d in disturbed {
                s += &format!("\n**{d}.**\n");
            }
        }
        for sweep in &self.sweeps {
            s += &sweep.markdown();
        }
        s
    }

    /// Writes `<dir>/<date>.json`, `.md` and the charts; returns their paths.
    pub fn write(&self, dir: &Path) -> Result<Vec<PathBuf>> {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let json_path = dir.join(format!("{}.json", self.date));
        std::fs::write(&json_path, serde_json::to_string_pretty(&self.to_json())?)
            .with_context(|| format!("writing {}", json_path.display()))?;
        let md_path = dir.join(format!("{}.md", self.date));
        std::fs::write(&md_path, self.markdown())
            .with_context(|| format!("writing {}", md_path.display()))?;
        let mut paths = vec![json_path, md_path];
        paths.extend(crate::charts::draw(self, dir)?);
        Ok(paths)
    }
}

/// The median over several runs of each workload's `peer / ferrograd` ratios (and of
/// ferrograd's own median step time), with the smallest and largest ratio seen, and the median
/// over the runs that were not disturbed (`*` marks a disturbed run's ratio): Markdown.
pub fn repeat_summary(reports: &[Report]) -> String {
    let median = |mut v: Vec<f64>| -> Option<f64> {
        v.sort_by(f64::total_cmp);
        quantile(&v, 0.5)
    };
    let mut md = format!(
        "## Median over {} runs ({} … {})\n\n`peer / ferrograd` per run (above 1: ferrograd is faster; `*`: a disturbed run, see each run's report), then its median over the runs, with the range, and its median over the undisturbed runs.\n\n| workload | framework | ferrograd ms (median of run medians) | peer / ferrograd per run | median | min–max | median, undisturbed runs |\n|---|---|---:|---|---:|---|---:|\n",
        reports.len(),
        reports.first().map_or("", |r| r.date.as_str()),
        reports.last().map_or("", |r| r.date.as_str()),
    );
    let Some(first) = reports.first() else {
        return md;
    };
    for w in &first.workloads {
        let runs: Vec<&WorkloadReport> = reports
            .iter()
            .filter_map(|r| r.workloads.iter().find(|x| x.workload == w.workload))
            .collect();
        let fg = median(runs.iter().filter_map(|r| r.ferrograd_ms()).collect());
        for res in &w.results {
            if res.framework == Framework::Ferrograd {
                continue;
            }
            // (ratio, whether that run was disturbed)
            let ratios: Vec<(f64, bool)> = runs
                .iter()
                .filter_map(|r| {
                    let f = r.ferrograd_ms()?;
                    let m = r
                        .results
                        .iter()
                        .find(|x| x.framework == res.framework)?
                        .median_ms?;
                    Some((m / f, r.disturbance().is_some()))
                })
                .collect();
            let per_run = ratios
                .iter()
                .map(|(x, d)| format!("{x:.2}x{}", if *d { "*" } else { "" }))
                .collect::<Vec<_>>()
                .join(", ");
            let (lo, hi) = ratios
                .iter()
                .fold((f64::INFINITY, 0.0f64), |(a, b), &(x, _)| {
                    (a.min(x), b.max(x))
                });
            let med = median(ratios.iter().map(|r| r.0).collect());
            let quiet = median(ratios.iter().filter(|r| !r.1).map(|r| r.0).collect());
            md += &format!(
                "| {} | {} | {} | {} | {} | {} | {} |\n",
                w.workload.name(),
                res.framework.name(),
                fg.map_or("-".into(), |v| format!("{v:.3}")),
                if per_run.is_empty() {
                    "-".into()
                } else {
                    per_run
                },
                med.map_or("-".into(), |v| format!("{v:.2}x")),
                if ratios.is_empty() {
                    "-".into()
                } else {
                    format!("{lo:.2}–{hi:.2}x")
                },
                quiet.map_or("-".into(), |v| format!("{v:.2}x")),
            );
        }
    }
    md
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cpu::MachineTicks;

    /// A result with steps of `ms`, timed while the worker used `worker` of 100 machine
    /// ticks, other processes `foreign` and the hypervisor `steal`.
    fn result(f: Framework, ms: f64, worker: u64, foreign: u64, steal: u64) -> FrameworkResult {
        let mut cpu = CpuShare::default();
        let after = MachineTicks {
            busy: worker + foreign,
            steal,
            total: 100,
        };
        cpu.add(MachineTicks::default(), after, worker);
        FrameworkResult::new(f, Status::Ok, vec![ms; 5], Some(1.0), None, Some(0.0), cpu)
    }

    fn run(tch_foreign: u64) -> Report {
        let w = WorkloadReport {
            workload: Workload::W1a,
            flops: None,
            results: vec![
                result(Framework::Ferrograd, 1.0, 95, 2, 1),
                result(Framework::Tch, 2.0, 80, tch_foreign, 3),
            ],
        };
        Report::new(Plan::quick(), 100.0, vec![w])
    }

    #[test]
    fn a_loaded_turn_marks_the_workload_disturbed() {
        let quiet = run(5);
        assert_eq!(quiet.workloads[0].disturbance(), None);
        assert!(quiet.markdown().contains("No workload was disturbed"));
        assert!(quiet.to_json()["workloads"][0]["disturbed"].is_null());
        let loud = run(12);
        let d = loud.workloads[0].disturbance().expect("12% + 3% > 10%");
        assert!(
            d.starts_with("W1a: disturbed run")
                && d.contains("tch (other processes 12%, steal 3%)"),
            "{d}"
        );
        assert!(
            !d.contains("ferrograd ("),
            "ferrograd's turn was quiet: {d}"
        );
        assert!(loud.markdown().contains(&format!("**{d}.**")));
        let j = loud.to_json();
        assert_eq!(j["workloads"][0]["disturbed"], d.as_str());
        assert_eq!(j["workloads"][0]["results"][1]["cpu_foreign_pct"], 12.0);
        assert_eq!(j["workloads"][0]["results"][1]["cpu_steal_pct"], 3.0);
    }

    /// A sweep as the orchestrator builds it, every setting with every framework (the Rust
    /// workers with their heap allocations per step, as they report them).
    fn full_sweep() -> Sweep {
        let mut points = Vec::new();
        for threads in crate::run::SWEEP_THREADS {
            for batch in crate::run::SWEEP_BATCHES {
                let results = Framework::ALL
                    .into_iter()
                    .map(|f| {
                        let mut r = result(f, 1.0 + batch as f64, 95, 2, 1);
                        r.allocs_per_step = f.is_rust().then_some(0.0);
                        r
                    })
                    .collect();
                let report = WorkloadReport {
                    workload: Workload::W1a,
                    flops: Some(1e6),
                    results,
                };
                points.push(SweepPoint {
                    batch,
                    threads,
                    report,
                });
            }
        }
        Sweep {
            workload: Workload::W1a,
            plan: Plan::quick(),
            points,
        }
    }

    #[test]
    fn a_sweep_as_written_passes_the_check_and_shows_its_allocations() {
        let sweep = full_sweep();
        let j = sweep.to_json();
        let problems = crate::check::check_sweep(&j);
        assert!(problems.is_empty(), "{problems:#?}");
        assert_eq!(j["points"][0]["results"][0]["allocs_per_step"], 0.0);
        let md = sweep.markdown();
        assert!(
            md.contains("| GFLOP/s | allocs/step | max rel diff |"),
            "{md}"
        );
        let row = md
            .lines()
            .find(|l| l.starts_with("| 1 | 1 | ferrograd |"))
            .expect("a row for ferrograd at batch 1 on 1 thread");
        assert_eq!(row.matches('|').count(), 10, "{row}");
        assert!(row.ends_with("| 0.0 | 0.0e0 |"), "{row}");
        // Without the Rust workers' counts the check complains, setting by setting.
        let mut j = j;
        j["points"][0]["results"][0]["allocs_per_step"] = Value::Null;
        let problems = crate::check::check_sweep(&j);
        assert_eq!(
            problems,
            vec!["sweep W1a batch 1 threads 1 ferrograd: no heap allocations per step".to_string()]
        );
    }

    #[test]
    fn the_peak_is_the_higher_of_start_and_end_and_a_drift_is_reported() {
        let mut r = run(0);
        assert_eq!(r.peak_drift(), None);
        assert!(r
            .markdown()
            .contains("100.0 GFLOP/s at the start, - at the end"));
        r.set_peak_end(110.0);
        assert_eq!(r.sgemm_peak(), 110.0);
        assert_eq!(r.peak_drift(), None, "9% is within {PEAK_DRIFT_PCT}%");
        r.set_peak_end(80.0);
        assert_eq!(r.sgemm_peak(), 100.0);
        let d = r.peak_drift().expect("-20%");
        assert!(
            d.ends_with("100.0 GFLOP/s at the start, 80.0 at the end (-20%)"),
            "{d}"
        );
        assert!(r.markdown().contains(&format!("**Note: {d}.**")));
        let j = r.to_json();
        assert_eq!(j["sgemm_peak_end_gflops"], 80.0);
        assert_eq!(j["peak_drift"], d.as_str());
    }

    #[test]
    fn the_repeat_summary_marks_disturbed_runs_and_leaves_them_out_of_its_last_median() {
        // tch at 2x in the quiet runs, 4x in the disturbed one.
        let mut runs = vec![run(0), run(30), run(0)];
        runs[1].workloads[0].results[1].median_ms = Some(4.0);
        let md = repeat_summary(&runs);
        let row = md.lines().find(|l| l.starts_with("| W1a | tch")).unwrap();
        assert_eq!(
            row,
            "| W1a | tch | 1.000 | 2.00x, 4.00x*, 2.00x | 2.00x | 2.00–4.00x | 2.00x |"
        );
        // All disturbed: no undisturbed median.
        let md = repeat_summary(&[run(30)]);
        assert!(
            md.lines()
                .any(|l| l.ends_with("| 2.00x | 2.00–2.00x | - |")),
            "{md}"
        );
    }
}
