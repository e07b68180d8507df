//! The training loop: seeded shuffled batches, one allocation-free step per batch,
//! per-epoch statistics, evaluation, checkpoints and resume.

use std::path::{Path, PathBuf};
use std::time::Instant;

use ferrograd_data::EpochOrder;

use crate::checkpoint::{self, Checkpoint};
use crate::metrics::{count_correct, efficiency_at_far, roc_auc};
use crate::{ModelSpec, Network, Optimizer, OptimizerConfig, TrainError};

/// A borrowed labelled data set `x: [n, row_len]`, `y: [n]`.
#[derive(Debug, Clone, Copy)]
pub struct Dataset<'a> {
    pub x: &'a [f32],
    pub y: &'a [u8],
    pub row_len: usize,
}

impl<'a> Dataset<'a> {
    /// Checks that `x` holds `y.len()` rows of `row_len` values.
    ///
    /// # Errors
    /// [`TrainError::Config`] otherwise.
    pub fn new(x: &'a [f32], y: &'a [u8], row_len: usize) -> Result<Self, TrainError> {
        if row_len == 0 || y.is_empty() || Some(x.len()) != y.len().checked_mul(row_len) {
            return Err(TrainError::config(
                "data set",
                format!(
                    "{} values for {} labels of rows of {row_len} values",
                    x.len(),
                    y.len()
                ),
            ));
        }
        Ok(Dataset { x, y, row_len })
    }

    /// The first `n` examples (all if `n` is larger).
    pub fn take(&self, n: usize) -> Dataset<'a> {
        let n = n.min(self.y.len());
        Dataset {
            x: &self.x[..n * self.row_len],
            y: &self.y[..n],
            row_len: self.row_len,
        }
    }

    /// Number of examples.
    pub fn len(&self) -> usize {
        self.y.len()
    }

    /// Whether there are no examples (never, for a value built by [`Dataset::new`]).
    pub fn is_empty(&self) -> bool {
        self.y.is_empty()
    }
}

/// How to train.
#[derive(Debug, Clone, PartialEq)]
pub struct TrainConfig {
    /// Train until this many epochs are complete.
    pub epochs: u64,
    pub batch_size: usize,
    /// Seeds the initialisation and the shuffling.
    pub seed: u64,
    pub optimizer: OptimizerConfig,
    /// Where to write checkpoints (at every epoch end and every `checkpoint_every` steps).
    pub checkpoint: Option<PathBuf>,
    pub checkpoint_every: Option<u64>,
    /// False-alarm probability for the efficiency metric of binary classifiers.
    pub far: f64,
}

impl TrainConfig {
    /// `epochs` epochs of `batch_size`, no checkpoints, FAR 1%.
    pub fn new(epochs: u64, batch_size: usize, seed: u64, optimizer: OptimizerConfig) -> Self {
        TrainConfig {
            epochs,
            batch_size,
            seed,
            optimizer,
            checkpoint: None,
            checkpoint_every: None,
            far: 0.01,
        }
    }
}

/// Running sums over the current epoch (saved in checkpoints so a resumed epoch reports the
/// same numbers).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct EpochAccum {
    pub loss_sum: f64,
    pub correct: u64,
    pub seen: u64,
}

/// What one training step did.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StepInfo {
    /// Global step number (1-based: the number of steps taken so far).
    pub step: u64,
    pub epoch: u64,
    /// Batch index within the epoch of this step.
    pub batch: usize,
    pub batches_per_epoch: usize,
    pub loss: f32,
    /// Seconds spent in forward + backward + update.
    pub seconds: f64,
}

/// Metrics on a held-out set.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EvalReport {
    pub examples: usize,
    pub loss: f64,
    pub accuracy: f64,
    /// ROC AUC of `logit₁ − logit₀` (two-class models only).
    pub auc: Option<f64>,
    /// `(false-alarm probability, efficiency)` (two-class models only).
    pub efficiency: Option<(f64, f64)>,
}

/// The result of one epoch.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EpochReport {
    /// 0-based epoch that just finished.
    pub epoch: u64,
    pub train_loss: f64,
    pub train_accuracy: f64,
    pub test: Option<EvalReport>,
}

