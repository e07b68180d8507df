//! The training loop: seeded shuffled batches, one allocation-free step per batch,
//! per-epoch statistics, evaluation, checkpoints and resume.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use ferrograd_data::EpochOrder;

use crate::checkpoint::{self, Checkpoint, Owner};
use crate::metrics::{count_correct, efficiency_at_far, roc_auc};
use crate::{Model, ModelSpec, Network, Optimizer, OptimizerConfig, TrainError};

/// A borrowed labelled data set `x: [n, row_len]`, `y: [n]`, optionally with event weights
/// `w: [n]` (then the loss is the weighted mean, [`crate::weighted`]; MLP only).
#[derive(Debug, Clone, Copy)]
pub struct Dataset<'a> {
    pub x: &'a [f32],
    pub y: &'a [u8],
    pub row_len: usize,
    pub w: Option<&'a [f32]>,
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
        Ok(Dataset {
            x,
            y,
            row_len,
            w: None,
        })
    }

    /// The first `n` examples (all if `n` is larger).
    pub fn take(&self, n: usize) -> Dataset<'a> {
        let n = n.min(self.y.len());
        Dataset {
            x: &self.x[..n * self.row_len],
            y: &self.y[..n],
            row_len: self.row_len,
            w: self.w.map(|w| &w[..n]),
        }
    }

    /// The same examples with event weights `w: [n]`, each finite.
    ///
    /// # Errors
    /// [`TrainError::Config`] for a length other than the number of examples or a weight
    /// that is not finite.
    pub fn with_weights(self, w: &'a [f32]) -> Result<Self, TrainError> {
        if w.len() != self.y.len() {
            return Err(TrainError::config(
                "data set",
                format!("{} weights for {} examples", w.len(), self.y.len()),
            ));
        }
        if let Some(i) = w.iter().position(|v| !v.is_finite()) {
            return Err(TrainError::config(
                "data set",
                format!("weight {} of example {i} is not finite", w[i]),
            ));
        }
        Ok(Dataset { w: Some(w), ..self })
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
    /// Where to write checkpoints (at every epoch end and every `checkpoint_every` steps; the
    /// state after step `k` is written during step `k + 1`, once its loss and gradient have
    /// been found finite, so a checkpoint never holds a state that diverges on its next step).
    pub checkpoint: Option<PathBuf>,
    pub checkpoint_every: Option<u64>,
    /// False-alarm probability for the efficiency metric of binary classifiers.
    pub far: f64,
    /// Replace a file at `checkpoint` that is not this run's checkpoint (otherwise that is an
    /// error, raised before training starts).
    pub overwrite: bool,
    /// What to do when the loss, the gradient norm or the parameters stop being finite.
    pub on_non_finite: NonFinitePolicy,
    /// Settings of the run recorded in its checkpoints ([`Checkpoint::run_args`]).
    pub run_args: BTreeMap<String, String>,
}

/// What [`Trainer::fit`] does when the state stops being finite (a NaN or infinite loss, a
/// gradient or parameter norm that overflows `f32`).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub enum NonFinitePolicy {
    /// Stop with [`TrainError::NonFiniteLoss`], naming the last good checkpoint.
    #[default]
    Stop,
    /// Go back to the last finite state (the last checkpoint, or epoch end without a
    /// checkpoint path) and continue with the learning rate multiplied by `lr_factor`; stop as
    /// [`NonFinitePolicy::Stop`] does after `max_rollbacks` rollbacks.
    Rollback { lr_factor: f32, max_rollbacks: u32 },
}

impl NonFinitePolicy {
    /// Rollback with the learning rate divided by 10 each time, at most 5 times.
    pub const ROLLBACK: NonFinitePolicy = NonFinitePolicy::Rollback {
        lr_factor: 0.1,
        max_rollbacks: 5,
    };
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
            overwrite: false,
            on_non_finite: NonFinitePolicy::Stop,
            run_args: BTreeMap::new(),
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
    /// The state stopped being finite; training went back to the last finite state, now at
    /// global step `step`, and continues with learning rate `lr`.
    Rollback {
        error: &'a TrainError,
        step: u64,
        lr: f32,
    },
}

