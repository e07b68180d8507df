//! `export::ls` and `export::dump` (what `ferrograd root ls|dump` print) on the corpus: every
//! dumped number parses back to the value uproot reads.

use std::path::{Path, PathBuf};

use ferrograd_root::export::{dump, ls, Format};
use ferrograd_root::{Error, RootFile};
use serde_json::Value;

fn corpus(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/corpus")
        .join(name)
}

fn same(ours: &Value, uproot: &Value) -> bool {
    match (ours, uproot) {
        (Value::Array(a), Value::Array(b)) => {
            a.len() == b.len() && a.iter().zip(b).all(|(x, y)| same(x, y))
        }
        (Value::Number(a), Value::Number(b)) if a.is_f64() || b.is_f64() => {
            // f32 values print in their own shortest form; uproot widens them to f64.
            let (x, y) = (a.as_f64().unwrap(), b.as_f64().unwrap());
            x == y || (x as f32 == y as f32 && y == f64::from(y as f32))
        }
        _ => ours == uproot,
    }
}

#[test]
fn jsonl_dump_matches_uproot_value_for_value() {
    for (file, tree) in [
        ("branches_lz4", "events"),
        ("branches_zstd", "bkg/events"),
        ("snapshot_lzma", "events"),
    ] {
        let f = RootFile::open(corpus(&format!("{file}.root"))).unwrap();
        let t = f.tree(tree).unwrap();
        let mut out = Vec::new();
        dump(&t, &[], None, Format::Jsonl, &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        let want: Value = serde_json::from_str(
            &std::fs::read_to_string(corpus(&format!("{file}.{}.json", tree.replace('/', "_"))))
                .unwrap(),
        )
        .unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len() as u64, t.entries());
        for (i, line) in lines.iter().enumerate() {
            let obj: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{line}: {e}"));
            for (name, b) in want["branches"].as_object().unwrap() {
                let theirs = &b["values"][i];
                assert!(
                    same(&obj[name], theirs),
                    "{file}:{tree} entry {i} {name}: ours {} uproot {theirs}",
                    obj[name]
                );
            }
        }
    }
}

#[test]
fn dump_selects_branches_and_entries_in_both_formats() {
    let f = RootFile::open(corpus("snapshot_zlib.root")).unwrap();
    let t = f.tree("events").unwrap();
    let mut out = Vec::new();
    let sel = ["x".to_string(), "v".to_string(), "flag".to_string()];
    dump(&t, &sel, Some(3..5), Format::Jsonl, &mut out).unwrap();
    assert_eq!(
        String::from_utf8(out).unwrap(),
        "{\"x\": -1.5, \"v\": [0.375, 0.375, 0.375], \"flag\": false}\n\
         {\"x\": -1.0, \"v\": [0.5, 0.5, 0.5, 0.5], \"flag\": false}\n"
    );
    let mut out = Vec::new();
    dump(&t, &sel, Some(0..2), Format::Csv, &mut out).unwrap();
    assert_eq!(
        String::from_utf8(out).unwrap(),
        "x,v,flag\n-3.0,[],false\n-2.5,[0.125],true\n"
    );
    let err = dump(&t, &["nope".into()], None, Format::Csv, &mut Vec::new()).unwrap_err();
    assert!(matches!(err, Error::MissingBranch { .. }), "{err}");
    let err = dump(&t, &sel, Some(5..100), Format::Csv, &mut Vec::new()).unwrap_err();
    assert!(matches!(err, Error::EntryRange { .. }), "{err}");
}

#[test]
fn dump_of_an_unsupported_branch_names_it_and_the_readable_ones() {
    let f = RootFile::open(corpus("unsupported.root")).unwrap();
    let t = f.tree("events").unwrap();
    let err = dump(&t, &[], None, Format::Jsonl, &mut Vec::new())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("`pair`") && err.contains("--branches (x)"),
        "{err}"
    );
}

#[test]
fn ls_lists_every_tree_with_entries_and_branch_types() {
    let f = RootFile::open(corpus("branches_zstd.root")).unwrap();
    let mut out = Vec::new();
    ls(&f, &mut out).unwrap();
    let text = String::from_utf8(out).unwrap();
    assert!(
        text.starts_with("events: 24 entries\n  o     Bool_t\n"),
        "{text}"
    );
    assert!(text.contains("\nbkg/events: 8 entries\n"), "{text}");
    assert!(text.contains("\n  jf    Float_t[nj]\n"), "{text}");
    assert!(
        text.contains("\n  vus   std::vector<unsigned short>\n"),
        "{text}"
    );
    let f = RootFile::open(corpus("unsupported.root")).unwrap();
    let mut out = Vec::new();
    ls(&f, &mut out).unwrap();
    let text = String::from_utf8(out).unwrap();
    assert!(text.contains("  text    TLeafC (unsupported)\n"), "{text}");
}
