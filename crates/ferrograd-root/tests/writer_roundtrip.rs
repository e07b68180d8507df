//! Trees written by `RootWriter` read back identically by our reader, by real ROOT
//! (RDataFrame/TTreeReader) and by uproot, with every compression; and a friend tree of
//! predictions lines up with its source tree in ROOT.

mod common;

use std::path::Path;

use common::run_python;
use ferrograd_root::{
    BranchSpec, Column, ColumnData, Compression, ElemType, PredictionWriter, RootFile, RootWriter,
    TreeWriter,
};
use serde_json::Value;

const N: usize = 5_000;

fn columns(start: usize, n: usize) -> Vec<ColumnData> {
    let r = start..start + n;
    vec![
        ColumnData::Bool(r.clone().map(|i| i % 3 == 0).collect()),
        ColumnData::I8(r.clone().map(|i| (i % 256) as u8 as i8).collect()),
        ColumnData::U8(r.clone().map(|i| (i * 7 % 256) as u8).collect()),
        ColumnData::I16(
            r.clone()
                .map(|i| (i as i64 * 7919 % 65536 - 32768) as i16)
                .collect(),
        ),
        ColumnData::U16(r.clone().map(|i| (i * 31 % 65536) as u16).collect()),
        ColumnData::I32(
            r.clone()
                .map(|i| (i as i64 * 2_654_435_761 % (1 << 32) - (1 << 31)) as i32)
                .collect(),
        ),
        ColumnData::U32(
            r.clone()
                .map(|i| (i as u64 * 2_246_822_519 % (1 << 32)) as u32)
                .collect(),
        ),
        ColumnData::I64(
            r.clone()
                .map(|i| {
                    if i % 5 == 0 {
                        i64::MIN + i as i64
                    } else {
                        (i as i64).wrapping_mul(6_364_136_223_846_793_005)
                    }
                })
                .collect(),
        ),
        ColumnData::U64(r.clone().map(|i| u64::MAX - i as u64 * 3).collect()),
        ColumnData::F32(r.clone().map(|i| i as f32 / 7.0 - 100.0).collect()),
        ColumnData::F64(
            r.clone()
                .map(|i| (i as f64 * 0.001).sin() * 1e10 + 1.0 / (i as f64 + 1.0))
                .collect(),
        ),
        ColumnData::F32(
            r.clone()
                .flat_map(|i| [i as f32, -(i as f32) * 0.5, 0.25])
                .collect(),
        ),
        ColumnData::I32(r.clone().flat_map(|i| [i as i32, -(i as i32)]).collect()),
    ]
}

fn specs() -> Vec<BranchSpec> {
    let mut s: Vec<BranchSpec> = ["o", "b", "ub", "s", "us", "i", "ui", "l", "ul", "f", "d"]
        .iter()
        .zip(ElemType::ALL)
        .map(|(n, t)| BranchSpec::scalar(*n, t))
        .collect();
    s.push(BranchSpec::array("arr", ElemType::F32, 3));
    s.push(BranchSpec::array("pair", ElemType::I32, 2));
    s
}

fn write(path: &Path, alg: Compression) {
    let mut w = RootWriter::create(path, alg, 5).unwrap();
    let mut t = TreeWriter::new("events", "written by ferrograd-root", &specs())
        .unwrap()
        .with_basket_bytes(4000);
    // Three appends of uneven size: baskets fill across appends.
    for (start, n) in [(0, 1700), (1700, 1), (1701, N - 1701)] {
        let cols = columns(start, n);
        let refs: Vec<&ColumnData> = cols.iter().collect();
        t.append(&mut w, &refs).unwrap();
    }
    t.finish(&mut w).unwrap();
    w.close().unwrap();
}

/// Compares one column against a list of JSON values (ROOT's or uproot's).
fn check(name: &str, want: &ColumnData, width: usize, got: &[Value], who: &str) {
    assert_eq!(got.len(), N, "{who} {name}: entries");
    for (i, v) in got.iter().enumerate() {
        let vals: Vec<&Value> = if width == 1 {
            vec![v]
        } else {
            v.as_array().unwrap().iter().collect()
        };
        assert_eq!(vals.len(), width, "{who} {name} entry {i}");
        for (k, x) in vals.into_iter().enumerate() {
            let j = i * width + k;
            let ok = match want {
                ColumnData::Bool(a) => x.as_bool().or(x.as_i64().map(|n| n != 0)) == Some(a[j]),
                ColumnData::U64(a) => x.as_u64() == Some(a[j]),
                ColumnData::I64(a) => x.as_i64() == Some(a[j]),
                ColumnData::F32(a) => x.as_f64() == Some(f64::from(a[j])),
                ColumnData::F64(a) => x.as_f64().map(f64::to_bits) == Some(a[j].to_bits()),
                other => x.as_f64() == other.get_f64(j),
            };
            assert!(ok, "{who} {name} entry {i}: {x} vs {:?}", want.get_f64(j));
        }
    }
}

const ALGS: [(&str, Compression); 5] = [
    ("none", Compression::None),
    ("zlib", Compression::Zlib),
    ("lz4", Compression::Lz4),
    ("zstd", Compression::Zstd),
    ("lzma", Compression::Lzma),
];