/// A model, its optimizer, the batch order and the bookkeeping of a run. `M` is any
/// [`Model`] (by default the built-in ones, [`ModelSpec`]); its checkpoints record the model's
/// [`Model::name`], and resuming checks it against the model given.
#[derive(Debug)]
pub struct Trainer<M: Model + Clone = ModelSpec> {
    net: Network<M>,
    opt: Optimizer,
    order: EpochOrder,
    cfg: TrainConfig,
    step: u64,
    accum: EpochAccum,
    /// Sums of the epoch that ended last (set when `train_step` reaches an epoch's end).
    finished: EpochAccum,
    xbuf: Vec<f32>,
    ybuf: Vec<usize>,
    /// Event weights of the batch (used when the training set has weights).
    wbuf: Vec<f32>,
    step_seconds: Vec<f64>,
    last_checkpoint: Option<PathBuf>,
    /// Identifies the run in its checkpoints.
    run_id: String,
    /// Factor on the configured learning rate (lowered by rollbacks).
    lr_scale: f32,
    rollbacks: u32,
    /// The last finite state (kept only with [`NonFinitePolicy::Rollback`]).
    last_good: Option<Checkpoint<M>>,
    /// May the next save replace a file that is not this run's checkpoint?
    may_replace: bool,
    /// Identity of the checkpoint file this run wrote or resumed from last ([`file_id`]).
    written: Option<FileId>,
    /// A checkpoint is due: it is written by the next step, once that step has found the
    /// state's loss and gradient finite (so a checkpoint never holds a state that diverges).
    pending: bool,
}

/// Where a run is: what a checkpoint records besides the tensors.
#[derive(Debug, Clone, Copy)]
struct Position {
    epoch: u64,
    batch: usize,
    step: u64,
    accum: EpochAccum,
}

/// A new run id: 16 hex digits from the clock, the process id and a counter.
fn new_run_id() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    let mut x = nanos
        ^ (u64::from(std::process::id()) << 32)
        ^ COUNTER
            .fetch_add(1, Ordering::Relaxed)
            .wrapping_mul(0x9e37_79b9_7f4a_7c15);
    // SplitMix64 finaliser.
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    format!("{:016x}", x ^ (x >> 31))
}

/// Device, inode, length and modification time: changes when another process replaces or
/// rewrites the file.
type FileId = (u64, u64, u64, i64, i64);

#[cfg(unix)]
fn file_id(path: &Path) -> Option<FileId> {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(path)
        .ok()
        .map(|m| (m.dev(), m.ino(), m.len(), m.mtime(), m.mtime_nsec()))
}

#[cfg(not(unix))]
fn file_id(_path: &Path) -> Option<FileId> {
    None
}

/// Sum of squares in `f32` (eight-way split so that it vectorises): infinite or NaN exactly
/// when some value is non-finite or the norm overflows `f32` (≳ 1.8e19).
fn sum_sq(v: &[f32]) -> f32 {
    let mut acc = [0.0f32; 8];
    let chunks = v.chunks_exact(8);
    let rest: f32 = chunks.remainder().iter().map(|x| x * x).sum();
    for c in chunks {
        for (a, x) in acc.iter_mut().zip(c) {
            *a += x * x;
        }
    }
    acc.iter().sum::<f32>() + rest
}

impl<M: Model + Clone> Trainer<M> {
    /// A fresh run of `spec` on a training set of `n_train` examples.
    ///
    /// # Errors
    /// [`TrainError::Config`] for invalid settings.
    pub fn new(spec: M, cfg: TrainConfig, n_train: usize) -> Result<Self, TrainError> {
        check_batch_size(cfg.batch_size, n_train)?;
        let net = Network::new(spec, cfg.batch_size, cfg.seed)?;
        Self::with_network(net, cfg, n_train)
    }

