//! `ferrograd train --data root:FILE:TREE --features … --target … [--weight w] [--cut …]`
//! end to end: a seeded signal/background tree written by real ROOT (PyROOT
//! `RDataFrame::Snapshot`; `source scripts/env.sh && scripts/setup-root.sh` provides it),
//! trained for a few epochs to well above chance, with event weights, a cut, checkpoint and
//! resume, and the argument errors (one line, exit 2).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use ferrograd_testkit::SplitMix64;

/// Entries of the generated tree: half signal (`label` 1), half background.
const ENTRIES: u64 = 4000;

/// Signal and background differ in `x` (means ±1) and `y` (±0.8), both with unit width;
/// `noise` carries no information. The best possible accuracy is about 90%, the best AUC
/// about 0.965. `w` is a positive event weight, `negw` one with negative values.
const MAKE_TREE: &str = r#"
import sys, ROOT
ROOT.gRandom.SetSeed(20261204)
df = (ROOT.RDataFrame(int(sys.argv[2]))
      .Define("label", "int(rdfentry_ % 2)")
      .Define("x", "float(gRandom->Gaus(label ? 1.0 : -1.0, 1.0))")
      .Define("y", "gRandom->Gaus(label ? 0.8 : -0.8, 1.0)")
      .Define("noise", "float(gRandom->Uniform(-1.0, 1.0))")
      .Define("w", "float(0.5 + gRandom->Uniform(0.0, 1.0))")
      .Define("negw", "float(gRandom->Uniform(-1.0, 1.0))"))
df.Snapshot("events", sys.argv[1], ["x", "y", "noise", "label", "w", "negw"])
"#;

fn python() -> PathBuf {
    let venv = std::env::var_os("FERROGRAD_TORCH_VENV").unwrap_or_else(|| {
        panic!(
            "FERROGRAD_TORCH_VENV is not set: run `source scripts/env.sh && scripts/setup-root.sh` \
             first (this test writes its tree with real ROOT)"
        )
    });
    Path::new(&venv).join("bin/python")
}

/// The tree, written once per test binary run.
fn tree_file() -> &'static Path {
    static FILE: OnceLock<(tempfile::TempDir, PathBuf)> = OnceLock::new();
    let (_, path) = FILE.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sigbkg.root");
        let out = Command::new(python())
            .args([
                "-c",
                MAKE_TREE,
                path.to_str().unwrap(),
                &ENTRIES.to_string(),
            ])
            .output()
            .expect("start python");
        assert!(
            out.status.success() && path.exists(),
            "PyROOT failed (run scripts/setup-root.sh): {}",
            String::from_utf8_lossy(&out.stderr)
        );
        (dir, path)
    });
    path
}

fn data_arg() -> String {
    format!("root:{}:events", tree_file().display())
}

struct Out {
    code: i32,
    stdout: String,
    stderr: String,
}

