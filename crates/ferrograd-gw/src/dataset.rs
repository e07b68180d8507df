//! Simulated strain written to a ROOT tree: one entry per one-second segment, the whitened
//! strain as a fixed-size `Float_t` array next to its label and injection parameters, so the
//! training and the analysis read the same file that ROOT, PyROOT and uproot read.

use std::path::{Path, PathBuf};

use ferrograd_data::gw::{ChirpParams, GwExampleMeta};
use ferrograd_data::{GwConfig, GwGenerator};
use ferrograd_root::{
    BranchSpec, ColumnData, Compression, ElemType, RootFile, RootWriter, TreeWriter,
};
use ferrograd_train::init::SplitMix64;

use crate::error::{GwError, Result};

/// Branch of the whitened strain, `strain[n_samples]/F`.
pub const STRAIN: &str = "strain";
/// Branch of the class, `label/b`: 1 = noise + chirp, 0 = noise only.
pub const LABEL: &str = "label";
/// Branch of the injected optimal SNR, `snr/F` (0 for noise).
pub const SNR: &str = "snr";
/// Chirp mass in M☉, `chirp_mass/F` (0 for noise).
pub const CHIRP_MASS: &str = "chirp_mass";
/// Mass ratio `m₂/m₁`, `mass_ratio/F` (0 for noise).
pub const MASS_RATIO: &str = "mass_ratio";
/// Merger time in seconds from the segment start, `merger_time/F` (0 for noise).
pub const MERGER_TIME: &str = "merger_time";
/// Phase offset of the GW phase in rad, `phase/F` (0 for noise).
pub const PHASE: &str = "phase";

/// Entries generated (in parallel) and appended to the tree at a time.
const CHUNK: usize = 256;
/// Uncompressed bytes per basket: 32 strain entries of 2048 samples (ROOT's default of 32 kB
/// would hold only three).
const BASKET_BYTES: usize = 32 * 2048 * 4;
/// Most entries one file may hold.
pub const MAX_ENTRIES: usize = 1 << 24;

/// What [`write_dataset_with`] writes.
#[derive(Clone, Debug, PartialEq)]
pub struct DatasetConfig {
    /// The generator's settings: its `seed` and `snr_range` are the data set's.
    pub gw: GwConfig,
    /// Entries, at least 2: half of them (rounded down) signals, in a seeded random order.
    pub entries: usize,
    pub compression: Compression,
    /// Compression level (ZLIB/LZMA 1–9, ZSTD 1–22; LZ4 and none ignore it).
    pub level: i32,
    /// Generator threads; 0 = the machine's CPUs. The file does not depend on it.
    pub threads: usize,
}

impl DatasetConfig {
    /// `entries` segments from `seed` with SNRs drawn uniformly from `snr_range`, the other
    /// generator settings at their W2 defaults ([`GwConfig::default`]), ZLIB level 1.
    pub fn new(entries: usize, seed: u64, snr_range: (f64, f64)) -> Self {
        DatasetConfig {
            gw: GwConfig {
                seed,
                snr_range,
                ..GwConfig::default()
            },
            entries,
            compression: Compression::Zlib,
            level: 1,
            threads: 0,
        }
    }

    fn validate(&self) -> Result<()> {
        self.gw.validate()?;
        if !(2..=MAX_ENTRIES).contains(&self.entries) {
            return Err(GwError::config(
                "entries",
                format!(
                    "{}; use 2 to {MAX_ENTRIES} (both classes must be present)",
                    self.entries
                ),
            ));
        }
        let levels = match self.compression {
            Compression::Zlib | Compression::Lzma => 1..=9,
            Compression::Zstd => 1..=22,
            Compression::None | Compression::Lz4 => self.level..=self.level,
        };
        if !levels.contains(&self.level) {
            return Err(GwError::config(
                "level",
                format!(
                    "{} for {}; use {} to {}",
                    self.level,
                    self.compression.name(),
                    levels.start(),
                    levels.end()
                ),
            ));
        }
        Ok(())
    }
}

