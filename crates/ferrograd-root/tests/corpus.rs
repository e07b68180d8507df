//! The small corpus of real ROOT 6.40 files kept in the repository (tests/corpus, written by
//! `py/make_root_files.py DIR 24 2000`), with uproot's reading stored next to them: these tests
//! need neither ROOT nor Python. Also the bad-file cases that need no corruption.

mod common;

use std::path::{Path, PathBuf};

use common::assert_entry;
use ferrograd_root::{Column, Error, RootFile};

fn corpus(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/corpus")
        .join(name)
}

#[test]
fn corpus_files_match_the_stored_uproot_reading() {
    let cases = [
        ("snapshot_none", "events"),
        ("snapshot_zlib", "events"),
        ("snapshot_lz4", "events"),
        ("snapshot_zstd", "events"),
        ("snapshot_lzma", "events"),
        ("branches_zstd", "events"),
        ("branches_zstd", "bkg/events"),
        ("branches_lz4", "events"),
        ("branches_lz4", "bkg/events"),
    ];
    for (file, tree_path) in cases {
        let f = RootFile::open(corpus(&format!("{file}.root"))).unwrap();
        let json = corpus(&format!("{file}.{}.json", tree_path.replace('/', "_")));
        let want: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(json).unwrap()).unwrap();
        let tree = f.tree(tree_path).unwrap();
        assert_eq!(tree.entries(), want["entries"].as_u64().unwrap());
        let branches = want["branches"].as_object().unwrap();
        assert_eq!(tree.branches().len(), branches.len());
        let mut reader = tree.reader();
        let mut col = Column::new();
        for b in tree.branches() {
            reader.read(b.name(), 0..tree.entries(), &mut col).unwrap();
            let values = branches[b.name()]["values"].as_array().unwrap();
            assert_eq!(col.len(), values.len());
            for (i, v) in values.iter().enumerate() {
                assert_entry(&col, i, v, &format!("{file}:{tree_path}:{}", b.name()));
            }
        }
    }
}

#[test]
fn unsupported_branches_are_listed_and_named_when_read() {
    let f = RootFile::open(corpus("unsupported.root")).unwrap();
    let t = f.tree("events").unwrap();
    let mut r = t.reader();
    assert_eq!(r.read_all("x").unwrap().len(), 20);
    for (name, type_name) in [
        ("pair", "leaf list `a/F:b/F`"),
        ("text", "TLeafC"),
        ("nested", "vector<vector<float> >"),
        ("obj", "TNamed"),
    ] {
        let b = t.branch(name).unwrap();
        assert!(
            b.type_name().ends_with("(unsupported)"),
            "{name}: {}",
            b.type_name()
        );
        let err = r.read_all(name).unwrap_err();
        match &err {
            Error::Unsupported {
                branch,
                type_name: t,
                ..
            } => {
                assert_eq!(branch, name);
                assert!(t.contains(type_name), "{name}: {t}");
            }
            other => panic!("{name}: expected Unsupported, got {other}"),
        }
        assert!(err.to_string().contains(name), "{err}");
    }
}

#[test]
fn a_tree_declaring_more_entries_than_its_baskets_hold_is_an_error() {
    // uproot returns the 20 entries it finds; the tree declares 30.
    let f = RootFile::open(corpus("short.root")).unwrap();
    let t = f.tree("events").unwrap();
    assert_eq!(t.entries(), 30);
    let err = t.reader().read_all("x").unwrap_err();
    assert!(
        matches!(
            err,
            Error::EntryCount {
                declared: 30,
                found: 20,
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn the_loader_refuses_a_tree_declaring_more_entries_than_its_baskets_hold() {
    let src = ferrograd_root::Source {
        path: corpus("short.root"),
        tree: "events".into(),
        label: Some(1),
    };
    let err = ferrograd_root::Loader::new(ferrograd_root::LoaderConfig::new(
        vec![src],
        vec!["x".into()],
    ))
    .err()
    .expect("short tree");
    assert!(
        matches!(
            err,
            Error::EntryCount {
                declared: 30,
                found: 20,
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn chunks_tile_the_tree() {
    let f = RootFile::open(corpus("branches_lz4.root")).unwrap();
    let t = f.tree("events").unwrap();
    let chunks: Vec<_> = t.chunks(5).collect();
    assert_eq!(chunks.first().map(|c| c.start), Some(0));
    assert_eq!(chunks.last().map(|c| c.end), Some(t.entries()));
    assert!(chunks
        .windows(2)
        .all(|w| w[0].end == w[1].start && w[0].end - w[0].start <= 5));
}

#[test]
fn missing_trees_and_branches_list_what_exists() {
    let f = RootFile::open(corpus("branches_zstd.root")).unwrap();
    let err = f.tree("bkg").unwrap_err();
    assert!(
        err.to_string() == "`bkg` is a TDirectory, not a TTree; trees: events, bkg/events",
        "{err}"
    );
    let err = f.tree("sig/events").unwrap_err();
    assert!(
        err.to_string().contains("trees: events, bkg/events"),
        "{err}"
    );
    let t = f.tree("bkg/events").unwrap();
    let err = t.branch("pt").unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("no branch `pt`") && msg.contains("o, b, ub, s"),
        "{msg}"
    );
    let err = t
        .reader()
        .read("f", 0..t.entries() + 1, &mut Column::new())
        .unwrap_err();
    assert!(matches!(err, Error::EntryRange { .. }), "{err}");
}

#[test]
fn files_that_are_not_root_or_are_cut_short_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    let text = dir.path().join("text.root");
    std::fs::write(&text, "hello, this is not ROOT").unwrap();
    assert!(matches!(RootFile::open(&text), Err(Error::NotRoot { .. })));
    let empty = dir.path().join("empty.root");
    std::fs::write(&empty, "").unwrap();
    assert!(matches!(RootFile::open(&empty), Err(Error::NotRoot { .. })));
    assert!(matches!(
        RootFile::open(dir.path().join("absent.root")),
        Err(Error::Io { .. })
    ));

    let bytes = std::fs::read(corpus("snapshot_zlib.root")).unwrap();
    for keep in [4, 10, 60, 100, 1000, bytes.len() / 2, bytes.len() - 1] {
        let cut = dir.path().join("cut.root");
        std::fs::write(&cut, &bytes[..keep]).unwrap();
        let result = RootFile::open(&cut).and_then(|f| {
            let t = f.tree("events")?;
            let mut r = t.reader();
            for b in t.branches() {
                r.read_all(b.name())?;
            }
            Ok(())
        });
        let err = result.expect_err("a cut file must not read");
        assert!(
            matches!(err, Error::Truncated { .. } | Error::Corrupt { .. }),
            "cut at {keep}: {err}"
        );
    }
}
