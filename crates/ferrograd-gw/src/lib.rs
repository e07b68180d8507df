//! # ferrograd-gw — the gravitational-wave analysis workflow
//!
//! The pieces `ferrograd gw-demo` puts together ([`run_demo`]), each usable alone (the C ABI
//! calls [`write_dataset`]):
//!
//! 1. [`write_dataset`]: simulated whitened strain (TaylorT3 chirps in aLIGO design noise,
//!    from `ferrograd-data`) written to a ROOT tree: `strain[2048]/F`, `label/b`, `snr/F` and
//!    the injection parameters.
//! 2. [`train()`]: the W2 1D-CNN trained from such a file through `ferrograd-root`'s loader,
//!    batch by batch (shuffled within a bounded buffer), scoring a held-out file each epoch.
//! 3. [`score`] + [`metrics()`]: ROC AUC, detection efficiency at false-alarm probabilities
//!    (thresholds from the noise-only scores), efficiency vs SNR.
//! 4. [`write_results`]: a results tree (`index`, `score`, `log_odds`, `label`, `snr`) in the
//!    test file's entry order, for `AddFriend`.
//! 5. [`plots`]: ROC, loss curves, efficiency vs SNR and a strain segment with its chirp, as
//!    PNG.
//!
//! Every function returns [`GwError`] on bad input; nothing panics.

mod dataset;
mod demo;
mod error;
mod metrics;
pub mod plots;
mod results;
mod train;

pub use dataset::{
    read_example, write_dataset, write_dataset_with, DatasetConfig, DatasetInfo, Example,
    CHIRP_MASS, LABEL, MASS_RATIO, MAX_ENTRIES, MERGER_TIME, PHASE, SNR, STRAIN,
};
pub use demo::{
    run_demo, DemoConfig, DemoEvent, DemoFiles, DemoReport, DATA_TREE, FAPS, RESULTS_TREE,
};
pub use error::{GwError, Result};
pub use ferrograd_root::Compression;
pub use metrics::{metrics, roc_curve, FapPoint, Metrics, SnrBin};
pub use results::{write_results, RESULT_BRANCHES};
pub use train::{score, train, EpochLosses, Scored, TrainEvent, TrainSettings, Trained, TreeRef};