    /// A fresh run starting from the given network (its parameters are kept).
    ///
    /// # Errors
    /// [`TrainError::Config`] for invalid settings or a batch size different from the
    /// network's.
    pub fn with_network(
        net: Network<M>,
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
        check_batch_size(cfg.batch_size, n_train)?;
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
        let row = net.model().input_len();
        if let NonFinitePolicy::Rollback { lr_factor, .. } = cfg.on_non_finite {
            if !(lr_factor > 0.0 && lr_factor < 1.0) {
                return Err(TrainError::config(
                    "rollback learning-rate factor",
                    format!("{lr_factor}; must be in (0, 1)"),
                ));
            }
        }
        let may_replace = cfg.overwrite;
        let run_id = new_run_id();
        if let Some(path) = &cfg.checkpoint {
            checkpoint::check_writable(path)?;
            if !may_replace {
                check_owner(path, &run_id)?;
            }
        }
        let mut t = Trainer {
            xbuf: vec![0.0; cfg.batch_size * row],
            ybuf: vec![0; cfg.batch_size],
            wbuf: vec![0.0; cfg.batch_size],
            step_seconds: Vec::with_capacity(capacity),
            net,
            opt,
            order,
            cfg,
            step: 0,
            accum: EpochAccum::default(),
            finished: EpochAccum::default(),
            last_checkpoint: None,
            run_id,
            lr_scale: 1.0,
            rollbacks: 0,
            last_good: None,
            may_replace,
            written: None,
            pending: false,
        };
        if matches!(t.cfg.on_non_finite, NonFinitePolicy::Rollback { .. }) {
            t.last_good = Some(t.snapshot(t.here()));
        }
        Ok(t)
    }

    /// Continues the run saved in `path`. `cfg` must describe the same run: model, batch
    /// size, seed, training-set size and every optimizer hyper-parameter are checked against
    /// the checkpoint (a difference is an error; see [`Trainer::resume_with_optimizer`] to
    /// change the optimizer's values). Its `epochs`, checkpoint settings, non-finite policy and
    /// `run_args` apply from now on. The run keeps its id, learning-rate scale and rollback
    /// count.
    ///
    /// # Errors
    /// [`TrainError::Checkpoint`] for an unreadable, damaged or mismatching checkpoint.
    pub fn resume(
        path: &Path,
        spec: M,
        cfg: TrainConfig,
        n_train: usize,
    ) -> Result<Self, TrainError> {
        Self::resume_impl(path, spec, cfg, n_train, false)
    }

    /// As [`Trainer::resume`], but `cfg.optimizer`'s hyper-parameters replace the checkpoint's
    /// (the kind must still match; the learning-rate scale of past rollbacks is reset to 1).
    ///
    /// # Errors
    /// As [`Trainer::resume`].
    pub fn resume_with_optimizer(
        path: &Path,
        spec: M,
        cfg: TrainConfig,
        n_train: usize,
    ) -> Result<Self, TrainError> {
        Self::resume_impl(path, spec, cfg, n_train, true)
    }

    fn resume_impl(
        path: &Path,
        spec: M,
        mut cfg: TrainConfig,
        n_train: usize,
        new_optimizer: bool,
    ) -> Result<Self, TrainError> {
        let mismatch = |what: &str, saved: String, now: String| TrainError::Checkpoint {
            path: path.to_owned(),
            reason: format!(
                "it was saved with {what} {saved}, this run uses {now}; use the checkpoint's value"
            ),
        };
        let ck = checkpoint::load_with(path, |saved| {
            if saved == spec.name() {
                Ok(spec.clone())
            } else {
                Err(mismatch("model", saved.to_owned(), spec.name()))
            }
        })?;
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
        if !new_optimizer && ck.optimizer != cfg.optimizer {
            return Err(mismatch(
                "optimizer settings",
                format!("{:?}", ck.optimizer),
                format!("{:?}", cfg.optimizer),
            ));
        }
        // The file is this run's own checkpoint: it may be replaced.
        cfg.overwrite = true;
        let mut t = Self::new(spec, cfg, n_train)?;
        if ck.params.len() != t.net.params().len() {
            return Err(TrainError::Checkpoint {
                path: path.to_owned(),
                reason: "parameter count does not match the model".into(),
            });
        }
        let mut ck = ck;
        if new_optimizer && ck.optimizer != t.cfg.optimizer {
            ck.optimizer = t.cfg.optimizer;
            ck.lr_scale = 1.0;
        }
        t.restore(&ck).map_err(|e| TrainError::Checkpoint {
            path: path.to_owned(),
            reason: e.to_string(),
        })?;
        t.run_id.clone_from(&ck.run_id);
        t.may_replace = false;
        t.written = file_id(path);
        t.last_checkpoint = Some(path.to_owned());
        if t.last_good.is_some() {
            t.last_good = Some(ck);
        }
        Ok(t)
    }

