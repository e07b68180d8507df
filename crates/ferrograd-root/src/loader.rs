//! A data loader for training on trees, with the vocabulary of ROOT's RDataLoader
//! (`batch_size`, `chunk_size`, `target`, `weights`, `validation_split`, `shuffle`,
//! `drop_remainder`): feature columns (jagged ones padded or truncated to a fixed length),
//! targets, an event weight, a selection cut, signal and background sources labelled by source,
//! and seeded shuffling within a buffer of chunks. Memory is bounded by `buffer_chunks ×
//! chunk_size` rows whatever the files' size; batches land in caller-owned buffers shaped for
//! `ferrograd_train::Dataset` (rows of `f32`, `u8` labels).

use std::ops::Range;
use std::path::PathBuf;

use crate::column::Column;
use crate::cut::Cut;
use crate::error::{Error, Result};
use crate::file::RootFile;
use crate::reader::TreeReader;
use crate::tree::Tree;
use crate::types::Shape;

/// One tree to read, optionally labelled (signal 1, background 0, …).
#[derive(Clone, Debug)]
pub struct Source {
    pub path: PathBuf,
    pub tree: String,
    pub label: Option<u8>,
}

/// Loader settings; [`LoaderConfig::new`] gives RDataLoader's defaults.
#[derive(Clone, Debug)]
pub struct LoaderConfig {
    pub sources: Vec<Source>,
    pub features: Vec<String>,
    /// Target branches; empty: the label comes from each source's `label`.
    pub targets: Vec<String>,
    pub weights: Option<String>,
    pub cut: Option<String>,
    /// Jagged features are padded (with `pad_value`) or truncated to this many values.
    pub max_len: usize,
    pub pad_value: f32,
    pub batch_size: usize,
    pub chunk_size: u64,
    /// Chunks loaded and shuffled together.
    pub buffer_chunks: usize,
    pub validation_split: f64,
    pub shuffle: bool,
    pub seed: u64,
    pub drop_remainder: bool,
}

impl LoaderConfig {
    pub fn new(sources: Vec<Source>, features: Vec<String>) -> Self {
        LoaderConfig {
            sources,
            features,
            targets: Vec::new(),
            weights: None,
            cut: None,
            max_len: 1,
            pad_value: 0.0,
            batch_size: 64,
            chunk_size: 10_000,
            buffer_chunks: 4,
            validation_split: 0.0,
            shuffle: true,
            seed: 0,
            drop_remainder: false,
        }
    }
}

/// Which part of every chunk a pass reads: the first `1 - validation_split` or the rest.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Split {
    Train,
    Validation,
}

/// One batch, in buffers the caller keeps between batches.
#[derive(Clone, Debug, Default)]
pub struct Batch {
    /// `len × row_len` features, row-major.
    pub x: Vec<f32>,
    /// One class label per row (from the first target branch, or the source's label).
    pub labels: Vec<u8>,
    /// `len × targets` target values (empty without target branches).
    pub targets: Vec<f32>,
    /// One weight per row (1 without a weight branch).
    pub weights: Vec<f32>,
    pub len: usize,
}

/// Opened sources and the checked layout of a row.
pub struct Loader {
    cfg: LoaderConfig,
    trees: Vec<Tree>,
    widths: Vec<usize>,
    cut: Option<Cut>,
}

fn config(what: &str, detail: impl Into<String>) -> Error {
    Error::Config {
        what: what.to_string(),
        detail: detail.into(),
    }
}

