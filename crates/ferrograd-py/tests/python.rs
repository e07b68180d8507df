//! Runs the Python tests of the `ferrograd` module (`tests/test_*.py`, plain `unittest`)
//! with the project venv's interpreter, against the module that `scripts/setup-python.sh`
//! built and installed there. A module older than its sources is a failure (run that script),
//! so these tests never pass on a stale build.

use std::path::{Path, PathBuf};
use std::process::Command;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The venv: `FERROGRAD_TORCH_VENV` (set by scripts/env.sh) or what setup-torch.sh prints.
fn venv() -> PathBuf {
    if let Some(v) = std::env::var_os("FERROGRAD_TORCH_VENV") {
        return PathBuf::from(v);
    }
    let out = Command::new(repo().join("scripts/setup-torch.sh"))
        .output()
        .expect("run scripts/setup-torch.sh");
    assert!(out.status.success(), "scripts/setup-torch.sh failed");
    let text = String::from_utf8(out.stdout).expect("UTF-8 venv path");
    PathBuf::from(text.lines().last().expect("a venv path").trim())
}

fn run_python_tests(module: &str) {
    let venv = venv();
    let check = Command::new(repo().join("scripts/setup-python.sh"))
        .arg("--check")
        .env("FERROGRAD_TORCH_VENV", &venv)
        .output()
        .expect("run scripts/setup-python.sh --check");
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stderr)
    );
    let tests = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests");
    let out = Command::new(venv.join("bin/python"))
        .args(["-m", "unittest", "-v", module])
        .current_dir(&tests)
        .output()
        .expect("run the venv's python");
    let log = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    println!("{log}");
    assert!(
        out.status.success(),
        "python -m unittest {module} failed:\n{log}"
    );
    // unittest exits 0 when it found nothing to run: make sure the tests ran.
    let ran = log.lines().find_map(|l| {
        l.strip_prefix("Ran ")?
            .split(' ')
            .next()?
            .parse::<u32>()
            .ok()
    });
    assert!(ran.is_some_and(|n| n > 0), "no tests ran:\n{log}");
}

#[test]
fn model_api() {
    run_python_tests("test_model");
}

#[test]
fn rdataframe_and_example() {
    run_python_tests("test_rdf");
}
