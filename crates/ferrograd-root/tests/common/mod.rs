//! Test setup shared by the integration tests: real ROOT files written by PyROOT and uproot's
//! reading of them, both made once per build directory and reused.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use ferrograd_root::{Column, ColumnData};
use serde_json::Value;

/// Entries of the generated test trees (the `bkg/events` trees have a third of this).
pub const ENTRIES: u64 = 5000;
pub const ALGS: [&str; 5] = ["none", "zlib", "lz4", "zstd", "lzma"];

/// The Python of the project venv (ROOT, uproot); a clear failure when it is not set up.
pub fn python() -> PathBuf {
    let venv = std::env::var_os("FERROGRAD_TORCH_VENV").unwrap_or_else(|| {
        panic!(
            "FERROGRAD_TORCH_VENV is not set: run `source scripts/env.sh && scripts/setup-root.sh` \
             first (these tests need real ROOT and uproot from the project venv)"
        )
    });
    let py = Path::new(&venv).join("bin/python");
    assert!(
        py.exists(),
        "no python at {} (FERROGRAD_TORCH_VENV)",
        py.display()
    );
    py
}

fn script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/py")
        .join(name)
}

pub fn run_python(args: &[String]) {
    let mut cmd = Command::new(python());
    cmd.args(args);
    let out = cmd.output().expect("start python");
    assert!(
        out.status.success(),
        "{:?} failed: {}\n{}\n(run scripts/setup-root.sh if ROOT or uproot is missing)",
        cmd,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // ROOT reports what it cannot make sense of (a byte count that does not match, an unknown
    // streamer) on stderr and carries on: a file it complains about is not a good file.
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !stderr.contains("Error in <") && !stderr.contains("Warning in <"),
        "{cmd:?}: ROOT complained:\n{stderr}"
    );
}

/// Entries of the large tree (`large/snapshot_zstd.root`, …).
pub const LARGE_ENTRIES: u64 = 1_000_000;

/// Directory with the generated files (small trees of every kind), made once.
pub fn files() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let mut dumps = Vec::new();
        for alg in ALGS {
            dumps.push((format!("branches_{alg}.root"), "events"));
            dumps.push((format!("branches_{alg}.root"), "bkg/events"));
            dumps.push((format!("snapshot_{alg}.root"), "events"));
        }
        make_once(
            &format!("root-files-v2-{ENTRIES}"),
            &[&ENTRIES.to_string(), "2000"],
            &dumps,
        )
    })
}

/// Directory with `snapshot_<alg>.root` of `LARGE_ENTRIES` entries (uproot dump for ZSTD).
pub fn large_files() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dumps = [("snapshot_zstd.root".to_string(), "events")];
        let n = LARGE_ENTRIES.to_string();
        make_once(
            &format!("root-large-v2-{n}"),
            &[&n, "32000", "snapshot-only"],
            &dumps,
        )
    })
}

/// Runs `make_root_files.py` and `dump_uproot.py` into `CARGO_TARGET_TMPDIR/name` unless a
/// previous run finished there (files are renamed into place atomically, so test binaries
/// running at once never see a half-written set).
fn make_once(name: &str, make_args: &[&str], dumps: &[(String, &str)]) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    if dir.join("done").exists() {
        return dir;
    }
    let tmp = dir.with_extension(format!("tmp{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp).unwrap();
    let mut make: Vec<String> = vec![
        script("make_root_files.py").display().to_string(),
        tmp.display().to_string(),
    ];
    make.extend(make_args.iter().map(|s| s.to_string()));
    run_python(&make);
    let mut dump: Vec<String> = vec![script("dump_uproot.py").display().to_string()];
    for (file, tree) in dumps {
        let json = tmp.join(format!("{}.{}.json", file, tree.replace('/', "_")));
        dump.push(tmp.join(file).display().to_string());
        dump.push(tree.to_string());
        dump.push(json.display().to_string());
    }
    run_python(&dump);
    std::fs::write(tmp.join("done"), "").unwrap();
    if std::fs::rename(&tmp, &dir).is_err() {
        // Another test binary finished first; use its files.
        let _ = std::fs::remove_dir_all(&tmp);
    }
    dir
}

/// uproot's reading of `tree` in `file` (as written by `files()`).
pub fn uproot_dump(dir: &Path, file: &str, tree: &str) -> Value {
    let path = dir.join(format!("{}.{}.json", file, tree.replace('/', "_")));
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

/// Asserts that entry `i` of `col` equals uproot's value `want` exactly.
pub fn assert_entry(col: &Column, i: usize, want: &Value, ctx: &str) {
    let range = col.entry(i);
    let scalar = !col.is_jagged() && col.width() == 1;
    let wants: Vec<&Value> = if scalar {
        vec![want]
    } else {
        want.as_array()
            .unwrap_or_else(|| panic!("{ctx} entry {i}: uproot gave {want}, expected a list"))
            .iter()
            .collect()
    };
    assert_eq!(
        range.len(),
        wants.len(),
        "{ctx} entry {i}: length, uproot {want}"
    );
    for (k, w) in range.zip(wants) {
        assert!(
            same(col.data(), k, w),
            "{ctx} entry {i} value {k}: uproot {w}, ours {:?}",
            value_debug(col.data(), k)
        );
    }
}

fn same(d: &ColumnData, k: usize, w: &Value) -> bool {
    match d {
        ColumnData::Bool(v) => w.as_bool() == v.get(k).copied(),
        ColumnData::I8(v) => w.as_i64() == v.get(k).map(|&x| i64::from(x)),
        ColumnData::U8(v) => w.as_i64() == v.get(k).map(|&x| i64::from(x)),
        ColumnData::I16(v) => w.as_i64() == v.get(k).map(|&x| i64::from(x)),
        ColumnData::U16(v) => w.as_i64() == v.get(k).map(|&x| i64::from(x)),
        ColumnData::I32(v) => w.as_i64() == v.get(k).map(|&x| i64::from(x)),
        ColumnData::U32(v) => w.as_i64() == v.get(k).map(|&x| i64::from(x)),
        ColumnData::I64(v) => w.as_i64() == v.get(k).copied(),
        ColumnData::U64(v) => w.as_u64() == v.get(k).copied(),
        ColumnData::F32(v) => w.as_f64() == v.get(k).map(|&x| f64::from(x)),
        ColumnData::F64(v) => w.as_f64().map(f64::to_bits) == v.get(k).map(|x| x.to_bits()),
    }
}

fn value_debug(d: &ColumnData, k: usize) -> String {
    match d {
        ColumnData::U64(v) => format!("{:?}", v.get(k)),
        ColumnData::I64(v) => format!("{:?}", v.get(k)),
        _ => format!("{:?}", d.get_f64(k)),
    }
}