    /// Puts the run in the state `ck` describes (same model and optimizer kind).
    fn restore(&mut self, ck: &Checkpoint<M>) -> Result<(), TrainError> {
        self.net.params_mut().copy_from_slice(&ck.params);
        self.opt.restore(&ck.state1, &ck.state2, ck.opt_steps)?;
        self.order.seek(ck.epoch, ck.batch_in_epoch)?;
        self.step = ck.step;
        self.accum = ck.accum;
        self.lr_scale = ck.lr_scale;
        self.rollbacks = ck.rollbacks;
        self.pending = false;
        self.opt.set_lr(self.cfg.optimizer.lr() * self.lr_scale);
        Ok(())
    }

    fn here(&self) -> Position {
        let (epoch, batch) = self.position();
        Position {
            epoch,
            batch,
            step: self.step,
            accum: self.accum,
        }
    }

    /// The current parameters and optimizer state as a checkpoint at `at` (a copy).
    fn snapshot(&self, at: Position) -> Checkpoint<M> {
        let (s1, s2) = self.opt.state();
        Checkpoint {
            run_id: self.run_id.clone(),
            spec: self.net.model().clone(),
            optimizer: self.cfg.optimizer,
            lr_scale: self.lr_scale,
            rollbacks: self.rollbacks,
            params: self.net.params().to_vec(),
            state1: s1.to_vec(),
            state2: s2.to_vec(),
            opt_steps: self.opt.steps(),
            step: at.step,
            epoch: at.epoch,
            batch_in_epoch: at.batch,
            seed: self.cfg.seed,
            batch_size: self.cfg.batch_size,
            n_train: self.order.n_examples(),
            accum: at.accum,
            run_args: self.cfg.run_args.clone(),
        }
    }

    /// The id of this run, recorded in its checkpoints (kept across resumes).
    pub fn run_id(&self) -> &str {
        &self.run_id
    }

    /// Rollbacks so far ([`NonFinitePolicy::Rollback`]).
    pub fn rollbacks(&self) -> u32 {
        self.rollbacks
    }

    /// The network (parameters, spec).
    pub fn network(&self) -> &Network<M> {
        &self.net
    }

    /// Mutable network (e.g. for evaluation).
    pub fn network_mut(&mut self) -> &mut Network<M> {
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
        if data.row_len != self.net.model().input_len() || data.len() != self.order.n_examples() {
            return Err(TrainError::config(
                "training set",
                format!(
                    "{} examples of {} values; the trainer expects {} of {}",
                    data.len(),
                    data.row_len,
                    self.order.n_examples(),
                    self.net.model().input_len()
                ),
            ));
        }
        let before = self.here();
        let (epoch, batch) = (before.epoch, before.batch);
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
        if let Some(w) = data.w {
            for (&i, wr) in indices.iter().zip(self.wbuf.iter_mut()) {
                *wr = w[i];
            }
        }
        let (x, y) = (&self.xbuf[..rows * data.row_len], &self.ybuf[..rows]);
        let t0 = Instant::now();
        let loss = match data.w {
            Some(_) => self.net.loss_and_grad_weighted(x, y, &self.wbuf[..rows])?,
            None => self.net.loss_and_grad(x, y)?,
        };
        let grad_sq = sum_sq(self.net.grads());
        if !loss.is_finite() || !grad_sq.is_finite() {
            // Put the order back so that the failing batch is the next one again; the
            // parameters are not updated.
            self.order.seek(epoch, batch)?;
            let (quantity, value) = if loss.is_finite() {
                ("gradient norm", grad_sq.sqrt())
            } else {
                ("loss", loss)
            };
            return Err(TrainError::NonFiniteLoss {
                quantity,
                loss: value,
                step: self.step + 1,
                epoch,
                batch,
                last_checkpoint: self.last_checkpoint.clone(),
            });
        }
        let correct = count_correct(self.net.logits(), y, self.net.model().classes());
        if self.pending {
            // The state before this update produced a finite loss and gradient: save it.
            self.pending = false;
            if let Err(e) = self.save_at(before) {
                self.order.seek(epoch, batch)?;
                return Err(e);
            }
        }
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
        if let Some(every) = self.cfg.checkpoint_every {
            if self.step.is_multiple_of(every) {
                self.pending = true;
            }
        }
        Ok(Some(info))
    }

