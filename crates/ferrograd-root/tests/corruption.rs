//! Property test: real ROOT files corrupted at random offsets (bit flips, zeroed runs,
//! truncation) never make the reader panic; every read either fails with an error or returns
//! exactly the tree's entry count. Bytes that no checksum protects (baskets ROOT stored
//! uncompressed because compressing did not pay, ZSTD frames without a checksum, leaf ranges)
//! can change values without an error: those cases are counted, not hidden.

use std::path::Path;

use ferrograd_root::{Column, RootFile};

/// Reads the branches `wanted` (tree path, branch name); `Err` on the first error.
fn read_everything(
    path: &Path,
    wanted: &[(String, String)],
) -> ferrograd_root::Result<Vec<(String, Column)>> {
    let f = RootFile::open(path)?;
    let mut out = Vec::new();
    let mut current: Option<ferrograd_root::Tree> = None;
    for (tree, branch) in wanted {
        if current.as_ref().map(|t| t.path()) != Some(tree.as_str()) {
            current = Some(f.tree(tree)?);
        }
        let Some(t) = current.as_ref() else { continue };
        let mut col = Column::new();
        t.reader().read(branch, 0..t.entries(), &mut col)?;
        assert_eq!(
            col.len() as u64,
            t.entries(),
            "{tree}:{branch}: fewer entries"
        );
        out.push((format!("{tree}:{branch}"), col));
    }
    Ok(out)
}

/// The readable branches of a clean file.
fn readable(path: &Path) -> Vec<(String, String)> {
    let f = RootFile::open(path).unwrap();
    let mut out = Vec::new();
    for t in f.trees().unwrap() {
        for b in t.branches().iter().filter(|b| b.branch_type().is_ok()) {
            out.push((t.path().to_string(), b.name().to_string()));
        }
    }
    out
}

/// xorshift64*: reproducible without a dependency.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

#[test]
fn random_corruption_never_panics_nor_shortens_a_tree() {
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus");
    let dir = tempfile::tempdir().unwrap();
    let mut rng = Rng(0x5EED_F00D_1234_5678);
    let mut counts = [0usize; 3]; // errors, identical, (unchecked) different
    for name in [
        "snapshot_none",
        "snapshot_zlib",
        "snapshot_lz4",
        "snapshot_zstd",
        "snapshot_lzma",
        "branches_lz4",
        "branches_zstd",
        "unsupported",
    ] {
        let src = corpus.join(format!("{name}.root"));
        let original = std::fs::read(&src).unwrap();
        let wanted = readable(&src);
        let clean = read_everything(&src, &wanted).unwrap();
        for i in 0..250 {
            let mut bytes = original.clone();
            let at = rng.below(bytes.len());
            let how = match i % 4 {
                0 | 1 => {
                    bytes[at] ^= 1 << rng.below(8);
                    "flip"
                }
                2 => {
                    let end = (at + 1 + rng.below(64)).min(bytes.len());
                    bytes[at..end].fill(0);
                    "zero"
                }
                _ => {
                    bytes.truncate(at);
                    "truncate"
                }
            };
            let path = dir.path().join("bad.root");
            std::fs::write(&path, &bytes).unwrap();
            match read_everything(&path, &wanted) {
                Err(e) => {
                    assert!(!e.to_string().is_empty());
                    counts[0] += 1;
                }
                Ok(got) if got == clean => counts[1] += 1,
                Ok(got) => {
                    eprintln!("{name}: {how} at {at} changed values without an error");
                    assert_eq!(got.len(), clean.len());
                    counts[2] += 1;
                }
            }
        }
    }
    eprintln!(
        "errors {}, unchanged {}, changed (no checksum) {}",
        counts[0], counts[1], counts[2]
    );
    assert!(
        counts[0] > 500,
        "most corruptions must be detected: {counts:?}"
    );
}