/// What a written data set holds.
#[derive(Clone, Debug, PartialEq)]
pub struct DatasetInfo {
    pub path: PathBuf,
    pub tree: String,
    pub entries: u64,
    /// Entries with a chirp (label 1).
    pub signals: u64,
    /// Samples per strain entry.
    pub n_samples: usize,
}

/// Simulates `n` whitened-strain segments (half of them with a chirp at an SNR drawn
/// uniformly from `snr_range`, the rest noise only; aLIGO design noise, 2048 samples at
/// 2048 Hz, chirp masses 5–40 M☉) from `seed` and writes them to a new ROOT file at `path`
/// as tree `tree` with the branches `strain[2048]/F`, `label/b` (1 = signal), `snr/F`,
/// `chirp_mass/F`, `mass_ratio/F`, `merger_time/F` and `phase/F` (the injection parameters;
/// 0 for noise), compressed with `compression` at level 1. The entries are the same for the
/// same arguments on every machine and thread count; use another seed for a test set. Generation uses every CPU; [`write_dataset_with`] sets threads, level and
/// generator settings and reports progress.
///
/// ```no_run
/// use ferrograd_root::Compression;
/// let info = ferrograd_gw::write_dataset("gw.root", "gw", 1000, 7, (8.0, 20.0), Compression::Zlib)?;
/// assert_eq!(info.entries, 1000);
/// # Ok::<(), ferrograd_gw::GwError>(())
/// ```
///
/// # Errors
/// [`GwError::Config`] / [`GwError::Data`] for `n` outside 2..=2²⁴ or an SNR range that is
/// not `0 ≤ lo ≤ hi < ∞`; [`GwError::Root`] if the file cannot be written or `tree` is not a
/// valid tree name.
pub fn write_dataset(
    path: impl AsRef<Path>,
    tree: &str,
    n: usize,
    seed: u64,
    snr_range: (f64, f64),
    compression: Compression,
) -> Result<DatasetInfo> {
    let mut cfg = DatasetConfig::new(n, seed, snr_range);
    cfg.compression = compression;
    write_dataset_with(path, tree, &cfg, &mut |_| {})
}

/// As [`write_dataset`] with every setting in `cfg`; `progress` is called with the number
/// of entries written so far after every chunk.
///
/// # Errors
/// As [`write_dataset`], and [`GwError::Config`] for a compression level out of range.
pub fn write_dataset_with(
    path: impl AsRef<Path>,
    tree: &str,
    cfg: &DatasetConfig,
    progress: &mut dyn FnMut(u64),
) -> Result<DatasetInfo> {
    cfg.validate()?;
    let path = path.as_ref();
    let ns = cfg.gw.n_samples;
    let f = |name: &str| BranchSpec::scalar(name, ElemType::F32);
    let specs = [
        BranchSpec::array(STRAIN, ElemType::F32, ns),
        BranchSpec::scalar(LABEL, ElemType::U8),
        f(SNR),
        f(CHIRP_MASS),
        f(MASS_RATIO),
        f(MERGER_TIME),
        f(PHASE),
    ];
    let mut writer = TreeWriter::new(tree, "whitened strain, label and injection", &specs)?
        .with_basket_bytes(BASKET_BYTES);
    let mut file = RootWriter::create(path, cfg.compression, cfg.level)?;

    let labels = balanced_labels(cfg.gw.seed, cfg.entries);
    let threads = match cfg.threads {
        0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
        t => t,
    }
    .clamp(1, 64);
    let mut gens = (0..threads)
        .map(|_| GwGenerator::new(cfg.gw.clone()))
        .collect::<Result<Vec<_>, _>>()?;
    let mut x = vec![0.0f32; CHUNK * ns];
    let mut meta = vec![
        GwExampleMeta {
            label: 0,
            chirp: None
        };
        CHUNK
    ];
    let mut signals = 0u64;
    for first in (0..cfg.entries).step_by(CHUNK) {
        let n = CHUNK.min(cfg.entries - first);
        generate_chunk(&mut gens, &labels, first, &mut x[..n * ns], &mut meta[..n])?;
        let param = |get: fn(&ChirpParams) -> f64| {
            ColumnData::F32(
                meta[..n]
                    .iter()
                    .map(|m| m.chirp.as_ref().map_or(0.0, get) as f32)
                    .collect(),
            )
        };
        let cols = [
            ColumnData::F32(x[..n * ns].to_vec()),
            ColumnData::U8(meta[..n].iter().map(|m| m.label).collect()),
            param(|p| p.snr),
            param(|p| p.chirp_mass),
            param(|p| p.mass_ratio),
            param(|p| p.merger_time),
            param(|p| p.phase),
        ];
        writer.append(&mut file, &cols.iter().collect::<Vec<_>>())?;
        signals += meta[..n].iter().filter(|m| m.label == 1).count() as u64;
        progress((first + n) as u64);
    }
    writer.finish(&mut file)?;
    file.close()?;
    Ok(DatasetInfo {
        path: path.to_path_buf(),
        tree: tree.to_string(),
        entries: cfg.entries as u64,
        signals,
        n_samples: ns,
    })
}