impl Loader {
    /// Opens every source and checks that the branches exist, are readable and have the same
    /// shape in every source.
    pub fn new(cfg: LoaderConfig) -> Result<Self> {
        if cfg.sources.is_empty() || cfg.features.is_empty() {
            return Err(config(
                "loader",
                "needs at least one source and one feature",
            ));
        }
        if cfg.batch_size == 0 || cfg.chunk_size == 0 || cfg.buffer_chunks == 0 || cfg.max_len == 0
        {
            return Err(config(
                "loader",
                "batch_size, chunk_size, buffer_chunks and max_len must be at least 1",
            ));
        }
        if !(0.0..1.0).contains(&cfg.validation_split) {
            return Err(config(
                "validation_split",
                format!("{} is not in [0, 1)", cfg.validation_split),
            ));
        }
        if cfg.targets.is_empty() && cfg.sources.iter().any(|s| s.label.is_none()) {
            return Err(config(
                "loader",
                "without target branches every source needs a label",
            ));
        }
        let cut = cfg.cut.as_deref().map(Cut::parse).transpose()?;
        let mut trees = Vec::new();
        for s in &cfg.sources {
            trees.push(RootFile::open(&s.path)?.tree(&s.tree)?);
        }
        let mut widths = Vec::new();
        for (k, name) in cfg.features.iter().enumerate() {
            for t in &trees {
                let ty = t.branch(name)?.branch_type()?;
                let w = match ty.shape {
                    Shape::Scalar => 1,
                    Shape::Fixed(n) => n,
                    Shape::Counted(_) | Shape::Vector => cfg.max_len,
                };
                match widths.get(k) {
                    None => widths.push(w),
                    Some(&w0) if w0 != w => {
                        return Err(config(
                            &format!("feature `{name}`"),
                            format!("{w0} values per entry in one source, {w} in `{}`", t.path()),
                        ))
                    }
                    Some(_) => {}
                }
            }
        }
        let scalars = cfg
            .targets
            .iter()
            .chain(&cfg.weights)
            .cloned()
            .chain(cut.iter().flat_map(Cut::branches));
        let scalars: Vec<String> = scalars.collect();
        // Fail now, not mid-epoch, when a basket table does not cover the declared entries.
        for name in cfg.features.iter().chain(&scalars) {
            for t in &trees {
                t.branch(name)?.check(t.path())?;
            }
        }
        for name in scalars {
            for t in &trees {
                if t.branch(&name)?.branch_type()?.shape != Shape::Scalar {
                    return Err(config(
                        &format!("branch `{name}`"),
                        "targets, weights and cut branches must be scalars",
                    ));
                }
            }
        }
        Ok(Loader {
            cfg,
            trees,
            widths,
            cut,
        })
    }

    /// Features per row.
    pub fn row_len(&self) -> usize {
        self.widths.iter().sum()
    }

    /// Values each feature contributes to a row, in the order of `features` (1 for a scalar,
    /// the array length, or `max_len` for a jagged branch).
    pub fn feature_widths(&self) -> &[usize] {
        &self.widths
    }

    /// Entries per source, as the trees declare them.
    pub fn entries(&self) -> Vec<u64> {
        self.trees.iter().map(Tree::entries).collect()
    }

    /// Every row of `split` in memory (unshuffled order of the pass for epoch 0), for trainers
    /// that take a whole data set (`ferrograd_train::Dataset::new(&x, &labels, row_len)`).
    pub fn read_split(&self, split: Split) -> Result<Batch> {
        let mut all = Batch::default();
        let mut b = Batch::default();
        let mut it = self.batches(split, 0);
        while it.next_batch(&mut b)? {
            all.x.extend_from_slice(&b.x);
            all.labels.extend_from_slice(&b.labels);
            all.targets.extend_from_slice(&b.targets);
            all.weights.extend_from_slice(&b.weights);
            all.len += b.len;
        }
        Ok(all)
    }

    /// One pass over `split`; `epoch` varies the shuffle (seeded by `seed` and `epoch`).
    pub fn batches(&self, split: Split, epoch: u64) -> Batches<'_> {
        let mut chunks = Vec::new();
        for (s, t) in self.trees.iter().enumerate() {
            let mut start = 0;
            while start < t.entries() {
                let stop = t.entries().min(start + self.cfg.chunk_size);
                let cut = start
                    + ((stop - start) as f64 * (1.0 - self.cfg.validation_split)).round() as u64;
                let part = match split {
                    Split::Train => start..cut,
                    Split::Validation => cut..stop,
                };
                if !part.is_empty() {
                    chunks.push((s, part));
                }
                start = stop;
            }
        }
        let mut rng = SplitMix64(self.cfg.seed ^ epoch.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        if self.cfg.shuffle {
            shuffle(&mut chunks, &mut rng);
        }
        Batches {
            loader: self,
            readers: self.trees.iter().map(Tree::reader).collect(),
            chunks,
            next_chunk: 0,
            rng,
            cols: Vec::new(),
            rows: Rows::default(),
            order: Vec::new(),
            pos: 0,
        }
    }
}

/// Rows of the current buffer.
#[derive(Default)]
struct Rows {
    x: Vec<f32>,
    labels: Vec<u8>,
    targets: Vec<f32>,
    weights: Vec<f32>,
    len: usize,
}

/// A pass over the batches of one split.
pub struct Batches<'l> {
    loader: &'l Loader,
    readers: Vec<TreeReader<'l>>,
    chunks: Vec<(usize, Range<u64>)>,
    next_chunk: usize,
    rng: SplitMix64,
    cols: Vec<Column>,
    rows: Rows,
    order: Vec<usize>,
    pos: usize,
}

