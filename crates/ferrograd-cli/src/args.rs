//! Argument checking shared by every engine: range parsers used at parse time, one-line error
//! output, and the exit codes (2 for a usage error, 1 for a failed run).

use std::fmt::Display;
use std::process::ExitCode;
use std::str::FromStr;

/// An error in the arguments found after parsing (a combination, a value too large for the
/// data or the memory): exit code 2 like clap's own usage errors.
#[derive(Debug)]
pub struct UsageError(pub String);

impl Display for UsageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

/// `Err(UsageError)` with a formatted message.
macro_rules! usage {
    ($($t:tt)*) => {
        return Err(anyhow::Error::new($crate::args::UsageError(format!($($t)*))))
    };
}
pub(crate) use usage;

fn number<T: FromStr>(s: &str, what: &str) -> Result<T, String> {
    s.trim().parse().map_err(|_| format!("{s:?} is not {what}"))
}

/// An integer in `lo..=hi`.
fn int_in(s: &str, lo: i128, hi: i128) -> Result<i128, String> {
    let v: i128 = number(s, "a whole number")?;
    if v < lo || v > hi {
        return Err(format!("{v} is out of range; use {lo} to {hi}"));
    }
    Ok(v)
}

macro_rules! int_parser {
    ($name:ident, $t:ty, $lo:expr, $hi:expr) => {
        pub fn $name(s: &str) -> Result<$t, String> {
            // In range, so the conversion is exact.
            int_in(s, $lo, $hi as i128).map(|v| v as $t)
        }
    };
}

int_parser!(epochs, u64, 1, 100_000);
int_parser!(batch, usize, 1, u32::MAX);
int_parser!(hidden, usize, 1, 1 << 24);
int_parser!(examples, usize, 1, 1 << 24);
int_parser!(gw_examples, usize, 2, 1_000_000);
int_parser!(steps, u64, 1, u64::MAX);
int_parser!(seed, u64, 0, u64::MAX);

int_parser!(max_len, usize, 1, 1 << 20);

/// `--data`: `mnist`, `gw` or `root:FILE:TREE` (the tree by its path in the file; the file
/// name may itself hold `:`, the tree name may not).
pub fn data(s: &str) -> Result<crate::DataKind, String> {
    use crate::DataKind;
    match s {
        "mnist" => return Ok(DataKind::Mnist),
        "gw" => return Ok(DataKind::Gw),
        _ => {}
    }
    let Some(rest) = s.strip_prefix("root:") else {
        return Err(format!(
            "{s:?} is not a data set; use mnist, gw or root:FILE:TREE"
        ));
    };
    match rest.rsplit_once(':') {
        Some((file, tree)) if !file.is_empty() && !tree.is_empty() => Ok(DataKind::Root {
            file: file.into(),
            tree: tree.to_owned(),
        }),
        _ => Err(format!(
            "{s:?} does not name a file and a tree; use root:FILE:TREE, such as root:events.root:events"
        )),
    }
}

/// Fraction of every chunk held out for validation (the test set of a ROOT run), in (0, 1).
pub fn validation_split(s: &str) -> Result<f64, String> {
    float_in(s, 0.0, false, 1.0, false)
}

/// Kernel / LibTorch threads: 1 to the number of CPUs (more only oversubscribes the machine;
/// the kernels' workers spin while a step runs).
pub fn threads(s: &str) -> Result<usize, String> {
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let v = int_in(s, 1, i128::MAX).map_err(|_| {
        format!("{s:?} is not a thread count; use 1 to {cpus} (this machine's CPUs)")
    })?;
    if v > cpus as i128 {
        return Err(format!(
            "{v} threads on a machine with {cpus} CPUs; use 1 to {cpus}"
        ));
    }
    Ok(v as usize)
}

/// A finite float in `lo < x` (or `lo <= x` when `closed`) and `x < hi` (or `x <= hi`).
fn float_in(s: &str, lo: f64, lo_closed: bool, hi: f64, hi_closed: bool) -> Result<f64, String> {
    let v: f64 = number(s, "a number")?;
    let lo_ok = if lo_closed { v >= lo } else { v > lo };
    let hi_ok = if hi_closed { v <= hi } else { v < hi };
    if !v.is_finite() || !lo_ok || !hi_ok {
        return Err(format!(
            "{} is out of range; use a number in {}{lo}, {hi}{}",
            s.trim(),
            if lo_closed { "[" } else { "(" },
            if hi_closed { "]" } else { ")" }
        ));
    }
    Ok(v)
}

/// Learning rate: finite and > 0 (as an `f32`).
pub fn lr(s: &str) -> Result<f32, String> {
    let v: f64 = number(s, "a number")?;
    let f = v as f32;
    if !(f.is_finite() && f > 0.0) {
        return Err(format!(
            "{} is out of range; use a finite number > 0 (such as 0.01)",
            s.trim()
        ));
    }
    Ok(f)
}

/// SGD momentum in [0, 1).
pub fn momentum(s: &str) -> Result<f32, String> {
    float_in(s, 0.0, true, 1.0, false).map(|v| v as f32)
}

/// Signal-to-noise ratio in (0, 1000].
pub fn snr(s: &str) -> Result<f64, String> {
    float_in(s, 0.0, false, 1000.0, true)
}

/// False-alarm probability in (0, 1).
pub fn far(s: &str) -> Result<f64, String> {
    float_in(s, 0.0, false, 1.0, false)
}

/// Prints a clap error on one line (help and version as clap prints them) and returns its
/// exit code.
pub fn clap_exit(e: &clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    match e.kind() {
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => {
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
        ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            eprintln!("error: no command given; use `ferrograd train --model mlp --data mnist` (see `ferrograd --help`)");
            return ExitCode::from(2);
        }
        _ => {}
    }
    let text = e.render().to_string();
    let parts: Vec<&str> = text
        .lines()
        .take_while(|l| !l.starts_with("Usage:") && !l.starts_with("For more information"))
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    eprintln!("{} (see --help)", parts.join(" "));
    ExitCode::from(2)
}

/// The error chain on one line: each cause's first line, repeats dropped.
pub fn one_line(e: &anyhow::Error) -> String {
    let mut out = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        let first = text.lines().next().unwrap_or("").trim();
        if first.is_empty() || out.contains(first) {
            continue;
        }
        if !out.is_empty() {
            out.push_str(": ");
        }
        out.push_str(first);
    }
    out
}

/// Prints a failed command's error on one line; exit code 2 for usage errors, 1 otherwise.
pub fn finish(result: anyhow::Result<()>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", one_line(&e));
            if e.is::<UsageError>() {
                ExitCode::from(2)
            } else {
                ExitCode::FAILURE
            }
        }
    }
}

/// Memory the machine can give this process (`MemAvailable` on Linux), if known.
pub fn available_memory() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib.saturating_mul(1024))
}

/// `bytes` in GiB with one decimal.
pub fn gib(bytes: u64) -> String {
    format!("{:.1} GiB", bytes as f64 / f64::from(1u32 << 30))
}