fn ferrograd(args: &[&str]) -> Out {
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

/// `ferrograd train --model mlp --data root:<tree> --no-progress` plus `extra`.
fn train(extra: &[&str]) -> Out {
    let data = data_arg();
    let mut a = vec![
        "train",
        "--model",
        "mlp",
        "--data",
        &data,
        "--hidden",
        "16",
        "--no-progress",
    ];
    a.extend_from_slice(extra);
    ferrograd(&a)
}

/// The value of a `name: value` summary line.
fn metric(o: &Out, name: &str) -> f64 {
    let line = o
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{name}: ")))
        .unwrap_or_else(|| panic!("no `{name}:` line in\n{}", o.stdout));
    line.trim_end_matches('%').parse().unwrap()
}

/// A usage error: exit 2, one line on stderr that contains every one of `parts`.
fn assert_usage(o: &Out, parts: &[&str]) {
    let err = o.stderr.trim();
    assert_eq!(o.code, 2, "exit {}: {err}\n{}", o.code, o.stdout);
    assert_eq!(err.lines().count(), 1, "not one line: {err}");
    assert!(err.starts_with("error: "), "{err}");
    for p in parts {
        assert!(err.contains(p), "{err:?} lacks {p:?}");
    }
}

#[test]
fn trains_the_mlp_on_a_tree_well_above_chance() {
    let o = train(&[
        "--features",
        "x,y,noise",
        "--target",
        "label",
        "--epochs",
        "3",
        "--optimizer",
        "adam",
        "--lr",
        "0.01",
    ]);
    assert_eq!(o.code, 0, "{}\n{}", o.stdout, o.stderr);
    // 4000 entries, one chunk, the last 20% held out.
    assert!(
        o.stdout.contains("mlp:3:16:2 on tree `events` of ")
            && o.stdout.contains("(3200 train / 800 test examples)"),
        "{}",
        o.stdout
    );
    let (acc, auc) = (metric(&o, "test accuracy"), metric(&o, "test AUC"));
    println!("test accuracy {acc}%, test AUC {auc}");
    assert!(acc > 80.0, "accuracy {acc}% (chance 50%, best ~90%)");
    assert!(auc > 0.9, "AUC {auc} (chance 0.5, best ~0.965)");
    assert!(o.stdout.contains("median step: "), "{}", o.stdout);
}

#[test]
fn event_weights_enter_the_loss_and_a_cut_selects_entries() {
    let o = train(&[
        "--features",
        "x,y",
        "--target",
        "label",
        "--weight",
        "w",
        "--cut",
        "noise > -0.5",
        "--epochs",
        "2",
        "--optimizer",
        "adam",
        "--lr",
        "0.01",
    ]);
    assert_eq!(o.code, 0, "{}\n{}", o.stdout, o.stderr);
    // `noise` is uniform in (-1, 1): the cut keeps about 3/4 of the entries.
    let header = o.stdout.lines().next().unwrap();
    let n_train: usize = header
        .split('(')
        .nth(1)
        .and_then(|s| s.split(' ').next())
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("{header}"));
    assert!((2100..2700).contains(&n_train), "{header}");
    let weights = o
        .stdout
        .lines()
        .find(|l| l.starts_with("event weights: `w` in the training and test loss"))
        .unwrap_or_else(|| panic!("no weights line in\n{}", o.stdout));
    // Scaled to mean 1 on the training set: the training sum is the training-set size.
    assert!(
        weights.contains(&format!("train sum {n_train}.0")),
        "{weights} ({n_train} training entries)"
    );
    let (acc, auc) = (metric(&o, "test accuracy"), metric(&o, "test AUC"));
    println!("weighted: test accuracy {acc}%, test AUC {auc}");
    assert!(acc > 80.0 && auc > 0.9, "accuracy {acc}%, AUC {auc}");

    // Negative weights cannot enter a cross-entropy: a failed run (exit 1) that says so.
    let o = train(&["--features", "x,y", "--target", "label", "--weight", "negw"]);
    assert_eq!(o.code, 1, "{}\n{}", o.stdout, o.stderr);
    assert!(
        o.stderr.contains("negative or non-finite weight") && o.stderr.trim().lines().count() == 1,
        "{}",
        o.stderr
    );
}

#[test]
fn checkpoint_records_the_data_spec_and_resume_continues() {
    let dir = tempfile::tempdir().unwrap();
    let ck = dir.path().join("ck.safetensors");
    let ck = ck.to_str().unwrap();
    let base = [
        "--features",
        "x,y,noise",
        "--target",
        "label",
        "--weight",
        "w",
        "--cut",
        "y > -3",
        "--checkpoint",
        ck,
    ];
    let mut first = base.to_vec();
    first.extend(["--epochs", "1"]);
    let o = train(&first);
    assert_eq!(o.code, 0, "{}\n{}", o.stdout, o.stderr);
    // Resume: the data spec comes from the checkpoint, so it need not be given again.
    let data = data_arg();
    let o = ferrograd(&[
        "train",
        "--model",
        "mlp",
        "--data",
        &data,
        "--checkpoint",
        ck,
        "--resume",
        "--epochs",
        "2",
        "--no-progress",
    ]);
    assert_eq!(o.code, 0, "{}\n{}", o.stdout, o.stderr);
    assert!(
        o.stdout.contains("resumed from") && o.stdout.contains("epoch 2/2"),
        "{}",
        o.stdout
    );
    assert!(o.stdout.contains("event weights: `w`"), "{}", o.stdout);
    assert!(metric(&o, "test AUC") > 0.9, "{}", o.stdout);
    // A different data spec on resume is refused before any work.
    let mut other = base.to_vec();
    other[1] = "x,y";
    other.push("--resume");
    assert_usage(
        &train(&other),
        &["--features x,y differs from the checkpoint's x,y,noise"],
    );
    let mut other = base.to_vec();
    other[7] = "y > -2";
    other.push("--resume");
    assert_usage(&train(&other), &["--cut y > -2 differs"]);
    // A new run may not replace the checkpoint.
    assert_usage(&train(&base), &["already exists"]);
}

