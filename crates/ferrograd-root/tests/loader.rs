//! The data loader on trees written by our writer (signal and background) and on the corpus
//! (jagged features): every entry passing the cut seen exactly once per pass, train and
//! validation disjoint, labels from the source or a target branch, weights, padding and
//! truncation, seeded shuffling, bounded buffers.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use ferrograd_root::{
    Batch, BranchSpec, Column, ColumnData, Compression, ElemType, Loader, LoaderConfig, RootFile,
    RootWriter, Source, Split, TreeWriter,
};

const N: usize = 1000;

fn write(path: &Path, offset: f32, label: i32) {
    let mut w = RootWriter::create(path, Compression::Zstd, 3).unwrap();
    let specs = [
        BranchSpec::scalar("x", ElemType::F32),
        BranchSpec::scalar("n", ElemType::I32),
        BranchSpec::scalar("w", ElemType::F64),
        BranchSpec::scalar("label", ElemType::I32),
        BranchSpec::array("arr", ElemType::F32, 2),
    ];
    let mut t = TreeWriter::new("events", "", &specs)
        .unwrap()
        .with_basket_bytes(512);
    let x = ColumnData::F32((0..N).map(|i| offset + i as f32).collect());
    let n = ColumnData::I32((0..N).map(|i| (i % 3) as i32).collect());
    let wt = ColumnData::F64((0..N).map(|i| 0.5 + (i % 2) as f64).collect());
    let l = ColumnData::I32(vec![label; N]);
    let arr = ColumnData::F32((0..N).flat_map(|i| [offset + i as f32, -1.0]).collect());
    t.append(&mut w, &[&x, &n, &wt, &l, &arr]).unwrap();
    t.finish(&mut w).unwrap();
    w.close().unwrap();
}

fn sources(dir: &Path) -> Vec<Source> {
    let (sig, bkg) = (dir.join("sig.root"), dir.join("bkg.root"));
    write(&sig, 0.0, 1);
    write(&bkg, 10_000.0, 0);
    vec![
        Source {
            path: sig,
            tree: "events".into(),
            label: Some(1),
        },
        Source {
            path: bkg,
            tree: "events".into(),
            label: Some(0),
        },
    ]
}

/// All rows of one pass: (x, label, weight, arr[0]).
fn pass(loader: &Loader, split: Split, epoch: u64) -> Vec<(f32, u8, f32, f32)> {
    let mut out = Vec::new();
    let mut b = Batch::default();
    let mut it = loader.batches(split, epoch);
    while it.next_batch(&mut b).unwrap() {
        assert_eq!(b.x.len(), b.len * loader.row_len());
        for r in 0..b.len {
            out.push((b.x[r * 3], b.labels[r], b.weights[r], b.x[r * 3 + 1]));
        }
    }
    out
}

#[test]
fn every_entry_passing_the_cut_is_seen_once_and_splits_are_disjoint() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = LoaderConfig::new(sources(dir.path()), vec!["x".into(), "arr".into()]);
    cfg.weights = Some("w".into());
    cfg.cut = Some("n != 1 && x >= 3".into());
    cfg.validation_split = 0.25;
    cfg.chunk_size = 100;
    cfg.buffer_chunks = 3;
    cfg.batch_size = 32;
    let loader = Loader::new(cfg).unwrap();
    assert_eq!(loader.row_len(), 3);
    let train = pass(&loader, Split::Train, 0);
    let val = pass(&loader, Split::Validation, 0);
    let whole = loader.read_split(Split::Validation).unwrap();
    assert_eq!(whole.len, val.len());
    assert_eq!(whole.x.len(), val.len() * 3);
    let key = |r: &(f32, u8, f32, f32)| r.0 as u32;
    let t: BTreeSet<u32> = train.iter().map(key).collect();
    let v: BTreeSet<u32> = val.iter().map(key).collect();
    assert_eq!(t.len(), train.len(), "no entry twice");
    assert_eq!(v.len(), val.len());
    assert!(t.is_disjoint(&v));
    let expect: BTreeSet<u32> = [0u32, 10_000]
        .iter()
        .flat_map(|&o| {
            (0..N as u32)
                .filter(move |i| i % 3 != 1 && o + i >= 3)
                .map(move |i| o + i)
        })
        .collect();
    assert_eq!(&t | &v, expect);
    // 25% of every chunk goes to validation (before the cut).
    assert!(
        (v.len() as f64 / expect.len() as f64 - 0.25).abs() < 0.02,
        "{}",
        v.len()
    );
    for (x, label, w, arr0) in train.iter().chain(&val) {
        let i = (*x as u32) % 10_000;
        assert_eq!(*label, u8::from(*x < 10_000.0));
        assert_eq!(*w, 0.5 + (i % 2) as f32);
        assert_eq!(arr0, x, "features of one row stay together");
    }
}

