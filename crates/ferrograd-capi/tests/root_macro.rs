//! The macros in examples/root under real `root -b -q` (ROOT 6.40 from the project venv,
//! `FERROGRAD_TORCH_VENV`), interpreted and ACLiC-compiled. Both load this crate's cdylib with
//! R__LOAD_LIBRARY and build their inputs with RDataFrame: fit_likelihood.C fits events through
//! the C ABI and with RooFit; train_classifier.C trains an MLP on a selection and writes scores
//! as a friend tree and a PNG; gw_classifier.C simulates strain through the C ABI, trains the
//! W2 CNN on a selection and writes its test-set scores as a friend tree (read back here with
//! uproot) and a PNG. The tests read the printed numbers and check them themselves.

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

fn number_after(stdout: &str, prefix: &str) -> f64 {
    stdout
        .lines()
        .find_map(|l| l.strip_prefix(prefix))
        .unwrap_or_else(|| panic!("no line `{prefix}`"))
        .trim()
        .parse()
        .expect("number")
}

fn check_classifier(work: &Path, stdout: &str) {
    assert!(
        stdout.contains("bad input: status 2: `probs_out` has 1 floats"),
        "bad input not reported as an error"
    );
    let acc = number_after(stdout, "test accuracy:");
    assert!(acc > 0.85, "test accuracy {acc}");
    let line = stdout
        .lines()
        .find(|l| l.starts_with("mean score through the friend tree"))
        .expect("friend-tree line");
    let nums: Vec<f64> = line
        .split(|c: char| c == ',' || c.is_whitespace())
        .filter_map(|w| w.parse().ok())
        .collect();
    assert_eq!(nums.len(), 2, "{line}");
    assert!(nums[0] > 0.7 && nums[1] < 0.3, "{line}");
    let png = std::fs::read(work.join("train_classifier_scores.png")).expect("PNG written");
    assert!(png.starts_with(b"\x89PNG") && png.len() > 1000, "not a PNG");
    assert!(stdout.contains("train_classifier: OK"));
}

#[test]
fn train_classifier_macro_interpreted_and_aclic() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/root/train_classifier.C");
    for arg in ["train_classifier.C", "train_classifier.C+"] {
        let work = tempfile::tempdir().unwrap();
        std::fs::copy(&src, work.path().join("train_classifier.C")).unwrap();
        let stdout = run_macro(work.path(), arg);
        check_classifier(work.path(), &stdout);
    }
}

/// Arguments of gw_classifier.C in the tests: 400 training and 300 test segments of 512
/// samples, 2 epochs, SNR 10–25 (AUC ≈ 0.99 there; the check asks for 0.9).
const GW_ARGS: &str = "(400, 300, 512, 2, 10, 25)";
const GW_TEST_ENTRIES: usize = 300;

/// Reads the friend tree and the test file with uproot, independently of ROOT: entries,
/// score range and the AUC recomputed from the per-entry scores and labels.
fn uproot_gw(work: &Path) -> serde_json::Value {
    let venv = PathBuf::from(std::env::var_os("FERROGRAD_TORCH_VENV").expect("venv"));
    let script = r#"
import json, sys
import numpy as np
import uproot
s = uproot.open(sys.argv[1])["scores"]["score"].array(library="np")
lab = uproot.open(sys.argv[2])["gw"]["label"].array(library="np")
s1, s0 = s[lab == 1], s[lab == 0]
auc = ((s1[:, None] > s0[None, :]).sum() + 0.5 * (s1[:, None] == s0[None, :]).sum()) / (len(s1) * len(s0))
print(json.dumps({"entries": int(len(s)), "test_entries": int(len(lab)), "min": float(s.min()),
                  "max": float(s.max()), "auc": float(auc)}))
"#;
    let out = Command::new(venv.join("bin/python"))
        .args(["-c", script])
        .arg(work.join("gw_scores.root"))
        .arg(work.join("gw_test.root"))
        .output()
        .expect("run python");
    assert!(
        out.status.success(),
        "uproot failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(String::from_utf8_lossy(&out.stdout).trim()).expect("JSON from uproot")
}

fn check_gw(work: &Path, stdout: &str) {
    assert!(
        stdout.contains("bad input: status 2: no tree `nosuchtree` in gw_train.root"),
        "bad input not reported as an error"
    );
    let n = GW_TEST_ENTRIES as f64;
    assert_eq!(number_after(stdout, "predictions:"), n);
    assert_eq!(number_after(stdout, "friend entries:"), n);
    let auc = number_after(stdout, "test AUC:");
    assert!(auc > 0.9, "test AUC {auc}");
    let u = uproot_gw(work);
    println!("uproot: {u}");
    assert_eq!(u["entries"].as_u64(), Some(GW_TEST_ENTRIES as u64));
    assert_eq!(u["test_entries"].as_u64(), Some(GW_TEST_ENTRIES as u64));
    assert!(u["min"].as_f64().unwrap() >= 0.0 && u["max"].as_f64().unwrap() <= 1.0);
    // The macro's AUC (printed to 4 decimals) is the one of the stored scores and labels.
    let uauc = u["auc"].as_f64().unwrap();
    assert!((uauc - auc).abs() < 1e-4, "AUC: macro {auc}, uproot {uauc}");
    let png = std::fs::read(work.join("gw_classifier_scores.png")).expect("PNG written");
    assert!(png.starts_with(b"\x89PNG") && png.len() > 1000, "not a PNG");
    assert!(stdout.contains("gw_classifier: OK"));
}

#[test]
fn gw_classifier_macro_interpreted_and_aclic() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/root/gw_classifier.C");
    for suffix in ["", "+"] {
        let work = tempfile::tempdir().unwrap();
        std::fs::copy(&src, work.path().join("gw_classifier.C")).unwrap();
        let stdout = run_macro(work.path(), &format!("gw_classifier.C{suffix}{GW_ARGS}"));
        check_gw(work.path(), &stdout);
    }
}