#[test]
fn written_trees_read_back_identically_in_ferrograd_root_real_root_and_uproot() {
    let dir = tempfile::tempdir().unwrap();
    let want = columns(0, N);
    let mut py = vec![script("read_with_root_and_uproot.py")];
    for (tag, alg) in ALGS {
        let path = dir.path().join(format!("w_{tag}.root"));
        write(&path, alg);
        // Our reader.
        let f = RootFile::open(&path).unwrap();
        let t = f.tree("events").unwrap();
        assert_eq!(t.entries(), N as u64);
        assert!(t.branch("d").unwrap().basket_count() > 5, "several baskets");
        let mut r = t.reader();
        let mut col = Column::new();
        for (spec, w) in specs().iter().zip(&want) {
            r.read(&spec.name, 0..N as u64, &mut col).unwrap();
            assert_eq!(col.data(), w, "{tag}: {}", spec.name);
            assert_eq!(col.width(), spec.width);
        }
        py.push(path.display().to_string());
        py.push("events".into());
        py.push(
            dir.path()
                .join(format!("w_{tag}.json"))
                .display()
                .to_string(),
        );
    }
    // Real ROOT (RDataFrame over TTreeReader) and uproot, all files in one Python run.
    run_python(&py);
    for (tag, _) in ALGS {
        let json = dir.path().join(format!("w_{tag}.json"));
        let got: Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
        assert_eq!(got["entries"].as_u64(), Some(N as u64));
        for (spec, w) in specs().iter().zip(&want) {
            for who in ["root", "uproot"] {
                let vals = got[who][&spec.name]
                    .as_array()
                    .unwrap_or_else(|| panic!("{who} lacks {}", spec.name));
                check(&spec.name, w, spec.width, vals, &format!("{tag}/{who}"));
            }
        }
    }
}

#[test]
fn a_friend_tree_of_predictions_lines_up_with_its_source_in_root() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("events.root");
    write(&src, Compression::Zstd);
    // Read `f` back in chunks and write predictions (2 outputs per entry) plus a copy of `f`.
    let f = RootFile::open(&src).unwrap();
    let t = f.tree("events").unwrap();
    let preds_path = dir.path().join("preds.root");
    let mut w = RootWriter::create(&preds_path, Compression::Lz4, 1).unwrap();
    let mut p =
        PredictionWriter::new("preds", &[BranchSpec::scalar("f", ElemType::F32)], 2).unwrap();
    let mut r = t.reader();
    let mut col = Column::new();
    for chunk in t.chunks(777) {
        r.read("f", chunk.clone(), &mut col).unwrap();
        let preds: Vec<f32> = chunk.clone().flat_map(|i| [0.25, i as f32]).collect();
        p.append(&mut w, chunk.start, &preds, &[col.data()])
            .unwrap();
    }
    assert!(
        p.append(&mut w, 3, &[0.0, 0.0], &[col.data()]).is_err(),
        "out of order"
    );
    p.finish(&mut w).unwrap();
    w.close().unwrap();
    let json = dir.path().join("friend.json");
    run_python(&[
        script("read_with_root_and_uproot.py"),
        "--friend".into(),
        src.display().to_string(),
        "events".into(),
        preds_path.display().to_string(),
        "preds".into(),
        "f".into(),
        json.display().to_string(),
    ]);
    let got: Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(got["entries"].as_u64(), Some(N as u64));
    assert_eq!(
        got["matching"].as_u64(),
        Some(N as u64),
        "index and copied column line up"
    );
    // prediction[0] = 0.25, prediction[1] = i: ROOT's mean over all values of the array.
    let mean = got["mean_prediction"].as_f64().unwrap();
    let expect = (0.25 * N as f64 + (N * (N - 1) / 2) as f64) / (2 * N) as f64;
    assert!((mean - expect).abs() < 1e-9 * expect, "{mean} vs {expect}");
}

#[test]
fn bad_writer_input_is_an_error_that_names_it() {
    let dir = tempfile::tempdir().unwrap();
    for bad in ["", "a/b", "x[2]", "a:b"] {
        let e = TreeWriter::new("t", "", &[BranchSpec::scalar(bad, ElemType::F32)]);
        assert!(e.is_err(), "branch name {bad:?}");
    }
    let dup = [
        BranchSpec::scalar("x", ElemType::F32),
        BranchSpec::scalar("x", ElemType::F64),
    ];
    assert!(TreeWriter::new("t", "", &dup).is_err());
    let mut w = RootWriter::create(dir.path().join("bad.root"), Compression::Zlib, 1).unwrap();
    let specs = [
        BranchSpec::scalar("x", ElemType::F32),
        BranchSpec::array("a", ElemType::I32, 2),
    ];
    let mut t = TreeWriter::new("t", "", &specs).unwrap();
    let x = ColumnData::F32(vec![1.0, 2.0]);
    let e = t.append(
        &mut w,
        &[
            &ColumnData::F64(vec![1.0, 2.0]),
            &ColumnData::I32(vec![0; 4]),
        ],
    );
    assert!(e
        .unwrap_err()
        .to_string()
        .contains("branch `x` is Float_t but the column holds Double_t"));
    let e = t
        .append(&mut w, &[&x, &ColumnData::I32(vec![0; 3])])
        .unwrap_err();
    assert!(e.to_string().contains("not whole entries of 2"), "{e}");
    let e = t
        .append(&mut w, &[&x, &ColumnData::I32(vec![0; 6])])
        .unwrap_err();
    assert!(e.to_string().contains("has 3 entries"), "{e}");
    assert!(t.append(&mut w, &[&x]).is_err());
    t.append(&mut w, &[&x, &ColumnData::I32(vec![0; 4])])
        .unwrap();
    assert_eq!(t.entries(), 2, "failed appends add nothing");
}

fn script(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/py")
        .join(name)
        .display()
        .to_string()
}