/// Entries `first..first + meta.len()` into `x`/`meta`, split over the generators' threads.
fn generate_chunk(
    gens: &mut [GwGenerator],
    labels: &[u8],
    first: usize,
    x: &mut [f32],
    meta: &mut [GwExampleMeta],
) -> Result<()> {
    let ns = x.len() / meta.len().max(1);
    let per = meta.len().div_ceil(gens.len()).max(1);
    std::thread::scope(|scope| {
        let handles: Vec<_> = gens
            .iter_mut()
            .zip(x.chunks_mut(per * ns).zip(meta.chunks_mut(per)))
            .enumerate()
            .map(|(t, (gen, (xs, ms)))| {
                scope.spawn(move || -> Result<()> {
                    for (j, (row, m)) in xs.chunks_exact_mut(ns).zip(ms.iter_mut()).enumerate() {
                        let i = first + t * per + j;
                        *m = gen.example_into(i as u64, labels[i] == 1, row)?;
                    }
                    Ok(())
                })
            })
            .collect();
        handles.into_iter().try_for_each(|h| {
            // A worker only panics on a bug; re-raise it rather than hide it.
            h.join().unwrap_or_else(|p| std::panic::resume_unwind(p))
        })
    })
}

/// `n` labels, `n/2` (rounded down) of them 1, shuffled by `seed` (Fisher–Yates).
fn balanced_labels(seed: u64, n: usize) -> Vec<u8> {
    let mut labels: Vec<u8> = (0..n).map(|i| u8::from(i < n / 2)).collect();
    let mut rng = SplitMix64::new(seed ^ 0x6c61_6265_6c73); // "labels"
    for i in (1..n).rev() {
        let j = (rng.next_u64() % (i as u64 + 1)) as usize;
        labels.swap(i, j);
    }
    labels
}

/// One entry of a data set read back.
#[derive(Clone, Debug, PartialEq)]
pub struct Example {
    pub strain: Vec<f32>,
    pub label: u8,
    /// The injection (for a signal).
    pub chirp: Option<ChirpParams>,
}

