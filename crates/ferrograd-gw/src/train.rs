//! The W2 CNN trained from a data-set file through `ferrograd-root`'s loader, batch by batch
//! (memory bounded by the loader's shuffle buffer, not by the file), and scored on another
//! file in its entry order.

use std::path::{Path, PathBuf};

use ferrograd_root::{Batch, Loader, LoaderConfig, Source, Split};
use ferrograd_train::{with_threads, ModelSpec, Network, Optimizer, OptimizerConfig};

use crate::dataset::{LABEL, SNR, STRAIN};
use crate::error::{GwError, Result};

/// Entries read per loader chunk; the loader shuffles [`BUFFER_CHUNKS`] chunks together.
const CHUNK_ENTRIES: u64 = 1024;
const BUFFER_CHUNKS: usize = 4;

/// A tree in a file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TreeRef {
    pub path: PathBuf,
    pub tree: String,
}

impl TreeRef {
    pub fn new(path: impl Into<PathBuf>, tree: impl Into<String>) -> Self {
        TreeRef {
            path: path.into(),
            tree: tree.into(),
        }
    }
}

/// How to train.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TrainSettings {
    pub epochs: usize,
    pub batch: usize,
    pub optimizer: OptimizerConfig,
    /// Seed of the initialisation and of the loader's shuffling.
    pub seed: u64,
    /// Kernel threads (1 to [`ferrograd_train::MAX_THREADS`]).
    pub threads: usize,
}

impl Default for TrainSettings {
    /// Adam at 1e-3, batch 32, 4 epochs, one thread.
    fn default() -> Self {
        TrainSettings {
            epochs: 4,
            batch: 32,
            optimizer: OptimizerConfig::adam(1e-3),
            seed: 0,
            threads: 1,
        }
    }
}

/// Losses after one epoch.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct EpochLosses {
    /// 0-based.
    pub epoch: usize,
    /// Mean training loss over the epoch's batches (as the parameters moved).
    pub train_loss: f64,
    /// Mean loss on the test file at the epoch's end.
    pub test_loss: f64,
    /// ROC AUC on the test file at the epoch's end.
    pub test_auc: Option<f64>,
}

/// What training reports while it runs.
#[derive(Debug)]
pub enum TrainEvent<'a> {
    /// An epoch starts with this many batches.
    EpochStart { epoch: usize, batches: usize },
    /// Batch `batch` (0-based) of the epoch is done.
    Step { batch: usize, loss: f32 },
    /// The epoch ended and the test file was scored.
    EpochEnd(&'a EpochLosses),
}

/// Every entry of a test file, scored, in entry order.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Scored {
    /// `log p(signal) − log p(noise)`, the network's log-odds (not saturated, so thresholds
    /// at small false-alarm probabilities stay distinct).
    pub log_odds: Vec<f32>,
    pub labels: Vec<u8>,
    pub snr: Vec<f32>,
    /// Mean cross-entropy.
    pub loss: f64,
}

impl Scored {
    /// `p(signal)`, the logistic of the log-odds, in [0, 1].
    pub fn probabilities(&self) -> Vec<f32> {
        self.log_odds
            .iter()
            .map(|&z| (1.0 / (1.0 + f64::from(-z).exp())) as f32)
            .collect()
    }

    pub fn is_signal(&self) -> Vec<bool> {
        self.labels.iter().map(|&l| l == 1).collect()
    }
}

/// A trained network and its loss history.
#[derive(Debug)]
pub struct Trained {
    pub net: Network,
    pub history: Vec<EpochLosses>,
}

fn loader(data: &TreeRef, batch: usize, shuffle: bool, seed: u64) -> Result<Loader> {
    let mut cfg = LoaderConfig::new(
        vec![Source {
            path: data.path.clone(),
            tree: data.tree.clone(),
            label: None,
        }],
        vec![STRAIN.to_string()],
    );
    cfg.targets = vec![LABEL.to_string(), SNR.to_string()];
    cfg.batch_size = batch;
    cfg.chunk_size = CHUNK_ENTRIES;
    cfg.buffer_chunks = BUFFER_CHUNKS;
    cfg.shuffle = shuffle;
    cfg.seed = seed;
    Ok(Loader::new(cfg)?)
}

/// The model for a loader's rows (the strain length).
fn spec_for(loader: &Loader, path: &Path) -> Result<ModelSpec> {
    let spec = ModelSpec::GwCnn {
        len: loader.row_len(),
        classes: 2,
    };
    spec.validate().map_err(|e| GwError::BadFile {
        path: path.to_path_buf(),
        reason: format!("`{STRAIN}` entries do not fit the W2 CNN: {e}"),
    })?;
    Ok(spec)
}

