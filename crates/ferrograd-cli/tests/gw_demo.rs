//! `ferrograd gw-demo` end to end at small sizes on an easy SNR range: the summary lines and
//! their numbers, the four PNGs, and the results tree read back by ferrograd-root and by
//! uproot (from the project venv: `source scripts/env.sh && scripts/setup-root.sh`).

use std::path::{Path, PathBuf};
use std::process::Command;

use ferrograd_root::RootFile;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_ferrograd"))
}

fn run(args: &[&str]) -> (i32, String, String) {
    let out = bin()
        .arg("gw-demo")
        .args(args)
        .output()
        .expect("run ferrograd");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn python() -> PathBuf {
    let venv = std::env::var_os("FERROGRAD_TORCH_VENV").unwrap_or_else(|| {
        panic!(
            "FERROGRAD_TORCH_VENV is not set: run `source scripts/env.sh && scripts/setup-root.sh` \
             first (this test reads the results tree with uproot)"
        )
    });
    Path::new(&venv).join("bin/python")
}

/// The value after `prefix` on the line that starts with it.
fn value<'a>(stdout: &'a str, prefix: &str) -> &'a str {
    stdout
        .lines()
        .find_map(|l| l.strip_prefix(prefix))
        .unwrap_or_else(|| panic!("no line `{prefix}…` in:\n{stdout}"))
}

const TEST_ENTRIES: usize = 1000;

#[test]
fn small_demo_reports_sound_numbers_plots_and_a_readable_results_tree() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("demo");
    let out_s = out.to_str().unwrap();
    let test_n = TEST_ENTRIES.to_string();
    let (code, stdout, stderr) = run(&[
        "--out",
        out_s,
        "--train",
        "1600",
        "--test",
        &test_n,
        "--epochs",
        "3",
        "--snr-min",
        "12",
        "--snr-max",
        "25",
        "--threads",
        "1",
        "--seed",
        "3",
        "--no-progress",
    ]);
    assert_eq!(code, 0, "stdout:\n{stdout}\nstderr:\n{stderr}");

    // The last four lines, in this order.
    let last: Vec<&str> = stdout.lines().rev().take(4).collect();
    assert!(last[3].starts_with("test AUC: "), "{stdout}");
    assert!(last[2].starts_with("efficiency at FAP 1e-2: "), "{stdout}");
    assert!(last[1].starts_with("efficiency at FAP 1e-3: "), "{stdout}");
    assert!(last[0].starts_with("plots: "), "{stdout}");

    let auc: f64 = value(&stdout, "test AUC: ").parse().unwrap();
    assert!(auc > 0.9, "AUC {auc} on SNR 12–25:\n{stdout}");
    let pct = |p: &str| -> f64 {
        value(&stdout, p)
            .strip_suffix('%')
            .unwrap_or_else(|| panic!("no % in {p}"))
            .parse()
            .unwrap()
    };
    let (e2, e3) = (
        pct("efficiency at FAP 1e-2: "),
        pct("efficiency at FAP 1e-3: "),
    );
    assert!((0.0..=100.0).contains(&e2) && (0.0..=100.0).contains(&e3));
    assert!(e2 >= e3, "{e2} < {e3}");
    // A classifier with AUC > 0.9 finds loud signals at 1% false alarms.
    assert!(e2 > 30.0, "{e2}%:\n{stdout}");

    // Plots: four PNGs of the advertised size.
    let plots = PathBuf::from(value(&stdout, "plots: "));
    assert_eq!(plots, out.join("plots"));
    for name in ["roc.png", "loss.png", "efficiency_snr.png", "strain.png"] {
        let file = std::fs::File::open(plots.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
        let mut reader = png::Decoder::new(std::io::BufReader::new(file))
            .read_info()
            .unwrap_or_else(|e| panic!("{name} is not a PNG: {e}"));
        let info = reader.info();
        assert_eq!(
            (info.width, info.height),
            ferrograd_gw::plots::PLOT_SIZE,
            "{name}"
        );
        let mut buf = vec![0; reader.output_buffer_size()];
        let frame = reader.next_frame(&mut buf).unwrap();
        let pixels = &buf[..frame.buffer_size()];
        // Not a blank canvas: something other than white was drawn.
        assert!(pixels.iter().any(|&b| b < 200), "{name} is blank");
    }

    // The results tree, with ferrograd-root: one entry per test entry, in its order.
    let results = out.join("gw_results.root");
    let file = RootFile::open(&results).unwrap();
    let tree = file.tree("results").unwrap();
    assert_eq!(tree.entries(), TEST_ENTRIES as u64);
    let mut r = tree.reader();
    let col = |r: &mut ferrograd_root::TreeReader<'_>, name: &str| -> Vec<f64> {
        let c = r.read_all(name).unwrap();
        (0..c.data().len())
            .map(|i| c.data().get_f64(i).unwrap())
            .collect()
    };
    let score = col(&mut r, "score");
    let index = col(&mut r, "index");
    let label = col(&mut r, "label");
    assert!(score.iter().all(|s| (0.0..=1.0).contains(s)));
    assert!(index.iter().enumerate().all(|(i, &v)| v == i as f64));
    let test_file = RootFile::open(out.join("gw_test.root")).unwrap();
    let test_tree = test_file.tree("gw").unwrap();
    let mut tr = test_tree.reader();
    assert_eq!(label, col(&mut tr, "label"), "labels out of entry order");
    assert_eq!(
        label.iter().filter(|&&l| l == 1.0).count(),
        TEST_ENTRIES / 2
    );

    // And with uproot.
    let script = r#"
