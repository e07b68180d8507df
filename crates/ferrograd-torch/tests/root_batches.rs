//! ROOT batches straight into `tch::Tensor`s (issue 11): a corpus tree read by
//! `ferrograd_root::Loader`, copied into reused tensors, compared value by value.

use ferrograd_root::{Loader, LoaderConfig, Source, Split};
use ferrograd_torch::RootBatchTensors;
use tch::Kind;

fn corpus(name: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../ferrograd-root/tests/corpus")
        .join(name)
}

#[test]
fn loader_batches_fill_reused_tensors() {
    let src = Source {
        path: corpus("snapshot_zstd.root"),
        tree: "events".into(),
        label: None,
    };
    let mut cfg = LoaderConfig::new(vec![src], vec!["x".into(), "y".into()]);
    cfg.targets = vec!["label".into()];
    cfg.weights = Some("w".into());
    cfg.batch_size = 5;
    cfg.shuffle = false;
    let loader = Loader::new(cfg).expect("corpus tree");
    let mut t = RootBatchTensors::new(5, loader.row_len(), 1).expect("tensors");
    let ptr = t.x.data_ptr();
    let mut b = ferrograd_root::Batch::default();
    let mut it = loader.batches(Split::Train, 0);
    let mut rows = 0;
    while it.next_batch(&mut b).expect("batch") {
        let n = t.fill(&b).expect("fill");
        let (x, labels, w, _) = t.rows();
        assert_eq!(x.size(), [n as i64, 2]);
        assert_eq!(labels.kind(), Kind::Int64);
        for r in 0..n {
            for c in 0..2 {
                assert_eq!(x.double_value(&[r as i64, c as i64]) as f32, b.x[r * 2 + c]);
            }
            assert_eq!(labels.int64_value(&[r as i64]), i64::from(b.labels[r]));
            assert_eq!(w.double_value(&[r as i64]) as f32, b.weights[r]);
        }
        rows += n;
        assert_eq!(
            t.x.data_ptr(),
            ptr,
            "the tensors are reused, not reallocated"
        );
    }
    assert_eq!(rows, 24);
}

#[test]
fn mismatched_batches_are_errors() {
    let mut t = RootBatchTensors::new(2, 3, 0).expect("tensors");
    let b = ferrograd_root::Batch {
        x: vec![0.0; 9],
        labels: vec![0; 3],
        targets: vec![],
        weights: vec![1.0; 3],
        len: 3,
    };
    let e = t.fill(&b).unwrap_err().to_string();
    assert!(e.contains("rows"), "{e}");
    let b = ferrograd_root::Batch {
        x: vec![0.0; 5],
        labels: vec![0; 2],
        targets: vec![],
        weights: vec![1.0; 2],
        len: 2,
    };
    assert!(t.fill(&b).unwrap_err().to_string().contains("features"));
    assert!(RootBatchTensors::new(0, 3, 0).is_err());
}
