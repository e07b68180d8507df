//! Issue 10 regressions through the binary: overwrite protection, resume with the
//! checkpoint's settings, NaN stop / rollback, bounds on sizes and threads, argument ranges
//! identical for both engines, early checkpoint-path checks, and one-line messages. Needs the
//! MNIST files (`scripts/fetch-mnist.sh`).

use std::path::{Path, PathBuf};
use std::process::Command;

use ferrograd_train::{checkpoint, ModelSpec, Network, OptimizerConfig};

const BASE: &[&str] = &[
    "train",
    "--model",
    "mlp",
    "--data",
    "mnist",
    "--train-size",
    "640",
    "--test-size",
    "200",
    "--batch",
    "64",
    "--no-progress",
];

struct Out {
    code: i32,
    stdout: String,
    stderr: String,
}

fn run_raw(args: &[&str]) -> Out {
    let out = Command::new(env!("CARGO_BIN_EXE_ferrograd"))
        .args(args)
        .output()
        .expect("run ferrograd");
    Out {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// `BASE` with `extra` added; a flag in both takes `extra`'s value.
fn run(extra: &[&str]) -> Out {
    let mut a: Vec<&str> = Vec::new();
    let mut i = 0;
    while i < BASE.len() {
        let flag = BASE[i];
        let valued = i + 1 < BASE.len() && !BASE[i + 1].starts_with("--");
        if !extra.contains(&flag) || flag == "train" {
            a.push(flag);
            if valued {
                a.push(BASE[i + 1]);
            }
        }
        i += if valued { 2 } else { 1 };
    }
    a.extend_from_slice(extra);
    run_raw(&a)
}

/// A failed run: the expected exit code and exactly one `error: …` line on stderr.
#[track_caller]
fn fails(o: &Out, code: i32, needle: &str) -> String {
    assert_eq!(o.code, code, "stdout:\n{}\nstderr:\n{}", o.stdout, o.stderr);
    let err = o.stderr.trim();
    assert_eq!(err.lines().count(), 1, "not one line:\n{err}");
    assert!(err.starts_with("error"), "{err}");
    assert!(err.contains(needle), "expected {needle:?} in:\n{err}");
    assert!(!err.contains("panicked"), "{err}");
    err.to_owned()
}

#[track_caller]
fn ok(o: &Out) {
    assert_eq!(o.code, 0, "stdout:\n{}\nstderr:\n{}", o.stdout, o.stderr);
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Defect 1: `--checkpoint` never replaces a file that is not this run's checkpoint without
/// `--overwrite`; a checkpoint records its run.
#[test]
fn checkpoint_does_not_replace_other_files() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("train-data.bin");
    std::fs::write(&data, b"not a checkpoint").unwrap();
    let e = fails(
        &run(&["--epochs", "1", "--checkpoint", s(&data)]),
        2,
        "already exists",
    );
    assert!(e.contains("--overwrite"), "{e}");
    assert_eq!(std::fs::read(&data).unwrap(), b"not a checkpoint");

    // A longer run's checkpoint is not replaced by a new run either.
    let ck = dir.path().join("long.safetensors");
    ok(&run(&["--epochs", "2", "--checkpoint", s(&ck)]));
    let before = std::fs::read(&ck).unwrap();
    let e = fails(
        &run(&["--epochs", "1", "--checkpoint", s(&ck)]),
        2,
        "checkpoint of run",
    );
    assert!(e.contains("--resume"), "{e}");
    assert_eq!(std::fs::read(&ck).unwrap(), before);
    let first = checkpoint::load(&ck).unwrap().run_id;

    // --overwrite: replaced, by a checkpoint of another run.
    ok(&run(&[
        "--epochs",
        "1",
        "--checkpoint",
        s(&ck),
        "--overwrite",
    ]));
    let second = checkpoint::load(&ck).unwrap();
    assert_ne!(second.run_id, first);
    assert_eq!(second.epoch, 1);
}

/// Defect 2: resume takes every training setting from the checkpoint; an explicit different
/// value is an error unless `--override`.
#[test]
fn resume_restores_the_checkpoints_settings() {
    let dir = tempfile::tempdir().unwrap();
    let ck = dir.path().join("ck.safetensors");
    let p = s(&ck);
    ok(&run(&[
        "--epochs",
        "1",
        "--lr",
        "0.05",
        "--momentum",
        "0.5",
        "--checkpoint",
        p,
    ]));
    let saved = OptimizerConfig::sgd(0.05, 0.5);
    assert_eq!(checkpoint::load(&ck).unwrap().optimizer, saved);

    // No --lr / --momentum: the checkpoint's, not the defaults (0.02, 0.9).
    let o = run(&["--epochs", "2", "--checkpoint", p, "--resume"]);
    ok(&o);
    assert!(o.stdout.contains("sgd lr 0.05"), "{}", o.stdout);
    let ck2 = checkpoint::load(&ck).unwrap();
    assert_eq!(ck2.optimizer, saved);
    assert_eq!(ck2.epoch, 2);

    // Without --epochs: the checkpoint's target (2, reached): nothing more to train.
    let o = run(&["--checkpoint", p, "--resume"]);
    ok(&o);
    assert!(!o.stdout.contains("epoch 3/"), "{}", o.stdout);

    let e = fails(
        &run(&[
            "--epochs",
            "3",
            "--lr",
            "0.1",
            "--checkpoint",
            p,
            "--resume",
        ]),
        2,
        "--lr 0.1 differs from the checkpoint's 0.05",
    );
    assert!(e.contains("--override"), "{e}");
    fails(
        &run(&["--batch", "32", "--checkpoint", p, "--resume"]),
        2,
        "a resumed run keeps it",
    );
    assert_eq!(checkpoint::load(&ck).unwrap(), ck2);

    ok(&run(&[
        "--epochs",
        "3",
        "--lr",
        "0.1",
        "--checkpoint",
        p,
        "--resume",
        "--override",
    ]));
    assert_eq!(
        checkpoint::load(&ck).unwrap().optimizer,
        OptimizerConfig::sgd(0.1, 0.5)
    );
}

/// Defect 3: the NaN stop names a checkpoint that holds a finite state and loads; with
/// `--on-nan rollback` the same run finishes.
#[test]
fn nan_stop_names_a_good_checkpoint_and_rollback_finishes() {
    let dir = tempfile::tempdir().unwrap();
    let ck = dir.path().join("ck.safetensors");
    let diverge = [
        "--epochs",
        "2",
        "--lr",
        "1e6",
        "--momentum",
        "0.9",
        "--checkpoint-every",
        "1",
    ];
    let mut a = diverge.to_vec();
    a.extend(["--checkpoint", s(&ck)]);
    let e = fails(&run(&a), 1, "training stopped");
    assert!(e.contains(s(&ck)), "{e}");
    let saved = checkpoint::load(&ck).unwrap();
    let norm2: f32 = saved.params.iter().map(|v| v * v).sum();
    assert!(norm2.is_finite(), "parameter norm² {norm2}");

    // Rollback goes back to the last finite state (here the initial one: no
    // --checkpoint-every) with the learning rate divided by 10, up to five times.
    let ck2 = dir.path().join("rollback.safetensors");
    let mut a = diverge[..6].to_vec();
    a.extend(["--checkpoint", s(&ck2), "--on-nan", "rollback"]);
    let o = run(&a);
    ok(&o);
    assert!(o.stdout.contains("rollback: "), "{}", o.stdout);
    assert!(o.stdout.contains("test accuracy: "), "{}", o.stdout);
    assert!(checkpoint::load(&ck2).unwrap().rollbacks >= 1);
}

/// Defect 4: sizes and thread counts are bounded, with a clear error before allocating.
#[test]
fn sizes_and_threads_are_bounded() {
    fails(
        &run(&["--batch", "100000000"]),
        2,
        "larger than the training set",
    );
    fails(&run(&["--hidden", "100000000"]), 2, "out of range");
    // In range, but more memory than the machine has (≈ 105 GB of parameters alone).
    let huge = ModelSpec::Mlp {
        in_features: 784,
        hidden: 1 << 24,
        classes: 10,
    };
    let need = Network::bytes_needed(huge, 64).unwrap();
    let avail = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|t| {
            let l = t
                .lines()
                .find(|l| l.starts_with("MemAvailable:"))?
                .to_owned();
            l.split_whitespace().nth(1)?.parse::<u64>().ok()
        })
        .map(|kib| kib * 1024);
    if avail.is_some_and(|a| a < need) {
        fails(&run(&["--hidden", "16777216"]), 2, "more than the");
    }
    for engine in ["ferrograd", "libtorch"] {
        fails(
            &run(&["--threads", "100000", "--engine", engine]),
            2,
            "CPUs",
        );
    }
}

/// Defect 5: every argument's range is checked at parse time, with the same error for both
/// engines.
#[test]
fn ranges_are_checked_identically_for_both_engines() {
    let cases: &[(&[&str], &str)] = &[
        (&["--test-size", "0"], "--test-size"),
        (&["--train-size", "0"], "--train-size"),
        (&["--train-size", "70000"], "--train-size 70000"),
        (&["--momentum", "2"], "--momentum"),
        (&["--epochs", "0"], "--epochs"),
        (&["--far", "2"], "--far"),
        (&["--far", "0"], "--far"),
        (&["--lr", "-1"], "-1 is out of range"),
        (&["--lr", "0"], "--lr"),
        (&["--lr", "NaN"], "--lr"),
        (&["--lr", "inf"], "--lr"),
        (&["--batch", "0"], "--batch"),
        (&["--threads", "0"], "--threads"),
        (&["--hidden", "0"], "--hidden"),
        (&["--seed", "-3"], "--seed"),
        (&["--gw-train", "1"], "--gw-train"),
        (&["--snr-min", "-2"], "--snr-min"),
        (&["--snr-min", "30", "--snr-max", "10"], "--snr-min 30"),
    ];
    for (extra, needle) in cases {
        let mut errors = Vec::new();
        for engine in ["ferrograd", "libtorch"] {
            let mut a = extra.to_vec();
            a.extend(["--engine", engine]);
            errors.push(fails(&run(&a), 2, needle));
        }
        assert_eq!(errors[0], errors[1], "{extra:?}");
    }
}

fn mnist_dir() -> PathBuf {
    ferrograd_data::mnist_default_dir().expect("HOME or FERROGRAD_CACHE")
}

/// A copy of the MNIST directory made of symlinks, with `name` replaced by `make(path)`.
fn mnist_with(dir: &Path, name: &str, make: impl FnOnce(&Path)) -> PathBuf {
    let src = mnist_dir();
    let dst = dir.join(name.replace('.', "_"));
    std::fs::create_dir(&dst).unwrap();
    for e in std::fs::read_dir(&src).unwrap() {
        let e = e.unwrap();
        let f = e.file_name();
        let base = f.to_string_lossy();
        if base.trim_end_matches(".gz") == name.trim_end_matches(".gz") {
            continue;
        }
        std::os::unix::fs::symlink(e.path(), dst.join(&f)).unwrap();
    }
    make(&dst.join(name));
    dst
}

/// Defect 7: messages. Negative numbers reach the range check; the LibTorch engine reports a
/// bad learning rate on one line; a directory, a FIFO or `/dev/zero` as a data file and a
/// truncated gzip file are named as such.
#[test]
fn messages_say_what_is_wrong() {
    let e = fails(
        &run(&["--lr", "-1", "--engine", "libtorch"]),
        2,
        "-1 is out of range",
    );
    assert!(!e.contains("unexpected argument"), "{e}");

    let dir = tempfile::tempdir().unwrap();
    let images = "train-images-idx3-ubyte";
    let as_dir = mnist_with(dir.path(), images, |p| std::fs::create_dir(p).unwrap());
    let fifo = mnist_with(dir.path(), "t10k-labels-idx1-ubyte", |p| {
        assert!(Command::new("mkfifo").arg(p).status().unwrap().success());
    });
    let zero = mnist_with(dir.path(), "train-labels-idx1-ubyte", |p| {
        std::os::unix::fs::symlink("/dev/zero", p).unwrap();
    });
    for (d, what) in [
        (&as_dir, "is a directory"),
        (&fifo, "is a FIFO"),
        (&zero, "is a character device"),
    ] {
        fails(&run(&["--mnist-dir", s(d)]), 1, what);
    }
    fails(
        &run(&["--mnist-dir", s(&dir.path().join("nope"))]),
        1,
        "does not exist",
    );

    // A gzip file cut short.
    let labels = "train-labels-idx1-ubyte.gz";
    let src = mnist_dir();
    let cut = mnist_with(dir.path(), labels, |p| {
        let raw = src.join("train-labels-idx1-ubyte");
        let gz = Command::new("gzip").arg("-c").arg(&raw).output().unwrap();
        assert!(gz.status.success());
        std::fs::write(p, &gz.stdout[..gz.stdout.len() / 2]).unwrap();
    });
    fails(&run(&["--mnist-dir", s(&cut)]), 1, "truncated gzip file");
}

/// Defect 6: an unusable checkpoint path fails before training starts, and no temporary file
/// is left behind.
#[test]
fn checkpoint_path_is_checked_before_training() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no-such-dir").join("ck.safetensors");
    let o = run(&["--epochs", "1", "--checkpoint", s(&missing)]);
    assert_ne!(o.code, 0);
    assert!(
        !o.stdout.contains("epoch 1/"),
        "trained first:\n{}",
        o.stdout
    );
    fails(&o, 1, "does not exist");
    let o = run(&[
        "--epochs",
        "1",
        "--checkpoint",
        s(dir.path()),
        "--overwrite",
    ]);
    assert!(
        !o.stdout.contains("epoch 1/"),
        "trained first:\n{}",
        o.stdout
    );
    fails(&o, 1, "is a directory");
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}