#[test]
fn bad_root_arguments_are_one_line_usage_errors() {
    let data = data_arg();
    let f = tree_file().display().to_string();
    let feats = ["--features", "x,y", "--target", "label"];
    let with = |extra: &[&str]| {
        let mut a = feats.to_vec();
        a.extend_from_slice(extra);
        train(&a)
    };
    // The data spec itself.
    let run = |d: &str, extra: &[&str]| {
        let mut a = vec!["train", "--model", "mlp", "--data", d, "--no-progress"];
        a.extend_from_slice(extra);
        ferrograd(&a)
    };
    assert_usage(&run("root:nothing", &feats), &["root:FILE:TREE"]);
    assert_usage(&run("cifar", &feats), &["mnist, gw or root:FILE:TREE"]);
    assert_usage(
        &run("root:/no/such/file.root:events", &feats),
        &["no file /no/such/file.root"],
    );
    let dir = tempfile::tempdir().unwrap();
    let d = format!("root:{}:events", dir.path().display());
    assert_usage(&run(&d, &feats), &["is a directory, not a ROOT file"]);
    // A missing tree or branch lists what exists.
    let d = format!("root:{f}:nope");
    assert_usage(&run(&d, &feats), &["no tree `nope`", "trees: events"]);
    assert_usage(
        &train(&["--features", "x,pt", "--target", "label"]),
        &["no branch `pt`", "branches: ", "noise", "negw"],
    );
    assert_usage(
        &with(&["--weight", "wt"]),
        &["no branch `wt`", "branches: "],
    );
    assert_usage(&with(&["--cut", "eta > 1"]), &["no branch `eta`"]);
    // --features and --target are required with ROOT data and refused with the others.
    assert_usage(&train(&["--target", "label"]), &["needs --features"]);
    assert_usage(&train(&["--features", "x"]), &["--target BRANCH"]);
    assert_usage(
        &train(&["--features", "x,,y", "--target", "label"]),
        &["empty name"],
    );
    assert_usage(
        &train(&["--features", "x,y,x", "--target", "label"]),
        &["`x` twice"],
    );
    assert_usage(
        &run("mnist", &["--features", "x"]),
        &["--features is for ROOT data"],
    );
    assert_usage(&run("gw", &["--cut", "x > 0"]), &["--cut is for ROOT data"]);
    assert_usage(
        &run("mnist", &["--validation-split", "0.5"]),
        &["--validation-split is for ROOT data"],
    );
    // The model, the cut, the sizes.
    let mut cnn = vec!["train", "--model", "cnn", "--data", &data];
    cnn.extend_from_slice(&feats);
    assert_usage(&ferrograd(&cnn), &["ROOT trees train the MLP"]);
    assert_usage(&with(&["--cut", "x >"]), &["--cut \"x >\""]);
    assert_usage(
        &with(&["--cut", "x > 1000"]),
        &["no training entries", "the tree has 4000"],
    );
    assert_usage(
        &with(&["--batch", "5000"]),
        &["--batch 5000 is larger than the training set (3200"],
    );
    assert_usage(
        &with(&["--train-size", "5000"]),
        &["--train-size 5000 is larger than the 3200"],
    );
    let mut h0 = vec!["--hidden", "0"];
    h0.extend_from_slice(&feats);
    assert_usage(&run(&data, &h0), &["--hidden", "out of range"]);
    assert_usage(&with(&["--validation-split", "1"]), &["out of range"]);
    // A target that is not a class label is a failed run (exit 1), on one line.
    let o = train(&["--features", "x", "--target", "y"]);
    assert_eq!(o.code, 1, "{}\n{}", o.stdout, o.stderr);
    assert!(
        o.stderr.contains("not a class label") && o.stderr.trim().lines().count() == 1,
        "{}",
        o.stderr
    );
}

/// A file of ferrograd-root's corpus of real ROOT files.
fn corpus(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../ferrograd-root/tests/corpus")
        .join(name)
        .display()
        .to_string()
}

#[test]
fn jagged_and_array_features_and_trees_in_directories() {
    // `v` is a std::vector<float>: --max-len 3 pads or cuts it to 3 values, so a row is
    // x, y and three values of v.
    let d = format!("root:{}:events", corpus("snapshot_zlib.root"));
    let o = ferrograd(&[
        "train",
        "--model",
        "mlp",
        "--data",
        &d,
        "--features",
        "x,y,v",
        "--max-len",
        "3",
        "--target",
        "label",
        "--batch",
        "4",
        "--epochs",
        "1",
        "--hidden",
        "8",
        "--no-progress",
    ]);
    assert_eq!(o.code, 0, "{}\n{}", o.stdout, o.stderr);
    assert!(
        o.stdout.starts_with("mlp:5:8:2 on tree `events`"),
        "{}",
        o.stdout
    );
    assert!(o.stdout.contains("test accuracy: "), "{}", o.stdout);
    // A tree in a sub-directory, named by its path: a scalar, a fixed array `arr[4]` and a
    // leaf-count array `jf[nj]` (2 values kept), with a Bool_t label.
    let d = format!("root:{}:bkg/events", corpus("branches_zstd.root"));
    let o = ferrograd(&[
        "train",
        "--model",
        "mlp",
        "--data",
        &d,
        "--features",
        "f,arr,jf",
        "--max-len",
        "2",
        "--target",
        "o",
        "--batch",
        "2",
        "--epochs",
        "1",
        "--hidden",
        "8",
        "--no-progress",
    ]);
    assert_eq!(o.code, 0, "{}\n{}", o.stdout, o.stderr);
    assert!(
        o.stdout.starts_with("mlp:7:8:2 on tree `bkg/events`")
            && o.stdout.contains("(6 train / 2 test examples)"),
        "{}",
        o.stdout
    );
}

