//! The `ferrograd` binary end to end: kill mid-epoch + resume gives the same final metrics as
//! an uninterrupted run; bad arguments are clear errors. Needs the MNIST files
//! (`scripts/fetch-mnist.sh`).

use std::process::Command;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_ferrograd"))
}

const BASE: &[&str] = &[
    "train",
    "--model",
    "mlp",
    "--data",
    "mnist",
    "--train-size",
    "3000",
    "--test-size",
    "1000",
    "--epochs",
    "2",
    "--batch",
    "64",
    "--no-progress",
];

fn run(extra: &[&str]) -> (i32, String, String) {
    let out = bin()
        .args(BASE)
        .args(extra)
        .output()
        .expect("run ferrograd");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The metric lines that must agree (not the step time).
fn metrics(stdout: &str) -> Vec<String> {
    stdout
        .lines()
        .filter(|l| l.starts_with("test ") || l.starts_with("epoch 2/2"))
        .map(str::to_owned)
        .collect()
}

#[test]
fn killed_and_resumed_run_matches_uninterrupted_run() {
    let (code, straight, err) = run(&[]);
    assert_eq!(code, 0, "{err}");
    assert!(straight.contains("test accuracy: "), "{straight}");
    assert!(straight.contains("median step: "), "{straight}");

    let dir = tempfile::tempdir().unwrap();
    let ck = dir.path().join("run.safetensors");
    let ck = ck.to_str().unwrap();
    // 47 batches per epoch: killed at step 65 (epoch 2, batch 18), last checkpoint at 60.
    let (code, _, err) = run(&[
        "--checkpoint",
        ck,
        "--checkpoint-every",
        "20",
        "--kill-after-steps",
        "65",
    ]);
    assert_eq!(code, 137, "{err}");
    let (code, resumed, err) = run(&["--checkpoint", ck, "--checkpoint-every", "20", "--resume"]);
    assert_eq!(code, 0, "{err}");
    assert!(resumed.contains("resumed from"), "{resumed}");
    assert!(resumed.contains("(step 60)"), "{resumed}");
    let (a, b) = (metrics(&straight), metrics(&resumed));
    assert!(a.len() >= 3, "{straight}");
    assert_eq!(a, b, "uninterrupted:\n{straight}\nresumed:\n{resumed}");
}

#[test]
fn bad_arguments_are_clear_errors() {
    let out = bin()
        .args(["train", "--model", "cnn", "--data", "mnist"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("does not fit"), "{err}");

    let out = bin()
        .args(["train", "--model", "mlp", "--data", "mnist", "--resume"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--checkpoint"));

    let out = bin()
        .args(BASE)
        .args(["--checkpoint", "/nonexistent-dir/x.safetensors", "--resume"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no checkpoint at"));
}