    /// Writes a checkpoint to the configured path (no-op without one, except that with
    /// [`NonFinitePolicy::Rollback`] the state is remembered as the last finite one); returns
    /// the path. Only finite states are saved: the parameters' norm and every optimizer state
    /// value must be finite.
    ///
    /// # Errors
    /// [`TrainError::NonFiniteLoss`] for a non-finite state (nothing is written),
    /// [`TrainError::Checkpoint`] if the file at the path is not this run's checkpoint (and
    /// overwriting was not allowed), [`TrainError::Io`] if writing fails.
    pub fn save_checkpoint(&mut self) -> Result<Option<PathBuf>, TrainError> {
        self.pending = false;
        self.save_at(self.here())
    }

    fn save_at(&mut self, at: Position) -> Result<Option<PathBuf>, TrainError> {
        let rollback = matches!(self.cfg.on_non_finite, NonFinitePolicy::Rollback { .. });
        if self.cfg.checkpoint.is_none() && !rollback {
            return Ok(None);
        }
        let (s1, s2) = self.opt.state();
        let bad = [
            ("parameter norm", sum_sq(self.net.params()).sqrt()),
            (
                "optimizer state",
                if s1.iter().chain(s2).all(|v| v.is_finite()) {
                    0.0
                } else {
                    f32::NAN
                },
            ),
        ]
        .into_iter()
        .find(|(_, v)| !v.is_finite());
        if let Some((quantity, value)) = bad {
            return Err(TrainError::NonFiniteLoss {
                quantity,
                loss: value,
                step: at.step,
                epoch: at.epoch,
                batch: at.batch,
                last_checkpoint: self.last_checkpoint.clone(),
            });
        }
        let ck = self.snapshot(at);
        let saved = match self.cfg.checkpoint.clone() {
            Some(path) => {
                let ours = self.written.is_some() && file_id(&path) == self.written;
                if !ours && !self.may_replace {
                    check_owner(&path, &self.run_id)?;
                }
                checkpoint::save(&path, &ck, self.net.param_infos())?;
                self.written = file_id(&path);
                self.may_replace = false;
                self.last_checkpoint = Some(path.clone());
                Some(path)
            }
            None => None,
        };
        if rollback {
            self.last_good = Some(ck);
        }
        Ok(saved)
    }

