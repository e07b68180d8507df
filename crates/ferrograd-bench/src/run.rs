//! The orchestrator: writes the inputs once, starts one worker process per (workload,
//! framework), checks that every framework's loss and gradient agree before any timing, then
//! times the workloads interleaved — in each round, every framework's process in turn.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use serde_json::Value;

use crate::cpu::{machine_now, CpuShare};
use crate::framework::{Framework, Launch};
use crate::report::{FrameworkResult, Report, Status, Sweep, SweepPoint, WorkloadReport};
use crate::workload::Workload;

/// How much to measure.
#[derive(Clone, Copy, Debug)]
pub struct Plan {
    pub warmup: usize,
    pub rounds: usize,
    pub steps_per_round: usize,
    /// Repetitions of the 1024³ product for the sgemm peak (the fastest counts).
    pub peak_reps: usize,
    /// A framework's warm-up and each of its rounds stop early after this many ms (at least
    /// one step each): `--quick` bounds the run's time on a loaded machine this way.
    pub budget_ms: Option<f64>,
}

impl Plan {
    pub fn full() -> Plan {
        Plan {
            warmup: 20,
            rounds: 5,
            steps_per_round: 40,
            peak_reps: 20,
            budget_ms: None,
        }
    }

    /// The smoke run (`--quick`, what CI runs): 1 s per warm-up and per round (1.5 s before
    /// W4, whose six processes and ~0.1–3 s steps added ~80 s under load; see bench/README.md,
    /// method point 8).
    pub fn quick() -> Plan {
        Plan {
            warmup: 3,
            rounds: 3,
            steps_per_round: 10,
            peak_reps: 8,
            budget_ms: Some(1000.0),
        }
    }

    /// The scaling sweep's, per setting: modest, so that its 8 settings finish in a few
    /// minutes on 2 cores (a 1 s budget per round bounds the slow settings: a step that takes
    /// longer still runs once per round, so W4 at batch 256 times 3 steps per framework).
    pub fn sweep() -> Plan {
        Plan {
            warmup: 10,
            rounds: 3,
            steps_per_round: 30,
            peak_reps: 0,
            budget_ms: Some(1000.0),
        }
    }
}

/// The scaling sweep: W1a's and W4's models ([`Workload::SWEPT`]) at these batch sizes ...
pub const SWEEP_BATCHES: [usize; 4] = [1, 8, 64, 256];
/// ... and these thread counts.
pub const SWEEP_THREADS: [usize; 2] = [1, 2];

/// What a workload runs at: its own batch or another (the sweep), on `threads` threads.
#[derive(Clone, Copy, Debug)]
pub struct Setting {
    pub batch: Option<usize>,
    pub threads: usize,
}

/// The longest a worker may take to answer one command (start-up with torch.compile's first
/// compilation included) before it is killed and reported as failed.
const REPLY_TIMEOUT: Duration = Duration::from_secs(600);

/// How long [`Worker::settle`] waits at most, and how often it samples the process's CPU time
/// (`/proc/<pid>/stat` counts in 10 ms ticks: two equal samples 20 ms apart mean idle).
const SETTLE_MAX_MS: u128 = 1000;
const SETTLE_SAMPLE_MS: u64 = 20;

/// User + system CPU ticks of process `pid` and its threads (`None` off Linux).
fn cpu_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may contain spaces) start after the last ')'.
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of stat, 12 and 13 after the command name.
    Some(f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?)
}

struct Worker {
    framework: Framework,
    child: Child,
    stdin: ChildStdin,
    /// Reply lines, read from the worker's stdout by a thread of their own (so that a hung
    /// worker times out instead of blocking the run).
    lines: Receiver<String>,
    stderr_path: PathBuf,
    status: Status,
    times: Vec<f64>,
    rss_mib: Option<f64>,
    allocs: Option<f64>,
    max_rel_diff: Option<f64>,
    /// Who used the machine's CPUs during this worker's timed commands.
    cpu: CpuShare,
}

