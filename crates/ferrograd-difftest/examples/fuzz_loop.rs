//! Unbounded differential testing: generates batches of programs with fresh seeds into a
//! scratch crate, compiles them with `#[ferrograd::differentiable]` and checks every program
//! (reverse vs forward vs dual-number oracle, oracle vs finite differences), batch after batch.
//!
//! ```sh
//! cargo run -p ferrograd-difftest --example fuzz_loop                      # forever
//! cargo run -p ferrograd-difftest --example fuzz_loop -- --batches 5 --programs 200
//! cargo run -p ferrograd-difftest --example fuzz_loop -- --seed 0x1234 --batches 1  # replay
//! cargo run -p ferrograd-difftest --example fuzz_loop -- --seed 0x1234 --program 17 # one program
//! ```
//!
//! Options: `--seed S` (first batch seed, decimal or `0x…`; default from the clock), `--batches
//! K` (0 = forever, the default), `--programs P` per batch (default 200), `--program I` (only
//! program `I` of the seed), `--exclude a,b` (construct names, see `gen::constructs()`), `--dir
//! D` (scratch crate; default `$TMPDIR/ferrograd-fuzz-loop`), `--repo R` (the ferrograd checkout
//! whose compiler is tested; default this one). A program that fails to compile is reported
//! with rustc's errors and left out, and the rest of its batch still runs. Exit status 1 if
//! anything failed.

use ferrograd_difftest::gen::{self, Coverage, Weights};
use ferrograd_difftest::rng::Rng;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

struct Args {
    seed: u64,
    batches: u64,
    programs: usize,
    program: Option<usize>,
    exclude: Vec<&'static str>,
    dir: PathBuf,
    repo: PathBuf,
}

fn parse_u64(s: &str) -> u64 {
    let r = match s.strip_prefix("0x") {
        Some(h) => u64::from_str_radix(h, 16),
        None => s.parse(),
    };
    r.unwrap_or_else(|_| usage(&format!("not a number: {s}")))
}

fn usage(msg: &str) -> ! {
    eprintln!(
        "fuzz_loop: {msg}\nusage: fuzz_loop [--seed S] [--batches K] [--programs P] [--program I] \
         [--exclude a,b] [--dir D] [--repo R]"
    );
    std::process::exit(2)
}

fn args() -> Args {
    let clock = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    let mut a = Args {
        seed: Rng::new(clock).next_u64(),
        batches: 0,
        programs: 200,
        program: None,
        exclude: Vec::new(),
        dir: std::env::temp_dir().join("ferrograd-fuzz-loop"),
        repo: Path::new(env!("CARGO_MANIFEST_DIR")).join("../.."),
    };
    let names = gen::constructs();
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || {
            it.next()
                .unwrap_or_else(|| usage(&format!("{flag} needs a value")))
        };
        match flag.as_str() {
            "--seed" => a.seed = parse_u64(&value()),
            "--batches" => a.batches = parse_u64(&value()),
            "--programs" => a.programs = parse_u64(&value()) as usize,
            "--program" => a.program = Some(parse_u64(&value()) as usize),
            "--exclude" => {
                for n in value().split(',') {
                    let c = names.iter().find(|c| **c == n);
                    a.exclude
                        .push(c.unwrap_or_else(|| usage(&format!("unknown construct {n}"))));
                }
            }
            "--dir" => a.dir = value().into(),
            "--repo" => a.repo = value().into(),
            "-h" | "--help" => usage("help"),
            _ => usage(&format!("unknown option {flag}")),
        }
    }
    a
}

/// Writes the scratch crate's manifest (once).
fn setup(a: &Args) {
    std::fs::create_dir_all(a.dir.join("src")).expect("create the scratch crate");
    let repo = a.repo.canonicalize().expect("--repo exists");
    let manifest = format!(
        "[package]\nname = \"ferrograd-fuzz-loop\"\nversion = \"0.0.0\"\nedition = \"2021\"\npublish = false\n\n\
         [workspace]\n\n[dependencies]\nferrograd = {{ path = {:?} }}\nferrograd-difftest = {{ path = {:?} }}\n",
        repo.join("crates/ferrograd"),
        repo.join("crates/ferrograd-difftest")
    );
    std::fs::write(a.dir.join("Cargo.toml"), manifest).expect("write Cargo.toml");
    if let Ok(lock) = std::fs::read(repo.join("Cargo.lock")) {
        // Same dependency versions as the workspace (works offline).
        let _ = std::fs::write(a.dir.join("Cargo.lock"), lock);
    }
}

