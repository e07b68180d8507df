//! Property test over the command line: random argument vectors (in range, out of range,
//! malformed, unknown, repeated) never panic, abort or hang; each either runs to its summary
//! or exits 2 (usage) or 1 (failed run) with exactly one `error: …` line on stderr. Seeded, a
//! fixed number of cases; values "in range" are small so that the runs that start are short.
//! Needs the MNIST files (`scripts/fetch-mnist.sh`).

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use ferrograd_train::init::SplitMix64;

const CASES: usize = 48;
/// Far above the slowest legitimate case (a few seconds): only a hang gets there.
const HANG: Duration = Duration::from_secs(180);

struct Gen(SplitMix64);

impl Gen {
    fn below(&mut self, n: usize) -> usize {
        (self.0.next_u64() % n as u64) as usize
    }
    fn chance(&mut self, p: f32) -> bool {
        self.0.uniform(0.0, 1.0) < p
    }
    fn pick<'a>(&mut self, v: &[&'a str]) -> &'a str {
        v[self.below(v.len())]
    }
}

/// Malformed or out-of-range values any flag may receive.
const JUNK: &[&str] = &[
    "",
    "-1",
    "0",
    "1e400",
    "NaN",
    "inf",
    "-inf",
    "abc",
    "18446744073709551616",
    "--",
    "0x10",
    "1.5",
    " 3",
    "💥",
];

/// (flag, values in range). Sizes are small so that a run that starts ends quickly.
const FLAGS: &[(&str, &[&str])] = &[
    ("--epochs", &["1", "2"]),
    ("--batch", &["16", "32", "100"]),
    ("--threads", &["1", "2"]),
    ("--hidden", &["8", "32"]),
    ("--lr", &["0.01", "0.1", "1e6"]),
    ("--momentum", &["0", "0.5", "0.99"]),
    ("--optimizer", &["sgd", "adam"]),
    ("--seed", &["0", "7", "18446744073709551615"]),
    ("--train-size", &["64", "300"]),
    ("--test-size", &["1", "50"]),
    ("--gw-train", &["64", "96"]),
    ("--gw-test", &["16", "32"]),
    ("--snr-min", &["5", "8"]),
    ("--snr-max", &["20", "30"]),
    ("--far", &["0.01", "0.5"]),
    ("--on-nan", &["stop", "rollback"]),
    ("--engine", &["ferrograd", "libtorch"]),
    ("--checkpoint-every", &["1", "5"]),
];

fn argv(g: &mut Gen, dir: &std::path::Path) -> Vec<String> {
    // Groups (a flag and its value) in random order, after the subcommand.
    let mut groups: Vec<Vec<String>> = Vec::new();
    let pair = |f: &str, v: &str| vec![f.to_owned(), v.to_owned()];
    let model = if g.chance(0.1) {
        "rnn"
    } else {
        g.pick(&["mlp", "mlp", "cnn"])
    };
    let data = match (model, g.chance(0.1)) {
        (_, true) => g.pick(&["cifar", "gw", "mnist"]),
        ("cnn", false) => "gw",
        _ => "mnist",
    };
    if !g.chance(0.03) {
        groups.push(pair("--model", model));
    }
    if !g.chance(0.03) {
        groups.push(pair("--data", data));
    }
    // Size defaults a run would otherwise take (60000 MNIST images, 8000 GW examples, 5
    // epochs) are replaced by small ones unless the flag is drawn below.
    let mut sizes = vec![
        ("--train-size", "64"),
        ("--test-size", "64"),
        ("--gw-train", "64"),
        ("--gw-test", "16"),
        ("--epochs", "1"),
    ];
    for &(flag, good) in FLAGS {
        if !g.chance(0.25) {
            continue;
        }
        sizes.retain(|(f, _)| *f != flag);
        let v = if g.chance(0.06) {
            g.pick(JUNK)
        } else {
            g.pick(good)
        };
        if g.chance(0.02) {
            groups.push(vec![flag.into()]); // value missing
        } else {
            groups.push(pair(flag, v));
        }
        if g.chance(0.02) {
            groups.push(pair(flag, v)); // repeated
        }
    }
    for (f, v) in sizes {
        groups.push(pair(f, v));
    }
    if g.chance(0.3) {
        let ck = dir.join(format!("ck{}.safetensors", g.below(4)));
        groups.push(pair("--checkpoint", &ck.to_string_lossy()));
        for f in ["--resume", "--overwrite", "--override"] {
            if g.chance(0.25) {
                groups.push(vec![f.into()]);
            }
        }
    }
    if g.chance(0.05) {
        groups.push(vec![g
            .pick(&["--frobnicate", "extra", "-x", "--lr=0.1", "--help"])
            .into()]);
    }
    if g.chance(0.5) {
        groups.push(vec!["--no-progress".into()]);
    }
    for i in (1..groups.len()).rev() {
        let j = g.below(i + 1);
        groups.swap(i, j);
    }
    let mut a = Vec::new();
    if !g.chance(0.02) {
        a.push("train".to_owned());
    }
    a.extend(groups.into_iter().flatten());
    a
}

#[test]
fn random_command_lines_run_or_fail_with_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let mut g = Gen(SplitMix64::new(2026));
    let (mut ran, mut usage, mut failed) = (0, 0, 0);
    for case in 0..CASES {
        let args = argv(&mut g, dir.path());
        let mut child = Command::new(env!("CARGO_BIN_EXE_ferrograd"))
            .args(&args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let start = Instant::now();
        while child.try_wait().unwrap().is_none() {
            if start.elapsed() > HANG {
                child.kill().ok();
                panic!("case {case} hangs: {args:?}");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let out = child.wait_with_output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        let ctx = format!("case {case}: {args:?}\nstdout:\n{stdout}\nstderr:\n{stderr}");
        assert!(!stderr.contains("panicked"), "panic: {ctx}");
        match out.status.code() {
            Some(0) => {
                ran += 1;
                assert!(
                    stdout.contains("median step: ") || stdout.contains("Usage:"),
                    "exit 0 without a summary: {ctx}"
                );
            }
            Some(code @ (1 | 2)) => {
                if code == 2 {
                    usage += 1;
                } else {
                    failed += 1;
                }
                let err = stderr.trim();
                assert_eq!(err.lines().count(), 1, "not one line: {ctx}");
                assert!(err.starts_with("error"), "{ctx}");
                eprintln!("{code} {err}");
            }
            other => panic!("exit status {other:?} (signal, abort or panic): {ctx}"),
        }
    }
    println!("{CASES} cases: {ran} ran, {usage} usage errors, {failed} failed runs");
    assert!(ran > 0 && usage > 0, "{ran} ran, {usage} usage errors");
}