impl Worker {
    fn start(
        framework: Framework,
        launch: &Launch,
        workload: Workload,
        data: &Path,
        threads: usize,
    ) -> Result<Worker, String> {
        let mut cmd = framework.command(launch, workload.name(), data)?;
        cmd.env(crate::THREADS_ENV, threads.to_string());
        let stderr_path = data.join(format!("{}.{}.stderr", workload.name(), framework.name()));
        let stderr = std::fs::File::create(&stderr_path).map_err(|e| e.to_string())?;
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .map_err(|e| format!("could not start: {e}"))?;
        let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
            return Err("no pipes to the worker".into());
        };
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            let mut r = BufReader::new(stdout);
            loop {
                let mut line = String::new();
                match r.read_line(&mut line) {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {
                        if tx.send(line).is_err() {
                            break;
                        }
                    }
                }
            }
        });
        Ok(Worker {
            framework,
            child,
            stdin,
            lines,
            stderr_path,
            status: Status::Ok,
            times: Vec::new(),
            rss_mib: None,
            allocs: None,
            max_rel_diff: None,
            cpu: CpuShare::default(),
        })
    }

    /// The next reply line, or why there is none (the worker's last stderr line).
    fn read(&mut self) -> Result<Value, String> {
        match self.lines.recv_timeout(REPLY_TIMEOUT) {
            Err(RecvTimeoutError::Disconnected) => {
                Err(format!("worker exited: {}", self.stderr_tail()))
            }
            Err(RecvTimeoutError::Timeout) => {
                let _ = self.child.kill();
                Err(format!(
                    "no reply within {} s (killed)",
                    REPLY_TIMEOUT.as_secs()
                ))
            }
            Ok(line) => {
                let v: Value = serde_json::from_str(&line)
                    .map_err(|e| format!("bad reply `{}`: {e}", line.trim()))?;
                if let Some(why) = v.get("unavailable").and_then(Value::as_str) {
                    return Err(format!("unavailable: {why}"));
                }
                if let Some(why) = v.get("error").and_then(Value::as_str) {
                    return Err(format!("error: {why}"));
                }
                Ok(v)
            }
        }
    }

    fn ask(&mut self, cmd: &str) -> Result<Value, String> {
        writeln!(self.stdin, "{cmd}")
            .and_then(|()| self.stdin.flush())
            .map_err(|e| format!("worker gone ({e}): {}", self.stderr_tail()))?;
        self.read()
    }

    fn stderr_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.stderr_path).unwrap_or_default();
        let last = text.lines().rev().find(|l| !l.trim().is_empty());
        last.unwrap_or("(no message)").chars().take(300).collect()
    }

    fn fail(&mut self, why: String) {
        if self.status == Status::Ok {
            self.status = Status::Failed(why);
        }
    }

    fn time(&mut self, steps: usize, budget_ms: Option<f64>, keep: bool) {
        if self.status != Status::Ok {
            return;
        }
        let cmd = match budget_ms {
            Some(b) => format!("time {steps} {b}"),
            None => format!("time {steps}"),
        };
        // Only the kept (timed) commands count towards who used the CPUs.
        let before = keep.then(|| (machine_now(), cpu_ticks(self.child.id())));
        let reply = self.ask(&cmd);
        if let Some((Some(m0), Some(w0))) = before {
            if let (Some(m1), Some(w1)) = (machine_now(), cpu_ticks(self.child.id())) {
                self.cpu.add(m0, m1, w1.saturating_sub(w0));
            }
        }
        match reply {
            Ok(v) => {
                if keep {
                    if let Some(t) = v["times_ms"].as_array() {
                        self.times.extend(t.iter().filter_map(Value::as_f64));
                    }
                    self.allocs = v["allocs_per_step"].as_f64().or(self.allocs);
                }
                self.rss_mib = v["rss_mib"].as_f64().or(self.rss_mib);
            }
            Err(e) => self.fail(e),
        }
        self.settle();
    }

    /// Waits (at most [`SETTLE_MAX_MS`]) until this worker's process uses no CPU, so that the
    /// next framework's round does not share the cores with its threads. OpenMP teams spin
    /// after their last parallel region (`GOMP_SPINCOUNT`, set so that LibTorch does not fall
    /// asleep mid-round): without this, a ferrograd round that followed torch.compile's ran
    /// at half speed (W3-grad 0.99 ms against 0.47 ms alone, 2 cores).
    fn settle(&self) {
        let t0 = std::time::Instant::now();
        let mut last = cpu_ticks(self.child.id());
        while t0.elapsed().as_millis() < SETTLE_MAX_MS {
            std::thread::sleep(std::time::Duration::from_millis(SETTLE_SAMPLE_MS));
            let now = cpu_ticks(self.child.id());
            if now == last {
                return;
            }
            last = now;
        }
    }

    fn finish(mut self) -> FrameworkResult {
        let _ = writeln!(self.stdin, "quit");
        let _ = self.stdin.flush();
        let _ = self.child.wait();
        FrameworkResult::new(
            self.framework,
            self.status,
            self.times,
            self.rss_mib,
            self.allocs,
            self.max_rel_diff,
            self.cpu,
        )
    }
}