#[test]
fn shuffling_is_reproducible_by_seed_and_epoch() {
    let dir = tempfile::tempdir().unwrap();
    let srcs = sources(dir.path());
    let make = |seed: u64, shuffle: bool| {
        let mut cfg = LoaderConfig::new(srcs.clone(), vec!["x".into()]);
        cfg.seed = seed;
        cfg.shuffle = shuffle;
        cfg.chunk_size = 128;
        cfg.batch_size = 50;
        Loader::new(cfg).unwrap()
    };
    let xs = |l: &Loader, epoch| -> Vec<f32> {
        let mut b = Batch::default();
        let mut it = l.batches(Split::Train, epoch);
        let mut v = Vec::new();
        while it.next_batch(&mut b).unwrap() {
            v.extend_from_slice(&b.x);
        }
        v
    };
    let a = xs(&make(7, true), 0);
    assert_eq!(a, xs(&make(7, true), 0), "same seed, same order");
    assert_ne!(a, xs(&make(8, true), 0), "another seed");
    assert_ne!(a, xs(&make(7, true), 1), "another epoch");
    let ordered = xs(&make(7, false), 0);
    let want: Vec<f32> = (0..N)
        .map(|i| i as f32)
        .chain((0..N).map(|i| 10_000.0 + i as f32))
        .collect();
    assert_eq!(ordered, want);
    let mut sorted = a.clone();
    sorted.sort_by(f32::total_cmp);
    assert_eq!(sorted, want, "a shuffle is a permutation");
}

#[test]
fn target_branches_give_labels_and_remainders_can_be_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let mut srcs = sources(dir.path());
    for s in &mut srcs {
        s.label = None;
    }
    let mut cfg = LoaderConfig::new(srcs, vec!["x".into()]);
    cfg.targets = vec!["label".into(), "n".into()];
    cfg.batch_size = 300;
    cfg.drop_remainder = true;
    cfg.shuffle = false;
    let loader = Loader::new(cfg).unwrap();
    let mut b = Batch::default();
    let mut it = loader.batches(Split::Train, 0);
    let mut batches = 0;
    while it.next_batch(&mut b).unwrap() {
        assert_eq!(b.len, 300);
        for r in 0..b.len {
            assert_eq!(b.labels[r], u8::from(b.x[r] < 10_000.0));
            assert_eq!(b.targets[2 * r], f32::from(b.labels[r]));
            assert_eq!(b.targets[2 * r + 1], ((b.x[r] as u32 % 10_000) % 3) as f32);
        }
        batches += 1;
    }
    assert_eq!(batches, 2 * N / 300, "the last, short batch is dropped");
}

fn corpus(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/corpus")
        .join(name)
}

#[test]
fn jagged_features_are_padded_and_truncated_to_max_len() {
    let path = corpus("branches_zstd.root");
    let mut cfg = LoaderConfig::new(
        vec![Source {
            path: path.clone(),
            tree: "events".into(),
            label: Some(0),
        }],
        vec!["vf".into(), "jd".into(), "arr".into()],
    );
    cfg.max_len = 3;
    cfg.pad_value = -9.0;
    cfg.shuffle = false;
    cfg.batch_size = 5;
    let loader = Loader::new(cfg).unwrap();
    assert_eq!(loader.row_len(), 3 + 3 + 4);
    let f = RootFile::open(&path).unwrap();
    let t = f.tree("events").unwrap();
    let mut r = t.reader();
    let cols: Vec<Column> = ["vf", "jd", "arr"]
        .iter()
        .map(|n| r.read_all(n).unwrap())
        .collect();
    let mut b = Batch::default();
    let mut it = loader.batches(Split::Train, 0);
    let mut entry = 0;
    while it.next_batch(&mut b).unwrap() {
        for row in b.x.chunks(10) {
            let mut want = Vec::new();
            for (c, width) in cols.iter().zip([3, 3, 4]) {
                let e = c.entry(entry);
                let vals: Vec<f32> = e
                    .map(|j| c.data().get_f32(j).unwrap())
                    .take(width)
                    .collect();
                want.extend_from_slice(&vals);
                want.extend(std::iter::repeat_n(-9.0, width - vals.len()));
            }
            assert_eq!(row, &want[..], "entry {entry}");
            entry += 1;
        }
    }
    assert_eq!(entry as u64, t.entries());
}

#[test]
fn loader_configuration_errors_say_what_is_wrong() {
    let path = corpus("branches_zstd.root");
    let src = |label| Source {
        path: path.clone(),
        tree: "events".into(),
        label,
    };
    let err = |cfg: LoaderConfig| Loader::new(cfg).err().expect("must fail").to_string();
    let e = err(LoaderConfig::new(vec![src(Some(1))], vec!["pt".into()]));
    assert!(
        e.contains("no branch `pt`") && e.contains("branches: o, b"),
        "{e}"
    );
    let e = err(LoaderConfig::new(vec![src(None)], vec!["f".into()]));
    assert!(e.contains("every source needs a label"), "{e}");
    let mut cfg = LoaderConfig::new(vec![src(Some(1))], vec!["f".into()]);
    cfg.cut = Some("vf > 1".into());
    assert!(err(cfg).contains("must be scalars"));
    let mut cfg = LoaderConfig::new(vec![src(Some(1))], vec!["f".into()]);
    cfg.cut = Some("f >".into());
    assert!(err(cfg).contains("invalid cut"));
    let mut cfg = LoaderConfig::new(vec![src(Some(1))], vec!["f".into()]);
    cfg.targets = vec!["f".into()];
    let loader = Loader::new(cfg).unwrap();
    let e = loader
        .batches(Split::Train, 0)
        .next_batch(&mut Batch::default())
        .unwrap_err();
    assert!(e.to_string().contains("not a class label"), "{e}");
}