/// Trains the W2 CNN on `train`, scoring `test` after every epoch; `observer` sees every
/// step (for progress bars).
///
/// # Errors
/// [`GwError::Config`] for zero epochs or batch, [`GwError::Root`] for a file or branch that
/// is missing or unreadable, [`GwError::BadFile`] for trees whose strain lengths differ or do
/// not fit the CNN, [`GwError::Diverged`] if the loss stops being finite.
pub fn train(
    train: &TreeRef,
    test: &TreeRef,
    settings: &TrainSettings,
    observer: &mut (dyn FnMut(TrainEvent<'_>) + Send),
) -> Result<Trained> {
    if settings.epochs == 0 || settings.batch == 0 {
        return Err(GwError::config(
            "training",
            format!(
                "{} epochs of batch {}; both must be at least 1",
                settings.epochs, settings.batch
            ),
        ));
    }
    let train_loader = loader(train, settings.batch, true, settings.seed)?;
    let spec = spec_for(&train_loader, &train.path)?;
    let test_loader = loader(test, settings.batch, false, 0)?;
    if test_loader.row_len() != spec.input_len() {
        return Err(GwError::BadFile {
            path: test.path.clone(),
            reason: format!(
                "`{STRAIN}` has {} samples per entry, the training file {}",
                test_loader.row_len(),
                spec.input_len()
            ),
        });
    }
    let n_train: u64 = train_loader.entries().iter().sum();
    let batches = n_train.div_ceil(settings.batch as u64) as usize;
    let mut net = Network::new(spec, settings.batch, settings.seed)?;
    let mut opt = Optimizer::new(settings.optimizer, net.params().len())?;
    let mut history = Vec::new();
    with_threads(settings.threads, || -> Result<()> {
        let mut b = Batch::default();
        let mut labels = Vec::with_capacity(settings.batch);
        for epoch in 0..settings.epochs {
            observer(TrainEvent::EpochStart { epoch, batches });
            let mut it = train_loader.batches(Split::Train, epoch as u64);
            let (mut sum, mut count, mut batch) = (0.0f64, 0usize, 0usize);
            while it.next_batch(&mut b)? {
                labels.clear();
                labels.extend(b.labels.iter().map(|&l| usize::from(l)));
                let loss = net.loss_and_grad(&b.x, &labels)?;
                if !loss.is_finite() {
                    return Err(GwError::Diverged { epoch, batch, loss });
                }
                net.step(&mut opt)?;
                sum += f64::from(loss);
                count += 1;
                observer(TrainEvent::Step { batch, loss });
                batch += 1;
            }
            let scored = score_with(&mut net, &test_loader)?;
            let losses = EpochLosses {
                epoch,
                train_loss: sum / count.max(1) as f64,
                test_loss: scored.loss,
                test_auc: ferrograd_train::metrics::roc_auc(&scored.log_odds, &scored.is_signal()),
            };
            observer(TrainEvent::EpochEnd(&losses));
            history.push(losses);
        }
        Ok(())
    })??;
    Ok(Trained { net, history })
}

/// Scores every entry of `data` with `net`, in entry order.
///
/// # Errors
/// As [`train`] for the file; [`GwError::BadFile`] if its strain length is not the model's.
pub fn score(net: &mut Network, data: &TreeRef) -> Result<Scored> {
    let l = loader(data, net.max_batch(), false, 0)?;
    if l.row_len() != net.spec().input_len() {
        return Err(GwError::BadFile {
            path: data.path.clone(),
            reason: format!(
                "`{STRAIN}` has {} samples per entry; the model takes {}",
                l.row_len(),
                net.spec().input_len()
            ),
        });
    }
    score_with(net, &l)
}

fn score_with(net: &mut Network, l: &Loader) -> Result<Scored> {
    let mut out = Scored::default();
    let mut b = Batch::default();
    let mut labels = Vec::with_capacity(net.max_batch());
    let mut it = l.batches(Split::Train, 0);
    let mut loss_sum = 0.0f64;
    while it.next_batch(&mut b)? {
        labels.clear();
        labels.extend(b.labels.iter().map(|&l| usize::from(l)));
        let loss = net.forward(&b.x, &labels)?;
        loss_sum += f64::from(loss) * b.len as f64;
        out.log_odds
            .extend(net.logits().chunks_exact(2).map(|r| r[1] - r[0]));
        out.labels.extend_from_slice(&b.labels);
        // Targets are (label, snr) per row.
        out.snr.extend(b.targets.chunks_exact(2).map(|t| t[1]));
    }
    out.loss = loss_sum / out.labels.len().max(1) as f64;
    Ok(out)
}