/// The largest relative difference of `got` from `reference`: every component's difference
/// divided by the larger of its reference magnitude and 1% of the vector's largest magnitude
/// (so components that cancel to nearly zero do not blow up the ratio).
pub fn max_rel_diff(got: &[f64], reference: &[f64]) -> f64 {
    if got.len() != reference.len() {
        return f64::INFINITY;
    }
    let scale = reference.iter().fold(0.0f64, |m, v| m.max(v.abs())) * 1e-2;
    got.iter()
        .zip(reference)
        .map(|(a, b)| {
            let d = (a - b).abs() / b.abs().max(scale).max(f64::MIN_POSITIVE);
            if d.is_nan() {
                f64::INFINITY
            } else {
                d
            }
        })
        .fold(0.0, f64::max)
}

fn read_f64s(path: &Path) -> Result<Vec<f64>> {
    let raw = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    Ok(raw
        .chunks_exact(8)
        .map(|c| {
            let mut b = [0u8; 8];
            b.copy_from_slice(c);
            f64::from_le_bytes(b)
        })
        .collect())
}

/// Runs one workload on every framework: start, agreement check, warm-up, interleaved rounds.
fn run_workload(
    workload: Workload,
    frameworks: &[Framework],
    launch: &Launch,
    data: &Path,
    plan: Plan,
    setting: Setting,
) -> Result<WorkloadReport> {
    let t0 = Instant::now();
    std::fs::create_dir_all(data).with_context(|| format!("creating {}", data.display()))?;
    workload.write_inputs_at(data, setting.batch)?;
    let label = match setting.batch {
        None => workload.name().to_string(),
        Some(b) => format!("{} b{b} t{}", workload.name(), setting.threads),
    };
    let mut workers = Vec::new();
    let mut failed = Vec::new();
    for &f in frameworks {
        match Worker::start(f, launch, workload, data, setting.threads) {
            Ok(w) => workers.push(w),
            Err(why) => failed.push(FrameworkResult::unavailable(f, why)),
        }
    }
    // Workers load (and torch.compile compiles) concurrently; collect the ready lines.
    for w in &mut workers {
        if let Err(e) = w.read() {
            w.fail(e);
        }
    }
    // Agreement, before any timing.
    let mut outputs: Vec<Option<Vec<f64>>> = Vec::new();
    for w in &mut workers {
        let out = match w.ask("check") {
            Ok(v) => match v["out"].as_str().map(|p| read_f64s(Path::new(p))) {
                Some(Ok(o)) => Some(o),
                Some(Err(e)) => {
                    w.fail(format!("{e:#}"));
                    None
                }
                None => {
                    w.fail("check reply without `out`".into());
                    None
                }
            },
            Err(e) => {
                w.fail(e);
                None
            }
        };
        outputs.push(out);
    }
    // The reference is the first framework with an output (ferrograd unless it failed).
    let reference = workers
        .iter()
        .zip(&outputs)
        .find_map(|(w, o)| o.clone().map(|o| (w.framework.name(), o)));
    let tol = workload.tolerance();
    let ref_name = reference.as_ref().map_or("none", |r| r.0);
    let mut line = format!("agreement {label:<8}");
    for (w, out) in workers.iter_mut().zip(&outputs) {
        let (Some(out), Some((_, reference))) = (out, &reference) else {
            line += &format!(" {}: -", w.framework.name());
            continue;
        };
        let d = max_rel_diff(out, reference);
        w.max_rel_diff = Some(d);
        line += &format!(" {}: {d:.1e}", w.framework.name());
        if d > tol {
            line += " DISAGREES";
            w.fail(format!(
                "disagrees: max relative difference {d:.2e} > {tol:.0e} against {ref_name}"
            ));
        }
    }
    println!("{line} (max rel diff to {ref_name}; tolerance {tol:.0e})");
    // Warm-up, then the rounds: every framework in turn.
    for w in &mut workers {
        w.time(plan.warmup, plan.budget_ms, false);
    }
    for _ in 0..plan.rounds {
        for w in &mut workers {
            w.time(plan.steps_per_round, plan.budget_ms, true);
        }
    }
    let mut results: Vec<FrameworkResult> = workers.into_iter().map(Worker::finish).collect();
    results.extend(failed);
    results.sort_by_key(|r| frameworks.iter().position(|f| *f == r.framework));
    eprintln!("{label}: {:.1} s", t0.elapsed().as_secs_f64());
    WorkloadReport::new_at(workload, setting.batch, results)
}

