//! Every value of every supported branch, in files written by real ROOT with each compression,
//! against uproot's reading of the same file.

mod common;

use common::{assert_entry, files, large_files, uproot_dump, ALGS, ENTRIES, LARGE_ENTRIES};
use ferrograd_root::{Column, RootFile, Shape};

fn compare_tree(file: &str, tree_path: &str) {
    compare_tree_in(files(), file, tree_path);
}

fn compare_tree_in(dir: &std::path::Path, file: &str, tree_path: &str) {
    let f = RootFile::open(dir.join(file)).unwrap();
    let tree = f.tree(tree_path).unwrap();
    let want = uproot_dump(dir, file, tree_path);
    assert_eq!(
        tree.entries(),
        want["entries"].as_u64().unwrap(),
        "{file}:{tree_path} entries"
    );
    let branches = want["branches"].as_object().unwrap();
    assert_eq!(
        tree.branches().len(),
        branches.len(),
        "{file}:{tree_path} branch count"
    );
    let mut reader = tree.reader();
    let mut col = Column::new();
    for b in tree.branches() {
        let values = branches[b.name()]["values"].as_array().unwrap();
        b.branch_type().unwrap();
        reader.read(b.name(), 0..tree.entries(), &mut col).unwrap();
        assert_eq!(
            col.len() as u64,
            tree.entries(),
            "{file}:{tree_path}:{}",
            b.name()
        );
        for (i, v) in values.iter().enumerate() {
            assert_entry(&col, i, v, &format!("{file}:{tree_path}:{}", b.name()));
        }
    }
}

#[test]
fn branch_trees_match_uproot_for_every_compression() {
    for alg in ALGS {
        compare_tree(&format!("branches_{alg}.root"), "events");
    }
}

#[test]
fn subdirectory_trees_match_uproot() {
    for alg in ALGS {
        compare_tree(&format!("branches_{alg}.root"), "bkg/events");
    }
}

#[test]
fn snapshot_trees_match_uproot_for_every_compression() {
    for alg in ALGS {
        compare_tree(&format!("snapshot_{alg}.root"), "events");
    }
}

#[test]
fn trees_are_listed_with_paths_and_types() {
    let f = RootFile::open(files().join("branches_zstd.root")).unwrap();
    assert_eq!(f.tree_paths(), ["events", "bkg/events"]);
    let t = f.tree("bkg/events").unwrap();
    assert_eq!(t.entries(), ENTRIES / 3);
    let types: Vec<(String, String)> = t
        .branches()
        .iter()
        .map(|b| (b.name().to_string(), b.type_name()))
        .collect();
    let find = |n: &str| types.iter().find(|(b, _)| b == n).unwrap().1.clone();
    assert_eq!(find("o"), "Bool_t");
    assert_eq!(find("ul"), "ULong64_t");
    assert_eq!(find("arr"), "Float_t[4]");
    assert_eq!(find("jf"), "Float_t[nj]");
    assert_eq!(find("vus"), "std::vector<unsigned short>");
    assert_eq!(
        t.branch("jl").unwrap().branch_type().unwrap().shape,
        Shape::Counted("nb".into())
    );
}

#[test]
fn ranges_across_basket_boundaries_match_a_full_read() {
    let f = RootFile::open(files().join("branches_lz4.root")).unwrap();
    let t = f.tree("events").unwrap();
    assert!(
        t.branch("d").unwrap().basket_count() > 5,
        "the test wants many baskets"
    );
    let mut r = t.reader();
    for name in ["d", "arr", "jf", "vd", "o"] {
        let full = r.read_all(name).unwrap();
        let mut part = Column::new();
        let mut start = 0;
        let mut step = 1;
        while start < t.entries() {
            let stop = (start + step).min(t.entries());
            r.read(name, start..stop, &mut part).unwrap();
            for i in 0..part.len() {
                let a = part.entry(i);
                let b = full.entry(start as usize + i);
                assert_eq!(a.len(), b.len(), "{name} entry {}", start as usize + i);
                for (x, y) in a.zip(b) {
                    assert_eq!(part.data().get_f64(x), full.data().get_f64(y));
                }
            }
            start = stop;
            step = step * 3 + 1;
        }
    }
}

#[test]
fn a_large_tree_matches_uproot_and_streams_cluster_by_cluster_in_reused_buffers() {
    compare_tree_in(large_files(), "snapshot_zstd.root", "events");
    for alg in ALGS {
        let f = RootFile::open(large_files().join(format!("snapshot_{alg}.root"))).unwrap();
        let t = f.tree("events").unwrap();
        assert_eq!(t.entries(), LARGE_ENTRIES);
        let clusters = t.clusters();
        assert!(clusters.len() > 10, "{alg}: {} clusters", clusters.len());
        let mut r = t.reader();
        let (mut x, mut v) = (Column::new(), Column::new());
        let mut seen = 0u64;
        let mut sum = 0.0f64;
        let mut largest = 0;
        let mut capacity_after_largest = None;
        for c in &clusters {
            assert_eq!(c.start, seen, "{alg}: clusters tile the tree");
            r.read("x", c.clone(), &mut x).unwrap();
            r.read("v", c.clone(), &mut v).unwrap();
            assert_eq!(x.len() as u64, c.end - c.start);
            assert_eq!(v.len() as u64, c.end - c.start);
            for i in 0..x.len() {
                sum += x.data().get_f64(i).unwrap();
            }
            let ferrograd_root::ColumnData::F32(values) = x.data() else {
                panic!("x is Float_t")
            };
            // Once the largest cluster has been read, the buffer never grows again.
            if x.len() >= largest {
                largest = x.len();
                capacity_after_largest = Some(values.capacity());
            } else {
                assert_eq!(Some(values.capacity()), capacity_after_largest, "{alg}");
            }
            seen = c.end;
        }
        assert_eq!(seen, LARGE_ENTRIES);
        // x = 0.5 e - 3 (exact in f32 up to 2^24 / 2).
        let n = LARGE_ENTRIES as f64;
        assert_eq!(sum, 0.5 * n * (n - 1.0) / 2.0 - 3.0 * n, "{alg}");
    }
}