    /// Handles a failed step under the non-finite policy: rolls back (and reports it) or
    /// returns the error.
    fn recover(
        &mut self,
        e: TrainError,
        observer: &mut dyn FnMut(Event<'_>),
    ) -> Result<(), TrainError> {
        let NonFinitePolicy::Rollback {
            lr_factor,
            max_rollbacks,
        } = self.cfg.on_non_finite
        else {
            return Err(e);
        };
        if !matches!(e, TrainError::NonFiniteLoss { .. }) || self.rollbacks >= max_rollbacks {
            return Err(e);
        }
        let Some(good) = self.last_good.take() else {
            return Err(e);
        };
        let restored = self.restore(&good);
        let rollbacks = good.rollbacks + 1;
        let lr_scale = good.lr_scale * lr_factor;
        self.last_good = Some(good);
        restored?;
        self.rollbacks = rollbacks;
        self.lr_scale = lr_scale;
        let lr = self.cfg.optimizer.lr() * lr_scale;
        self.opt.set_lr(lr);
        if let Some(g) = &mut self.last_good {
            // Another failure before the next save rolls back further, to a lower rate.
            g.rollbacks = rollbacks;
            g.lr_scale = lr_scale;
        }
        observer(Event::Rollback {
            error: &e,
            step: self.step,
            lr,
        });
        Ok(())
    }

    /// Trains until [`TrainConfig::epochs`] epochs are complete, evaluating on `test` after
    /// each epoch and checkpointing at each epoch end (the last epoch's state at once, earlier
    /// ones by the next step, once it has found that state's loss and gradient finite).
    /// Returns the epochs run in this call.
    /// A non-finite state is handled by [`TrainConfig::on_non_finite`].
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
        'epochs: while self.order.epoch() < self.cfg.epochs {
            let epoch = self.order.epoch();
            loop {
                match self.train_step(train) {
                    Ok(Some(info)) => observer(Event::Step(&info)),
                    Ok(None) => break,
                    Err(e) => {
                        self.recover(e, observer)?;
                        continue 'epochs;
                    }
                }
            }
            let report = self.finish_epoch(epoch, test)?;
            // The last epoch's state is saved now; earlier ones by the next step, once it has
            // found that state finite.
            let save = if self.order.epoch() < self.cfg.epochs {
                self.pending = true;
                Ok(None)
            } else {
                self.save_checkpoint()
            };
            match save {
                Ok(saved) => {
                    observer(Event::Epoch(&report));
                    if let Some(p) = saved {
                        observer(Event::Checkpoint(&p));
                    }
                    reports.push(report);
                }
                Err(e) => self.recover(e, observer)?,
            }
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

/// A batch must hold at least one example and cannot be larger than the training set.
fn check_batch_size(batch: usize, n_train: usize) -> Result<(), TrainError> {
    if n_train == 0 {
        return Err(TrainError::config("training set", "is empty"));
    }
    if batch == 0 || batch > n_train {
        return Err(TrainError::config(
            "batch size",
            format!("{batch}; must be between 1 and the {n_train} training examples"),
        ));
    }
    Ok(())
}

/// An error unless `path` is absent or holds the checkpoint of run `run_id`.
fn check_owner(path: &Path, run_id: &str) -> Result<(), TrainError> {
    let reason = match checkpoint::owner(path) {
        Owner::Absent => return Ok(()),
        Owner::Run(id) if id == run_id => return Ok(()),
        Owner::Run(id) => format!("already holds the checkpoint of another run ({id})"),
        Owner::Other(what) => format!("already exists and is {what}"),
    };
    Err(TrainError::Checkpoint {
        path: path.to_owned(),
        reason: format!("{reason}; it is not replaced: resume that run, allow overwriting it, or choose another path"),
    })
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

/// Loss (weighted when `data` has weights) and accuracy of `net` on `data` (in batches of
/// the arena's size); for two-class
/// models also the ROC AUC of `logit₁ − logit₀` and the efficiency at false-alarm
/// probability `far`.
///
/// # Errors
/// [`TrainError::Config`] if the rows do not match the model, kernel errors for bad labels.
pub fn evaluate<M: Model>(
    net: &mut Network<M>,
    data: &Dataset<'_>,
    far: f64,
) -> Result<EvalReport, TrainError> {
    let row = net.model().input_len();
    if data.row_len != row {
        return Err(TrainError::config(
            "evaluation set",
            format!("rows of {} values; the model takes {row}", data.row_len),
        ));
    }
    let classes = net.model().classes();
    let bs = net.max_batch();
    let mut labels = vec![0usize; bs];
    let binary = classes == 2;
    let mut scores = Vec::with_capacity(if binary { data.len() } else { 0 });
    let (mut loss_sum, mut correct) = (0.0f64, 0usize);
    for (k, (xc, yc)) in data.x.chunks(bs * row).zip(data.y.chunks(bs)).enumerate() {
        let n = yc.len();
        for (l, &y) in labels.iter_mut().zip(yc) {
            *l = usize::from(y);
        }
        let loss = match data.w {
            Some(w) => net.forward_weighted(xc, &labels[..n], &w[k * bs..k * bs + n])?,
            None => net.forward(xc, &labels[..n])?,
        };
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