/// The whole suite.
pub fn run(
    workloads: &[Workload],
    frameworks: &[Framework],
    launch: &Launch,
    data: &Path,
    plan: Plan,
    sweep: bool,
) -> Result<Report> {
    let peak =
        ferrograd_train::with_threads(crate::THREADS, || crate::peak::sgemm_peak(plan.peak_reps))??;
    println!(
        "sgemm peak: {peak:.1} GFLOP/s (ferrograd matmul 1024^3, {} threads, fastest of {})",
        crate::THREADS,
        plan.peak_reps
    );
    let own = Setting {
        batch: None,
        threads: crate::THREADS,
    };
    let mut reports = Vec::new();
    for &w in workloads {
        reports.push(run_workload(w, frameworks, launch, data, plan, own)?);
    }
    let mut report = Report::new(plan, peak, reports);
    // Again after the last workload: the machine's speed may have changed under the run.
    let end =
        ferrograd_train::with_threads(crate::THREADS, || crate::peak::sgemm_peak(plan.peak_reps))??;
    println!("sgemm peak at the end: {end:.1} GFLOP/s");
    report.set_peak_end(end);
    if sweep {
        // The swept workloads among the selected ones (W1a and W4 by default).
        for workload in Workload::SWEPT {
            if !workloads.contains(&workload) {
                continue;
            }
            let mut points = Vec::new();
            for threads in SWEEP_THREADS {
                for batch in SWEEP_BATCHES {
                    let setting = Setting {
                        batch: Some(batch),
                        threads,
                    };
                    let dir = data.join(format!("sweep-{}-b{batch}-t{threads}", workload.name()));
                    let r =
                        run_workload(workload, frameworks, launch, &dir, Plan::sweep(), setting)?;
                    points.push(SweepPoint {
                        batch,
                        threads,
                        report: r,
                    });
                }
            }
            report.sweeps.push(Sweep {
                workload,
                plan: Plan::sweep(),
                points,
            });
        }
        report.load_after = Report::load_now();
    }
    Ok(report)
}
