//! examples/root/fit_likelihood.C under real `root -b -q` (ROOT 6.40 from the project venv,
//! `FERROGRAD_TORCH_VENV`), interpreted and ACLiC-compiled: the macro loads this crate's
//! cdylib with R__LOAD_LIBRARY, makes events with RDataFrame, fits them through the C ABI and
//! with RooFit. The test reads the printed numbers and checks them itself.

use std::path::{Path, PathBuf};
use std::process::Command;

fn root_exe() -> PathBuf {
    let venv = std::env::var_os("FERROGRAD_TORCH_VENV").expect(
        "FERROGRAD_TORCH_VENV is not set: run `source scripts/env.sh` (and scripts/setup-root.sh) first",
    );
    let root = PathBuf::from(venv).join("bin/root");
    assert!(
        root.exists(),
        "no root at {} (run scripts/setup-root.sh)",
        root.display()
    );
    root
}

/// The directory holding this run's libferrograd_capi.so (next to the test binary).
fn lib_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    let deps = exe.parent().expect("deps dir").to_path_buf();
    assert!(deps.join("libferrograd_capi.so").exists());
    deps
}

fn run_macro(work: &Path, arg: &str) -> String {
    let crate_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = Command::new(root_exe())
        .args(["-l", "-b", "-q", arg])
        .current_dir(work)
        .env("LD_LIBRARY_PATH", lib_dir())
        .env("ROOT_INCLUDE_PATH", crate_dir.join("include"))
        .output()
        .expect("run root");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    println!("{stdout}");
    assert!(
        out.status.success(),
        "root {arg} failed: {}\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// `param NAME ferrograd V E roofit V E reldiff DV DE` lines, checked.
fn check(stdout: &str) {
    assert!(
        stdout.contains("bad input: status 2: parameter `sigma` = NaN is invalid"),
        "bad input not reported as an error"
    );
    let params: Vec<Vec<&str>> = stdout
        .lines()
        .filter(|l| l.starts_with("param "))
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(params.len(), 4, "four param lines");
    for p in &params {
        let num = |i: usize| p[i].parse::<f64>().expect("number");
        let (fv, fe, rv, re) = (num(3), num(4), num(6), num(7));
        let dv = (fv - rv).abs() / rv.abs();
        let de = (fe - re).abs() / re;
        assert!(dv <= 1e-4, "{}: values {fv} vs {rv} ({dv:.2e})", p[1]);
        assert!(de <= 1e-2, "{}: errors {fe} vs {re} ({de:.2e})", p[1]);
    }
    assert!(stdout.contains("fit_likelihood: OK"));
}

#[test]
fn fit_likelihood_macro_interpreted_and_aclic() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/root/fit_likelihood.C");
    // ACLiC writes its library next to the macro: work on a copy, never in the checkout.
    let work = tempfile::tempdir().unwrap();
    std::fs::copy(&src, work.path().join("fit_likelihood.C")).unwrap();
    check(&run_macro(work.path(), "fit_likelihood.C(20000)"));
    check(&run_macro(work.path(), "fit_likelihood.C+(20000)"));
}