#[test]
fn the_libtorch_engine_trains_on_a_tree_too() {
    let o = train(&[
        "--features",
        "x,y,noise",
        "--target",
        "label",
        "--weight",
        "w",
        "--engine",
        "libtorch",
        "--epochs",
        "2",
        "--optimizer",
        "adam",
        "--lr",
        "0.01",
    ]);
    assert_eq!(o.code, 0, "{}\n{}", o.stdout, o.stderr);
    assert!(o.stdout.contains("event weights: `w`"), "{}", o.stdout);
    let (acc, auc) = (metric(&o, "test accuracy"), metric(&o, "test AUC"));
    println!("libtorch, weighted: test accuracy {acc}%, test AUC {auc}");
    assert!(acc > 80.0 && auc > 0.9, "accuracy {acc}%, AUC {auc}");
}

/// Random combinations of the ROOT options, good and bad values, on a corpus file: every
/// command line either trains (and prints the summary) or fails with one line, exit 1 or 2;
/// never a panic.
#[test]
fn random_root_command_lines_run_or_fail_with_one_line() {
    const CASES: usize = 24;
    let file = corpus("snapshot_zlib.root");
    let datas = [
        format!("root:{file}:events"),
        format!("root:{file}:events"),
        format!("root:{file}:events"),
        format!("root:{file}:events"),
        format!("root:{file}:nope"),
        "root:/no/such.root:events".to_owned(),
        format!("root:{file}"),
    ];
    // (flag, good values, bad values)
    let options: &[(&str, &[&str], &[&str])] = &[
        (
            "--features",
            &["x", "x,y", "x,y,v"],
            &["x,,y", "nope", "x,x", ""],
        ),
        ("--target", &["label", "flag"], &["y", "nope", "", "x,y"]),
        ("--weight", &["flag"], &["w", "nope", "v"]),
        (
            "--cut",
            &["x > -100", "flag == 1 || x < 100"],
            &["x >", "y < -100", "v > 0"],
        ),
        (
            "--validation-split",
            &["0.2", "0.5"],
            &["0", "1", "-1", "abc"],
        ),
        ("--max-len", &["1", "4"], &["0", "abc"]),
        ("--batch", &["1", "4"], &["100"]),
        ("--train-size", &["5"], &["1000"]),
        ("--model", &["mlp"], &["cnn"]),
    ];
    let mut rng = SplitMix64::new(0x2026_1204);
    let mut next = move |n: usize| rng.below(n);
    let (mut ran, mut failed) = (0, 0);
    for case in 0..CASES {
        let mut args: Vec<String> = ["train", "--epochs", "1", "--hidden", "4", "--no-progress"]
            .map(String::from)
            .to_vec();
        args.extend(["--data".into(), datas[next(datas.len())].clone()]);
        let mut has_model = false;
        for &(flag, good, bad) in options {
            // Features and target nearly always, the rest now and then; bad values rarely.
            // (--batch always: the default, 64, is more than the corpus tree holds.)
            let p = match flag {
                "--batch" => 20,
                "--features" | "--target" => 19,
                _ => 6,
            };
            if next(20) < p {
                has_model |= flag == "--model";
                let v = if next(12) == 0 {
                    bad[next(bad.len())]
                } else {
                    good[next(good.len())]
                };
                args.extend([flag.into(), v.into()]);
            }
        }
        if !has_model {
            args.extend(["--model".into(), "mlp".into()]);
        }
        let a: Vec<&str> = args.iter().map(String::as_str).collect();
        let o = ferrograd(&a);
        let ctx = format!("case {case}: {args:?}\n{}\n{}", o.stdout, o.stderr);
        assert!(!o.stderr.contains("panicked"), "{ctx}");
        match o.code {
            0 => {
                ran += 1;
                assert!(o.stdout.contains("median step: "), "{ctx}");
            }
            1 | 2 => {
                failed += 1;
                let err = o.stderr.trim();
                assert_eq!(err.lines().count(), 1, "{ctx}");
                assert!(err.starts_with("error: "), "{ctx}");
                println!("{} {err}", o.code);
            }
            _ => panic!("exit {}: {ctx}", o.code),
        }
    }
    println!("{CASES} random ROOT command lines: {ran} trained, {failed} refused");
    assert!(ran > 0 && failed > 0, "{ran} trained, {failed} refused");
}