/// Reads entry `index` of a data set written by [`write_dataset`].
///
/// # Errors
/// [`GwError::Root`] for a missing file, tree or branch; [`GwError::BadFile`] for an entry
/// past the end.
pub fn read_example(path: impl AsRef<Path>, tree: &str, index: u64) -> Result<Example> {
    let path = path.as_ref();
    let file = RootFile::open(path)?;
    let t = file.tree(tree)?;
    if index >= t.entries() {
        return Err(GwError::BadFile {
            path: path.to_path_buf(),
            reason: format!("entry {index} asked for; tree `{tree}` has {}", t.entries()),
        });
    }
    let mut reader = t.reader();
    let mut col = ferrograd_root::Column::new();
    let mut get = |name: &str| -> Result<Vec<f64>> {
        reader.read(name, index..index + 1, &mut col)?;
        Ok((0..col.data().len())
            .map(|i| col.data().get_f64(i).unwrap_or(f64::NAN))
            .collect())
    };
    let strain = get(STRAIN)?.into_iter().map(|v| v as f32).collect();
    let label = get(LABEL)?.first().copied().unwrap_or(0.0) as u8;
    let mut scalar =
        |name: &str| -> Result<f64> { Ok(get(name)?.first().copied().unwrap_or(f64::NAN)) };
    let chirp = if label == 1 {
        Some(ChirpParams {
            chirp_mass: scalar(CHIRP_MASS)?,
            mass_ratio: scalar(MASS_RATIO)?,
            phase: scalar(PHASE)?,
            merger_time: scalar(MERGER_TIME)?,
            snr: scalar(SNR)?,
        })
    } else {
        None
    };
    Ok(Example {
        strain,
        label,
        chirp,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_balanced_shuffled_and_seeded() {
        let a = balanced_labels(3, 101);
        assert_eq!(a.iter().filter(|&&l| l == 1).count(), 50);
        assert_eq!(a, balanced_labels(3, 101));
        assert_ne!(a, balanced_labels(4, 101));
        // Shuffled: not all signals first.
        assert!(a[..50].contains(&0));
    }

    #[test]
    fn written_file_reads_back_entry_by_entry() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("gw.root");
        let mut cfg = DatasetConfig::new(300, 11, (10.0, 12.0));
        cfg.threads = 3;
        let info = write_dataset_with(&path, "gw", &cfg, &mut |_| {}).unwrap();
        assert_eq!(
            (info.entries, info.signals, info.n_samples),
            (300, 150, 2048)
        );

        // The same entries as the generator makes one by one.
        let labels = balanced_labels(11, 300);
        let mut gen = GwGenerator::new(cfg.gw.clone()).unwrap();
        for i in [0u64, 1, 255, 256, 299] {
            let e = read_example(&path, "gw", i).unwrap();
            let mut want = vec![0.0f32; 2048];
            let m = gen
                .example_into(i, labels[i as usize] == 1, &mut want)
                .unwrap();
            assert_eq!(e.strain, want, "entry {i}");
            assert_eq!(e.label, m.label);
            match (e.chirp, m.chirp) {
                (Some(a), Some(b)) => {
                    assert!((a.snr - b.snr).abs() < 1e-5 && (10.0..=12.0).contains(&a.snr));
                    assert!((a.chirp_mass - b.chirp_mass).abs() < 1e-4);
                }
                (None, None) => {}
                other => panic!("entry {i}: {other:?}"),
            }
        }
        assert!(read_example(&path, "gw", 300).is_err());
    }

    #[test]
    fn bad_settings_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.root");
        let err = write_dataset(&p, "gw", 1, 0, (8.0, 20.0), Compression::Zlib).unwrap_err();
        assert!(err.to_string().contains("entries"), "{err}");
        let err = write_dataset(&p, "gw", 10, 0, (20.0, 8.0), Compression::Zlib).unwrap_err();
        assert!(err.to_string().contains("snr_range"), "{err}");
        let err = write_dataset(&p, "a/b", 10, 0, (8.0, 20.0), Compression::Zlib).unwrap_err();
        assert!(err.to_string().contains("tree"), "{err}");
        let mut cfg = DatasetConfig::new(10, 0, (8.0, 20.0));
        cfg.level = 0;
        assert!(write_dataset_with(&p, "gw", &cfg, &mut |_| {}).is_err());
        let bad_dir = dir.path().join("missing/x.root");
        assert!(write_dataset(bad_dir, "gw", 10, 0, (8.0, 20.0), Compression::Zlib).is_err());
    }
}
