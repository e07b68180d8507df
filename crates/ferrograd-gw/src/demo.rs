//! The whole analysis, as `ferrograd gw-demo` runs it: simulate a training and a held-out
//! file, train the W2 CNN from the first through the ROOT loader, score the second, write the
//! results tree next to it, compute the search metrics and draw the plots.

use std::path::{Path, PathBuf};
use std::time::Instant;

use ferrograd_data::GwGenerator;
use ferrograd_root::Compression;

use crate::dataset::{read_example, write_dataset_with, DatasetConfig};
use crate::error::{GwError, Result};
use crate::metrics::{metrics, Metrics};
use crate::plots::{plot_efficiency, plot_losses, plot_roc, plot_strain, PlotFiles};
use crate::results::write_results;
use crate::train::{score, train, EpochLosses, TrainEvent, TrainSettings, TreeRef};

/// False-alarm probabilities the demo reports efficiencies at.
pub const FAPS: [f64; 2] = [1e-2, 1e-3];
/// Tree name of the data files.
pub const DATA_TREE: &str = "gw";
/// Tree name of the results file.
pub const RESULTS_TREE: &str = "results";

/// Everything the demo does, in one place.
#[derive(Clone, Debug, PartialEq)]
pub struct DemoConfig {
    /// Output directory (created if missing): data files, results tree, `plots/`.
    pub out: PathBuf,
    pub train_entries: usize,
    pub test_entries: usize,
    /// Injected SNRs, drawn uniformly.
    pub snr_range: (f64, f64),
    /// Training; its seed also seeds the data (training file `seed`, test file `seed + 1`).
    pub train: TrainSettings,
    pub compression: Compression,
    /// Bins of the efficiency-vs-SNR curve.
    pub snr_bins: usize,
}

/// Where the demo put its files.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DemoFiles {
    pub train: PathBuf,
    pub test: PathBuf,
    /// The results tree ([`RESULTS_TREE`]), entry `i` = entry `i` of the test file.
    pub results: PathBuf,
    pub plots_dir: PathBuf,
    pub plots: PlotFiles,
}

impl DemoFiles {
    /// The file layout under `out`.
    pub fn in_dir(out: &Path) -> Self {
        let plots_dir = out.join("plots");
        DemoFiles {
            train: out.join("gw_train.root"),
            test: out.join("gw_test.root"),
            results: out.join("gw_results.root"),
            plots: PlotFiles::in_dir(&plots_dir),
            plots_dir,
        }
    }
}

/// What the demo found.
#[derive(Clone, Debug)]
pub struct DemoReport {
    pub metrics: Metrics,
    pub history: Vec<EpochLosses>,
    pub files: DemoFiles,
    /// The test entry drawn in the strain plot.
    pub example_entry: u64,
    /// Seconds spent simulating and writing, training (with the per-epoch test scoring), and
    /// scoring, writing results and plotting.
    pub seconds: [f64; 3],
}

/// What the demo reports while it runs.
#[derive(Debug)]
pub enum DemoEvent<'a> {
    /// Entries of a data file written so far.
    Writing {
        file: &'a Path,
        done: u64,
        total: u64,
    },
    Train(TrainEvent<'a>),
    /// Training is over; scoring, results and plots follow.
    Analysing,
}

/// Runs the whole demo.
///
/// # Errors
/// [`GwError::Config`] for sizes or ranges out of bounds (see [`crate::write_dataset`],
/// [`crate::train()`]), [`GwError::Output`] if the directory or a plot cannot be written,
/// and the errors of each step.
pub fn run_demo(
    cfg: &DemoConfig,
    observer: &mut (dyn FnMut(DemoEvent<'_>) + Send),
) -> Result<DemoReport> {
    let files = DemoFiles::in_dir(&cfg.out);
    std::fs::create_dir_all(&files.plots_dir).map_err(|e| GwError::Output {
        path: files.plots_dir.clone(),
        reason: format!("cannot create the directory: {e}"),
    })?;
    let t0 = Instant::now();
    let seed = cfg.train.seed;
    for (path, n, seed) in [
        (&files.train, cfg.train_entries, seed),
        (&files.test, cfg.test_entries, seed.wrapping_add(1)),
    ] {
        let mut d = DatasetConfig::new(n, seed, cfg.snr_range);
        d.compression = cfg.compression;
        d.threads = cfg.train.threads;
        write_dataset_with(path, DATA_TREE, &d, &mut |done| {
            observer(DemoEvent::Writing {
                file: path,
                done,
                total: n as u64,
            })
        })?;
    }
    let t1 = Instant::now();

    let train_ref = TreeRef::new(&files.train, DATA_TREE);
    let test_ref = TreeRef::new(&files.test, DATA_TREE);
    let mut trained = train(&train_ref, &test_ref, &cfg.train, &mut |e| {
        observer(DemoEvent::Train(e))
    })?;
    let t2 = Instant::now();

    observer(DemoEvent::Analysing);
    let scored = score(&mut trained.net, &test_ref)?;
    write_results(&files.results, RESULTS_TREE, &scored)?;
    let (lo, hi) = cfg.snr_range;
    let range = if lo < hi {
        (lo, hi)
    } else {
        (lo - 1.0, hi + 1.0)
    };
    let m = metrics(
        &scored.log_odds,
        &scored.is_signal(),
        &scored.snr,
        &FAPS,
        range,
        cfg.snr_bins,
    )?;
    plot_roc(&files.plots.roc, &m)?;
    plot_losses(&files.plots.loss, &trained.history)?;
    plot_efficiency(&files.plots.efficiency, &m, range.0..range.1)?;

    // The strain plot: the first test signal in the upper half of the SNR range (visible by
    // eye), its injection rebuilt from the parameters stored in the tree.
    let mid = 0.5 * (lo + hi);
    let entry = (0..scored.labels.len())
        .find(|&i| scored.labels[i] == 1 && f64::from(scored.snr[i]) >= mid)
        .or_else(|| scored.labels.iter().position(|&l| l == 1))
        .ok_or_else(|| GwError::BadFile {
            path: files.test.clone(),
            reason: "no signal entry to plot".into(),
        })?;
    let ex = read_example(&files.test, DATA_TREE, entry as u64)?;
    let chirp = ex.chirp.ok_or_else(|| GwError::BadFile {
        path: files.test.clone(),
        reason: format!("entry {entry} is not a signal"),
    })?;
    let gw = DatasetConfig::new(2, seed, cfg.snr_range).gw;
    let mut injection = vec![0.0f32; ex.strain.len()];
    GwGenerator::new(gw.clone())?.injection_into(&chirp, &mut injection)?;
    let title = format!(
        "Test entry {entry}: chirp mass {:.1} M☉, q = {:.2}, SNR {:.1}, score {:.3}",
        chirp.chirp_mass,
        chirp.mass_ratio,
        chirp.snr,
        scored.probabilities()[entry]
    );
    plot_strain(
        &files.plots.strain,
        &ex.strain,
        &injection,
        gw.sample_rate,
        &title,
    )?;
    let t3 = Instant::now();
    Ok(DemoReport {
        metrics: m,
        history: trained.history,
        files,
        example_entry: entry as u64,
        seconds: [
            (t1 - t0).as_secs_f64(),
            (t2 - t1).as_secs_f64(),
            (t3 - t2).as_secs_f64(),
        ],
    })
}
