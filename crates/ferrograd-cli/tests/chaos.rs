//! Chaos test: a run with a checkpoint at every step is killed with SIGKILL at random moments
//! (during training, while writing checkpoints, while loading data or resuming) and resumed
//! each time; its final state and metrics must be bit-identical to an uninterrupted run's.
//! Needs the MNIST files (`scripts/fetch-mnist.sh`).

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

use ferrograd_train::checkpoint;
use ferrograd_train::init::SplitMix64;

const ARGS: &[&str] = &[
    "train",
    "--model",
    "mlp",
    "--data",
    "mnist",
    "--train-size",
    "1280",
    "--test-size",
    "500",
    "--epochs",
    "3",
    "--batch",
    "64",
    "--threads",
    "1",
    "--checkpoint-every",
    "1",
    "--no-progress",
];

fn command(ck: &Path, resume: bool) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_ferrograd"));
    c.args(ARGS).arg("--checkpoint").arg(ck);
    if resume {
        c.arg("--resume");
    }
    c.stdout(Stdio::piped()).stderr(Stdio::piped());
    c
}

/// The lines that must agree: the final metrics (not the step time).
fn metrics(stdout: &str) -> Vec<String> {
    stdout
        .lines()
        .filter(|l| l.starts_with("test "))
        .map(str::to_owned)
        .collect()
}

#[test]
fn random_kills_and_resumes_give_the_uninterrupted_result() {
    let dir = tempfile::tempdir().unwrap();

    // The uninterrupted run, timed to scale the kill moments.
    let straight_ck = dir.path().join("straight.safetensors");
    let t0 = Instant::now();
    let out = command(&straight_ck, false).output().unwrap();
    let full = t0.elapsed();
    let straight = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{straight}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let want = metrics(&straight);
    assert_eq!(want.len(), 2, "{straight}");

    let ck = dir.path().join("chaos.safetensors");
    let mut rng = SplitMix64::new(10);
    let (mut kills, mut kills_in_resume, mut launches) = (0, 0, 0);
    let last = loop {
        launches += 1;
        assert!(launches <= 200, "{kills} kills in {launches} launches");
        let resume = ck.exists();
        let mut child = command(&ck, resume).spawn().unwrap();
        if kills < 12 {
            // A random moment of a whole run (most of which is skipped once resumed); every
            // third kill early, while the data loads and the checkpoint is read back.
            let frac = rng.uniform(0.0, 1.0);
            let frac = if kills % 3 == 0 { frac * 0.15 } else { frac };
            std::thread::sleep(full.mul_f32(frac));
            if child.try_wait().unwrap().is_none() {
                child.kill().unwrap();
                let status = child.wait().unwrap();
                if status.success() {
                    // It finished between `try_wait` and `kill` (the signal reached a
                    // zombie): a completed run, not a kill. The next launch resumes it.
                    continue;
                }
                kills += 1;
                kills_in_resume += usize::from(resume);
                continue;
            }
        }
        let out = child.wait_with_output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success(),
            "launch {launches}: {stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        if kills >= 12 {
            break stdout;
        }
    };
    println!("{kills} kills ({kills_in_resume} of resumed runs) in {launches} launches");
    assert!(kills >= 10 && kills_in_resume >= 3);
    assert_eq!(
        metrics(&last),
        want,
        "uninterrupted:\n{straight}\nlast:\n{last}"
    );

    // The final states are bit-identical (the run ids differ).
    let a = checkpoint::load(&straight_ck).unwrap();
    let b = checkpoint::load(&ck).unwrap();
    assert_eq!(a.params, b.params);
    assert_eq!((&a.state1, &a.state2), (&b.state1, &b.state2));
    assert_eq!(
        (a.step, a.epoch, a.opt_steps, a.accum),
        (b.step, b.epoch, b.opt_steps, b.accum)
    );
    assert_eq!(a.run_args, b.run_args);
    // Killed writes left only their own temporary files, never a damaged checkpoint.
    for e in std::fs::read_dir(dir.path()).unwrap() {
        let name = e.unwrap().file_name().to_string_lossy().into_owned();
        assert!(
            name.ends_with(".safetensors") || name.ends_with(".tmp"),
            "{name}"
        );
    }
}
