//! End-to-end: `ferrograd root ls|dump` on the real ROOT files of ferrograd-root's corpus.

use std::path::PathBuf;
use std::process::{Command, Output};

fn corpus(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../ferrograd-root/tests/corpus")
        .join(name)
}

fn ferrograd(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ferrograd"))
        .args(args)
        .output()
        .expect("run ferrograd")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn root_ls_prints_every_tree_with_entries_and_branch_types() {
    let f = corpus("branches_zstd.root");
    let o = ferrograd(&["root", "ls", f.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = stdout(&o);
    assert!(
        text.starts_with("events: 24 entries\n  o     Bool_t\n"),
        "{text}"
    );
    for line in [
        "  arr   Float_t[4]",
        "  jf    Float_t[nj]",
        "  ul    ULong64_t",
        "  vd    std::vector<double>",
        "bkg/events: 8 entries",
    ] {
        assert!(
            text.lines().any(|l| l == line),
            "missing {line:?} in\n{text}"
        );
    }
}

#[test]
fn root_dump_prints_selected_entries_as_jsonl_and_csv() {
    let f = corpus("snapshot_zlib.root");
    let f = f.to_str().unwrap();
    let o = ferrograd(&[
        "root",
        "dump",
        f,
        "events",
        "--branches",
        "x,v,label",
        "--entries",
        "3..5",
        "--format",
        "jsonl",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        stdout(&o),
        "{\"x\": -1.5, \"v\": [0.375, 0.375, 0.375], \"label\": 1}\n\
         {\"x\": -1.0, \"v\": [0.5, 0.5, 0.5, 0.5], \"label\": 0}\n"
    );
    let o = ferrograd(&[
        "root",
        "dump",
        f,
        "events",
        "--branches",
        "y,n",
        "--entries",
        "..2",
        "--format",
        "csv",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout(&o), "y,n\n1.0,0\n0.5403023058681398,3\n");
    // Every entry of every branch by default.
    let o = ferrograd(&["root", "dump", f, "events", "--format", "jsonl"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout(&o).lines().count(), 24);
}

#[test]
fn root_errors_say_what_exists_and_use_the_exit_codes() {
    let f = corpus("branches_zstd.root");
    let f = f.to_str().unwrap();
    let o = ferrograd(&["root", "dump", f, "sig/events", "--format", "jsonl"]);
    assert_eq!(o.status.code(), Some(1));
    let e = stderr(&o);
    assert!(
        e.contains("no tree `sig/events`") && e.contains("trees: events, bkg/events"),
        "{e}"
    );
    let o = ferrograd(&[
        "root",
        "dump",
        f,
        "events",
        "--branches",
        "pt",
        "--format",
        "jsonl",
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("no branch `pt` in tree `events`; branches: o, b, ub"),
        "{}",
        stderr(&o)
    );
    let o = ferrograd(&[
        "root",
        "dump",
        f,
        "events",
        "--entries",
        "5..2",
        "--format",
        "jsonl",
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let o = ferrograd(&[
        "root",
        "dump",
        f,
        "events",
        "--entries",
        "0..99",
        "--format",
        "jsonl",
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("outside tree `events`, which has 24 entries"),
        "{}",
        stderr(&o)
    );
    let o = ferrograd(&["root", "ls", "/nonexistent.root"]);
    assert_eq!(o.status.code(), Some(1));
    let u = corpus("unsupported.root");
    let o = ferrograd(&[
        "root",
        "dump",
        u.to_str().unwrap(),
        "events",
        "--format",
        "csv",
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("branch `pair`"), "{}", stderr(&o));
}