import sys, uproot
t = uproot.open(sys.argv[1])["results"]
a = t.arrays(["index", "score", "label", "snr"], library="np")
print(t.num_entries, float(a["score"].min()), float(a["score"].max()), int(a["label"].sum()),
      int((a["snr"][a["label"] == 1] > 0).all()), float(a["score"].sum()))
"#;
    let py = Command::new(python())
        .args(["-c", script, results.to_str().unwrap()])
        .output()
        .expect("start python");
    assert!(
        py.status.success(),
        "uproot failed: {}",
        String::from_utf8_lossy(&py.stderr)
    );
    let text = String::from_utf8_lossy(&py.stdout);
    let f: Vec<f64> = text
        .split_whitespace()
        .map(|v| v.parse().unwrap())
        .collect();
    assert_eq!(f[0], TEST_ENTRIES as f64, "{text}");
    assert!(f[1] >= 0.0 && f[2] <= 1.0, "{text}");
    assert_eq!(f[3], (TEST_ENTRIES / 2) as f64, "{text}");
    assert_eq!(f[4], 1.0, "a signal without SNR: {text}");
    let ours: f64 = score.iter().sum();
    assert!(
        (f[5] - ours).abs() < 1e-3 * ours.max(1.0),
        "{text} vs {ours}"
    );
}

#[test]
fn bad_arguments_are_one_line_errors_with_exit_code_2() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("never");
    let out_s = out.to_str().unwrap();
    for (args, says) in [
        (vec!["--train", "1"], "--train"),
        (vec!["--test", "-5"], "--test"),
        (vec!["--epochs", "0"], "--epochs"),
        (vec!["--threads", "0"], "--threads"),
        (vec!["--snr-min", "0"], "--snr-min"),
        (vec!["--snr-min", "30", "--snr-max", "10"], "--snr-min"),
        (vec!["--batch", "500", "--train", "100"], "--batch"),
        (vec!["--lr", "nan"], "--lr"),
        (vec!["--compression", "gzip"], "--compression"),
        (vec!["--snr-bins", "0"], "--snr-bins"),
        (vec!["--bogus"], "--bogus"),
    ] {
        let mut full = vec!["--out", out_s, "--no-progress"];
        full.extend(&args);
        let (code, stdout, stderr) = run(&full);
        assert_eq!(code, 2, "{args:?}: {stdout}{stderr}");
        assert_eq!(stderr.lines().count(), 1, "{args:?}: {stderr}");
        assert!(
            stderr.starts_with("error:") && stderr.contains(says),
            "{args:?}: {stderr}"
        );
        assert!(!out.exists(), "{args:?} started work");
    }
}