/// The program a line of the generated `main.rs` belongs to.
fn program_at(src: &[&str], line: usize) -> Option<String> {
    let name_in = |l: &str| -> Option<String> {
        let rest = l
            .split("program!(")
            .nth(1)
            // `hessian p_hessian, ` first for a program also checked in its Hessian.
            .map(|r| match r.strip_prefix("hessian ") {
                Some(h) => h.split_once(", ").map_or(h, |(_, rest)| rest),
                None => r,
            })
            .and_then(|r| r.split(", ").nth(1))
            .or_else(|| l.trim_start().strip_prefix("pub fn "))?;
        let name: String = rest
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric())
            .collect();
        name.starts_with('p').then_some(name)
    };
    let here = src.get(line.checked_sub(1)?)?;
    if here.contains("program!(") {
        return name_in(here);
    }
    src[..line.min(src.len())]
        .iter()
        .rev()
        .find_map(|l| l.contains("pub fn p").then(|| name_in(l)).flatten())
        .map(|n| n.trim_end_matches("_g").to_string())
}

/// Runs one batch; returns whether everything compiled and agreed.
fn batch(a: &Args, seed: u64) -> bool {
    let w = Weights {
        exclude: a.exclude.clone(),
    };
    let ids: Vec<usize> = match a.program {
        Some(i) => vec![i],
        None => (0..a.programs).collect(),
    };
    let mut cov = Coverage::new();
    let all: Vec<gen::Generated> = ids
        .iter()
        .map(|&i| gen::program(seed, i, &w, &mut cov))
        .collect();
    let mut dropped: BTreeSet<String> = BTreeSet::new();
    let mut ok = true;
    loop {
        let programs: Vec<gen::Generated> = all
            .iter()
            .filter(|p| !dropped.contains(&p.name))
            .cloned()
            .collect();
        if programs.is_empty() {
            return false;
        }
        let mut src = String::from("#![allow(warnings)]\n");
        for (k, chunk) in programs.chunks(50).enumerate() {
            gen::write_module(&mut src, &format!("batch{k}"), chunk);
        }
        src.push_str(&format!(
            "fn main() {{\n    let mut ok = true;\n    for (k, ps) in [{}].into_iter().enumerate() {{\n        \
             if let Err(e) = ferrograd_difftest::check_batch(&format!(\"batch{{k}}\"), {seed:#x}, &ps) {{\n            \
             println!(\"{{e}}\");\n            ok = false;\n        }}\n    }}\n    std::process::exit(i32::from(!ok));\n}}\n",
            (0..programs.len().div_ceil(50))
                .map(|k| format!("batch{k}::programs()"))
                .collect::<Vec<_>>()
                .join(", ")
        ));
        std::fs::write(a.dir.join("src/main.rs"), &src).expect("write main.rs");
        let build = Command::new(env!("CARGO"))
            .args(["build", "--quiet", "--message-format=short"])
            .current_dir(&a.dir)
            .output()
            .expect("run cargo");
        if !build.status.success() {
            let stderr = String::from_utf8_lossy(&build.stderr);
            let lines: Vec<&str> = src.lines().collect();
            let mut bad = BTreeSet::new();
            for l in stderr.lines() {
                let Some(rest) = l.strip_prefix("src/main.rs:") else {
                    continue;
                };
                let line = rest.split(':').next().and_then(|n| n.parse().ok());
                if let Some(name) = line.and_then(|n| program_at(&lines, n)) {
                    bad.insert(name);
                }
            }
            if bad.is_empty() {
                eprintln!("seed {seed:#x}: the batch does not compile:\n{stderr}");
                return false;
            }
            for name in &bad {
                let p = all.iter().find(|p| &p.name == name).expect("generated");
                let errors: Vec<&str> = stderr
                    .lines()
                    .filter(|l| l.starts_with("src/main.rs:"))
                    .filter(|l| {
                        let n = l["src/main.rs:".len()..].split(':').next();
                        n.and_then(|n| n.parse().ok())
                            .and_then(|n| program_at(&lines, n))
                            .as_ref()
                            == Some(name)
                    })
                    .collect();
                println!(
                    "seed {seed:#x}, program {name} ({}) does not compile (replay: --seed {seed:#x} --program {}):\n{}\n{}",
                    p.precision.ty(),
                    &name[1..],
                    errors.join("\n"),
                    p.native()
                );
            }
            ok = false;
            dropped.extend(bad);
            continue;
        }
        let run = Command::new(env!("CARGO"))
            .args(["run", "--quiet"])
            .current_dir(&a.dir)
            .output()
            .expect("run cargo");
        let out = String::from_utf8_lossy(&run.stdout);
        for l in out.lines() {
            println!("{l}");
        }
        if !run.status.success() {
            eprint!("{}", String::from_utf8_lossy(&run.stderr));
        }
        return ok && run.status.success();
    }
}

fn main() {
    let a = args();
    setup(&a);
    let mut seeds = Rng::new(a.seed);
    let mut failed = 0u64;
    let mut b = 0u64;
    while a.batches == 0 || b < a.batches {
        let seed = if b == 0 { a.seed } else { seeds.next_u64() };
        println!(
            "batch {b}: seed {seed:#x} (replay: fuzz_loop --seed {seed:#x} --batches 1 --programs {})",
            a.programs
        );
        if !batch(&a, seed) {
            failed += 1;
        }
        b += 1;
    }
    println!("{b} batches, {failed} with failures");
    std::process::exit(i32::from(failed > 0));
}