/// Something the loop reports to its observer (progress bars, logs).
#[derive(Debug)]
pub enum Event<'a> {
    Step(&'a StepInfo),
    Epoch(&'a EpochReport),
    Checkpoint(&'a Path),
}

/// A model, its optimizer, the batch order and the bookkeeping of a run.
#[derive(Debug)]
pub struct Trainer {
    net: Network,
    opt: Optimizer,
    order: EpochOrder,
    cfg: TrainConfig,
    step: u64,
    accum: EpochAccum,
    /// Sums of the epoch that ended last (set when `train_step` reaches an epoch's end).
    finished: EpochAccum,
    xbuf: Vec<f32>,
    ybuf: Vec<usize>,
    step_seconds: Vec<f64>,
    last_checkpoint: Option<PathBuf>,
}

impl Trainer {
    /// A fresh run of `spec` on a training set of `n_train` examples.
    ///
    /// # Errors
    /// [`TrainError::Config`] for invalid settings.
    pub fn new(spec: ModelSpec, cfg: TrainConfig, n_train: usize) -> Result<Self, TrainError> {
        let net = Network::new(spec, cfg.batch_size, cfg.seed)?;
        Self::with_network(net, cfg, n_train)
    }

    /// A fresh run starting from the given network (its parameters are kept).
    ///
    /// # Errors
    /// [`TrainError::Config`] for invalid settings or a batch size different from the
    /// network's.
    pub fn with_network(
        net: Network,
        cfg: TrainConfig,
        n_train: usize,
    ) -> Result<Self, TrainError> {
        if cfg.batch_size != net.max_batch() {
            return Err(TrainError::config(
                "batch size",
                format!(
                    "{} but the network was built for {}",
                    cfg.batch_size,
                    net.max_batch()
                ),
            ));
        }
        if n_train == 0 {
            return Err(TrainError::config("training set", "is empty"));
        }
        if let Some(0) = cfg.checkpoint_every {
            return Err(TrainError::config(
                "checkpoint interval",
                "must be at least 1 step",
            ));
        }
        let opt = Optimizer::new(cfg.optimizer, net.params().len())?;
        let order = EpochOrder::new(n_train, cfg.batch_size, cfg.seed)?;
        let batches = order.batches_per_epoch() as u64;
        let capacity =
            usize::try_from(cfg.epochs.saturating_mul(batches).min(1 << 24)).unwrap_or(0);
        let row = net.spec().input_len();
        Ok(Trainer {
            xbuf: vec![0.0; cfg.batch_size * row],
            ybuf: vec![0; cfg.batch_size],
            step_seconds: Vec::with_capacity(capacity),
            net,
            opt,
            order,
            cfg,
            step: 0,
            accum: EpochAccum::default(),
            finished: EpochAccum::default(),
            last_checkpoint: None,
        })
    }

    /// Continues the run saved in `path`. `cfg` must describe the same run (model, batch size,
    /// seed, optimizer kind and training-set size are checked); its `epochs`, checkpoint
    /// settings and learning rate apply from now on.
    ///
    /// # Errors
    /// [`TrainError::Checkpoint`] for an unreadable or mismatching checkpoint.
    pub fn resume(
        path: &Path,
        spec: ModelSpec,
        cfg: TrainConfig,
        n_train: usize,
    ) -> Result<Self, TrainError> {
        let ck = checkpoint::load(path)?;
        let mismatch = |what: &str, saved: String, now: String| TrainError::Checkpoint {
            path: path.to_owned(),
            reason: format!("it was saved with {what} {saved}, this run uses {now}"),
        };
        if ck.spec != spec {
            return Err(mismatch("model", ck.spec.tag(), spec.tag()));
        }
        if ck.batch_size != cfg.batch_size {
            return Err(mismatch(
                "batch size",
                ck.batch_size.to_string(),
                cfg.batch_size.to_string(),
            ));
        }
        if ck.seed != cfg.seed {
            return Err(mismatch("seed", ck.seed.to_string(), cfg.seed.to_string()));
        }
        if ck.n_train != n_train {
            return Err(mismatch(
                "training-set size",
                ck.n_train.to_string(),
                n_train.to_string(),
            ));
        }
        if ck.optimizer.kind() != cfg.optimizer.kind() {
            return Err(mismatch(
                "optimizer",
                ck.optimizer.kind().into(),
                cfg.optimizer.kind().into(),
            ));
        }
        let mut t = Self::new(spec, cfg, n_train)?;
        if ck.params.len() != t.net.params().len() {
            return Err(TrainError::Checkpoint {
                path: path.to_owned(),
                reason: "parameter count does not match the model".into(),
            });
        }
        t.net.params_mut().copy_from_slice(&ck.params);
        t.opt
            .restore(&ck.state1, &ck.state2, ck.opt_steps)
            .map_err(|e| TrainError::Checkpoint {
                path: path.to_owned(),
                reason: e.to_string(),
            })?;
        t.order.seek(ck.epoch, ck.batch_in_epoch)?;
        t.step = ck.step;
        t.accum = ck.accum;
        t.last_checkpoint = Some(path.to_owned());
        Ok(t)
    }

    /// The network (parameters, spec).
    pub fn network(&self) -> &Network {
        &self.net
    }

    /// Mutable network (e.g. for evaluation).
    pub fn network_mut(&mut self) -> &mut Network {
        &mut self.net
    }

    /// The optimizer.
    pub fn optimizer(&self) -> &Optimizer {
        &self.opt
    }

    /// The configuration.
    pub fn config(&self) -> &TrainConfig {
        &self.cfg
    }

    /// Steps taken (over all epochs, including those before a resume).
    pub fn steps(&self) -> u64 {
        self.step
    }

    /// The current epoch (0-based) and the index of the next batch in it.
    pub fn position(&self) -> (u64, usize) {
        (self.order.epoch(), self.order.batch_in_epoch())
    }

    /// Batches per epoch.
    pub fn batches_per_epoch(&self) -> usize {
        self.order.batches_per_epoch()
    }

    /// The running sums of the current epoch.
    pub fn accum(&self) -> EpochAccum {
        self.accum
    }

    /// Durations (seconds) of the steps taken in this process.
    pub fn step_seconds(&self) -> &[f64] {
        &self.step_seconds
    }

    /// The last checkpoint written or resumed from.
    pub fn last_checkpoint(&self) -> Option<&Path> {
        self.last_checkpoint.as_deref()
    }

    /// One training step on the next batch of `data`; `None` when the epoch is exhausted
    /// (the order has then moved to the next epoch). Allocation-free after the first call
    /// unless it writes a checkpoint.
    ///
    /// # Errors
    /// [`TrainError::NonFiniteLoss`] (the parameters are not updated), kernel or data errors,
    /// or a failed checkpoint write.
    pub fn train_step(&mut self, data: &Dataset<'_>) -> Result<Option<StepInfo>, TrainError> {
        if data.row_len != self.net.spec().input_len() || data.len() != self.order.n_examples() {
            return Err(TrainError::config(
                "training set",
                format!(
                    "{} examples of {} values; the trainer expects {} of {}",
                    data.len(),
                    data.row_len,
                    self.order.n_examples(),
                    self.net.spec().input_len()
                ),
            ));
        }
        let (epoch, batch) = self.position();
        let batches_per_epoch = self.order.batches_per_epoch();
        let Some(indices) = self.order.next_indices() else {
            // Epoch over: its sums become the finished epoch's, the next one starts at zero.
            self.finished = std::mem::take(&mut self.accum);
            return Ok(None);
        };
        // Not `ferrograd_data::gather_batch`: its size check builds an error `String` eagerly
        // (`ok_or` instead of `ok_or_else`), one allocation per batch. The lengths here were
        // checked above, and `indices` come from an order over `data.len()` examples.
        let rows = indices.len();
        let row = data.row_len;
        for ((&i, xr), yr) in indices
            .iter()
            .zip(self.xbuf.chunks_exact_mut(row))
            .zip(self.ybuf.iter_mut())
        {
            xr.copy_from_slice(&data.x[i * row..(i + 1) * row]);
            *yr = usize::from(data.y[i]);
        }
        let (x, y) = (&self.xbuf[..rows * data.row_len], &self.ybuf[..rows]);
        let t0 = Instant::now();
        let loss = self.net.loss_and_grad(x, y)?;
        if !loss.is_finite() {
            // Put the order back so that the failing batch is the next one again.
            self.order.seek(epoch, batch)?;
            return Err(TrainError::NonFiniteLoss {
                loss,
                step: self.step + 1,
                epoch,
                batch,
                last_checkpoint: self.last_checkpoint.clone(),
            });
        }
        let correct = count_correct(self.net.logits(), y, self.net.spec().classes());
        self.net.step(&mut self.opt)?;
        let seconds = t0.elapsed().as_secs_f64();
        if self.step_seconds.len() < self.step_seconds.capacity() {
            self.step_seconds.push(seconds);
        }
        self.step += 1;
        self.accum.loss_sum += f64::from(loss) * rows as f64;
        self.accum.correct += correct as u64;
        self.accum.seen += rows as u64;
        let info = StepInfo {
            step: self.step,
            epoch,
            batch,
            batches_per_epoch,
            loss,
            seconds,
        };
        if let (Some(every), Some(_)) = (self.cfg.checkpoint_every, &self.cfg.checkpoint) {
            if self.step % every == 0 {
                self.save_checkpoint()?;
            }
        }
        Ok(Some(info))
    }

    /// Writes a checkpoint to the configured path (no-op without one); returns the path.
    ///
    /// # Errors
    /// [`TrainError::Io`] / [`TrainError::Checkpoint`] if writing fails.
    pub fn save_checkpoint(&mut self) -> Result<Option<PathBuf>, TrainError> {
        let Some(path) = self.cfg.checkpoint.clone() else {
            return Ok(None);
        };
        let (epoch, batch_in_epoch) = self.position();
        let (s1, s2) = self.opt.state();
        let ck = Checkpoint {
            spec: self.net.spec(),
            optimizer: *self.opt.config(),
            params: self.net.params().to_vec(),
            state1: s1.to_vec(),
            state2: s2.to_vec(),
            opt_steps: self.opt.steps(),
            step: self.step,
            epoch,
            batch_in_epoch,
            seed: self.cfg.seed,
            batch_size: self.cfg.batch_size,
            n_train: self.order.n_examples(),
            accum: self.accum,
        };
        checkpoint::save(&path, &ck, self.net.param_infos())?;
        self.last_checkpoint = Some(path.clone());
        Ok(Some(path))
    }

    /// Trains until [`TrainConfig::epochs`] epochs are complete, evaluating on `test` after
    /// each epoch and checkpointing at each epoch end. Returns the epochs run in this call.
    ///
    /// # Errors
    /// As [`Trainer::train_step`] and [`evaluate`].
    pub fn fit(
        &mut self,
        train: &Dataset<'_>,
        test: Option<&Dataset<'_>>,
        observer: &mut dyn FnMut(Event<'_>),
    ) -> Result<Vec<EpochReport>, TrainError> {
        let mut reports = Vec::new();
        while self.order.epoch() < self.cfg.epochs {
            let epoch = self.order.epoch();
            while let Some(info) = self.train_step(train)? {
                observer(Event::Step(&info));
            }
            let report = self.finish_epoch(epoch, test)?;
            observer(Event::Epoch(&report));
            if let Some(p) = self.save_checkpoint()? {
                observer(Event::Checkpoint(&p));
            }
            reports.push(report);
        }
        Ok(reports)
    }

    fn finish_epoch(
        &mut self,
        epoch: u64,
        test: Option<&Dataset<'_>>,
    ) -> Result<EpochReport, TrainError> {
        let a = self.finished;
        let seen = a.seen.max(1) as f64;
        let test = match test {
            Some(d) => Some(evaluate(&mut self.net, d, self.cfg.far)?),
            None => None,
        };
        Ok(EpochReport {
            epoch,
            train_loss: a.loss_sum / seen,
            train_accuracy: a.correct as f64 / seen,
            test,
        })
    }
}

/// Median of the step durations after `warmup` steps, in milliseconds (`None` if too few).
pub fn median_ms(seconds: &[f64], warmup: usize) -> Option<f64> {
    let mut v: Vec<f64> = seconds.iter().skip(warmup).copied().collect();
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    let m = if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    };
    Some(m * 1e3)
}

/// Loss and accuracy of `net` on `data` (in batches of the arena's size); for two-class
/// models also the ROC AUC of `logit₁ − logit₀` and the efficiency at false-alarm
/// probability `far`.
///
/// # Errors
/// [`TrainError::Config`] if the rows do not match the model, kernel errors for bad labels.
pub fn evaluate(net: &mut Network, data: &Dataset<'_>, far: f64) -> Result<EvalReport, TrainError> {
    let row = net.spec().input_len();
    if data.row_len != row {
        return Err(TrainError::config(
            "evaluation set",
            format!("rows of {} values; the model takes {row}", data.row_len),
        ));
    }
    let classes = net.spec().classes();
    let bs = net.max_batch();
    let mut labels = vec![0usize; bs];
    let binary = classes == 2;
    let mut scores = Vec::with_capacity(if binary { data.len() } else { 0 });
    let (mut loss_sum, mut correct) = (0.0f64, 0usize);
    for (xc, yc) in data.x.chunks(bs * row).zip(data.y.chunks(bs)) {
        let n = yc.len();
        for (l, &y) in labels.iter_mut().zip(yc) {
            *l = usize::from(y);
        }
        let loss = net.forward(xc, &labels[..n])?;
        loss_sum += f64::from(loss) * n as f64;
        let logits = net.logits();
        correct += count_correct(logits, &labels[..n], classes);
        if binary {
            scores.extend(logits.chunks_exact(2).map(|r| r[1] - r[0]));
        }
    }
    let n = data.len();
    let (auc, efficiency) = if binary {
        let truth: Vec<bool> = data.y.iter().map(|&y| y == 1).collect();
        (
            roc_auc(&scores, &truth),
            efficiency_at_far(&scores, &truth, far).map(|(_, e)| (far, e)),
        )
    } else {
        (None, None)
    };
    Ok(EvalReport {
        examples: n,
        loss: loss_sum / n.max(1) as f64,
        accuracy: correct as f64 / n.max(1) as f64,
        auc,
        efficiency,
    })
}