impl Batches<'_> {
    /// Fills `out` with the next batch; `false` when the pass is over.
    pub fn next_batch(&mut self, out: &mut Batch) -> Result<bool> {
        let cfg = &self.loader.cfg;
        let row_len = self.loader.row_len();
        let nt = cfg.targets.len();
        out.x.clear();
        out.labels.clear();
        out.targets.clear();
        out.weights.clear();
        out.len = 0;
        while out.len < cfg.batch_size {
            if self.pos == self.order.len() && !self.refill()? {
                break;
            }
            let r = self.order[self.pos];
            self.pos += 1;
            out.x
                .extend_from_slice(&self.rows.x[r * row_len..(r + 1) * row_len]);
            out.labels.push(self.rows.labels[r]);
            out.targets
                .extend_from_slice(&self.rows.targets[r * nt..(r + 1) * nt]);
            out.weights.push(self.rows.weights[r]);
            out.len += 1;
        }
        Ok(out.len > 0 && !(cfg.drop_remainder && out.len < cfg.batch_size))
    }

    /// Loads buffers until one has rows that pass the cut; `false` when no chunk is left.
    fn refill(&mut self) -> Result<bool> {
        while self.next_chunk < self.chunks.len() {
            self.load_buffer()?;
            if self.rows.len > 0 {
                self.order.clear();
                self.order.extend(0..self.rows.len);
                if self.loader.cfg.shuffle {
                    shuffle(&mut self.order, &mut self.rng);
                }
                self.pos = 0;
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Reads the next `buffer_chunks` chunks into `rows`, keeping the entries that pass the cut.
    fn load_buffer(&mut self) -> Result<()> {
        let loader = self.loader;
        let cfg = &loader.cfg;
        let rows = &mut self.rows;
        rows.x.clear();
        rows.labels.clear();
        rows.targets.clear();
        rows.weights.clear();
        rows.len = 0;
        let names: Vec<&String> = cfg
            .features
            .iter()
            .chain(&cfg.targets)
            .chain(&cfg.weights)
            .collect();
        let cut_names = loader.cut.as_ref().map(Cut::branches).unwrap_or_default();
        let ncols = names.len() + cut_names.len();
        self.cols.resize_with(ncols, Column::new);
        let mut loaded = 0;
        while loaded < cfg.buffer_chunks && self.next_chunk < self.chunks.len() {
            let (s, range) = self.chunks[self.next_chunk].clone();
            self.next_chunk += 1;
            loaded += 1;
            let reader = &mut self.readers[s];
            for (name, col) in names
                .iter()
                .map(|n| n.as_str())
                .chain(cut_names.iter().map(String::as_str))
                .zip(self.cols.iter_mut())
            {
                reader.read(name, range.clone(), col)?;
            }
            let (main, cut_cols) = self.cols.split_at(names.len());
            for i in 0..(range.end - range.start) as usize {
                if let Some(cut) = &loader.cut {
                    let value = |b: &str| {
                        cut_names
                            .iter()
                            .position(|n| n == b)
                            .and_then(|k| cut_cols[k].data().get_f64(i))
                            .unwrap_or(f64::NAN)
                    };
                    if !cut.eval(&value) {
                        continue;
                    }
                }
                let nf = cfg.features.len();
                for (k, col) in main[..nf].iter().enumerate() {
                    let width = loader.widths[k];
                    let e = col.entry(i);
                    let take = e.len().min(width);
                    for j in e.start..e.start + take {
                        rows.x.push(col.data().get_f32(j).unwrap_or(cfg.pad_value));
                    }
                    rows.x
                        .extend(std::iter::repeat_n(cfg.pad_value, width - take));
                }
                let targets = &main[nf..nf + cfg.targets.len()];
                for t in targets {
                    rows.targets.push(t.data().get_f32(i).unwrap_or(f32::NAN));
                }
                let label = match targets.first() {
                    Some(t) => {
                        let v = t.data().get_f64(i).unwrap_or(f64::NAN);
                        if !(0.0..=255.0).contains(&v) || v.fract() != 0.0 {
                            return Err(config(
                                &format!("target `{}`", cfg.targets[0]),
                                format!(
                                    "entry {} has {v}, not a class label 0..=255",
                                    range.start + i as u64
                                ),
                            ));
                        }
                        v as u8
                    }
                    None => cfg.sources[s].label.unwrap_or(0),
                };
                rows.labels.push(label);
                rows.weights.push(match &cfg.weights {
                    Some(_) => main[nf + cfg.targets.len()]
                        .data()
                        .get_f32(i)
                        .unwrap_or(f32::NAN),
                    None => 1.0,
                });
                rows.len += 1;
            }
        }
        Ok(())
    }
}

/// SplitMix64: small, seeded and reproducible on every platform.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

/// Fisher–Yates.
fn shuffle<T>(v: &mut [T], rng: &mut SplitMix64) {
    for i in (1..v.len()).rev() {
        let j = (rng.next() % (i as u64 + 1)) as usize;
        v.swap(i, j);
    }
}
