//! A model's training run across C calls. The optimizer's moments and the position in the
//! seeded batch order live in the model handle and in its checkpoints, so that training in
//! pieces — or after a save and a load — takes exactly the steps one long call would.

use ferrograd_data::EpochOrder;
use ferrograd_train::checkpoint::Checkpoint;
use ferrograd_train::{ModelSpec, Network, Optimizer, OptimizerConfig};

use crate::error::CError;

/// Settings of one `ferrograd_model_train_*` call; start from
/// `ferrograd_train_options_default()`.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FerrogradTrainOptions {
    /// Epochs to train in this call: the rest of the run's current epoch (if an earlier call
    /// stopped inside it), then whole epochs.
    pub epochs: u64,
    /// Stop after this many steps in this call (0: no limit).
    pub max_steps: u64,
    /// Rows per step (the last batch of an epoch may be smaller).
    pub batch_size: usize,
    /// Adam's learning rate (β = (0.9, 0.999), ε = 1e-8, as PyTorch).
    pub learning_rate: f32,
    /// Seeds the run's batch order (a permutation per epoch from `seed` and the epoch).
    pub seed: u64,
}

/// What a `ferrograd_model_train_*` call did.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct FerrogradTrainReport {
    /// Training rows (for ROOT input: the entries that pass the cut).
    pub rows: usize,
    /// Steps taken in this call.
    pub steps: u64,
    /// Steps of the run so far, earlier calls and the loaded checkpoint's included.
    pub run_steps: u64,
    /// Mean training loss over this call's steps in the last epoch it reached (NaN without
    /// steps).
    pub final_loss: f64,
}

/// 10 epochs, batches of 64, learning rate 1e-3, seed 0, no step limit.
#[no_mangle]
pub extern "C" fn ferrograd_train_options_default() -> FerrogradTrainOptions {
    FerrogradTrainOptions {
        epochs: 10,
        max_steps: 0,
        batch_size: 64,
        learning_rate: 1e-3,
        seed: 0,
    }
}

/// Where training rows come from, to name a bad value in messages.
pub(crate) enum Origin<'a> {
    /// `x`, `labels`, `weights` arrays of the caller.
    Arrays,
    /// A tree: the branch (and array index) of every value of a row, the target and weight
    /// branches.
    Tree {
        columns: &'a [String],
        target: &'a str,
        weight: &'a str,
    },
}

impl Origin<'_> {
    fn value(&self, i: usize, len: usize) -> String {
        match self {
            Origin::Arrays => format!("`x[{i}]`"),
            Origin::Tree { columns, .. } => {
                let col = columns.get(i % len).map_or("?", String::as_str);
                format!("row {}: {col}", i / len)
            }
        }
    }

    fn label(&self, i: usize) -> String {
        match self {
            Origin::Arrays => format!("`labels[{i}]`"),
            Origin::Tree { target, .. } => format!("row {i}: `{target}`"),
        }
    }

    fn weight(&self, i: usize) -> String {
        match self {
            Origin::Arrays => format!("`weights[{i}]`"),
            Origin::Tree { weight, .. } => format!("row {i}: `{weight}`"),
        }
    }
}

/// Labelled rows, checked by [`Rows::new`].
pub(crate) struct Rows<'a> {
    pub x: &'a [f32],
    pub y: &'a [u8],
    pub w: Option<&'a [f32]>,
}

impl<'a> Rows<'a> {
    /// `x: [y.len(), input_len]` finite, labels below `classes`, weights finite (MLP only).
    pub fn new(
        spec: ModelSpec,
        x: &'a [f32],
        y: &'a [u8],
        w: Option<&'a [f32]>,
        origin: &Origin<'_>,
    ) -> Result<Self, CError> {
        let (len, classes) = (spec.input_len(), spec.classes());
        let rows = y.len();
        if rows == 0 || Some(x.len()) != rows.checked_mul(len) {
            return Err(CError::Invalid(format!(
                "`x` has {} values; expected rows × {len} = {rows} × {len}",
                x.len()
            )));
        }
        if let Some(i) = x.iter().position(|v| !v.is_finite()) {
            return Err(CError::Invalid(format!(
                "{} = {} is not finite",
                origin.value(i, len),
                x[i]
            )));
        }
        if let Some(i) = y.iter().position(|&c| usize::from(c) >= classes) {
            return Err(CError::Invalid(format!(
                "{} = {} but the model has {classes} classes",
                origin.label(i),
                y[i]
            )));
        }
        if let Some(w) = w {
            if w.len() != rows {
                return Err(CError::Invalid(format!(
                    "{} weights for {rows} rows",
                    w.len()
                )));
            }
            if let Some(i) = w.iter().position(|v| !v.is_finite()) {
                return Err(CError::Invalid(format!(
                    "{} = {} is not finite",
                    origin.weight(i),
                    w[i]
                )));
            }
            if let ModelSpec::GwCnn { .. } = spec {
                return Err(CError::Invalid(
                    "event weights are implemented for the MLP only".into(),
                ));
            }
        }
        Ok(Rows { x, y, w })
    }

    fn len(&self) -> usize {
        self.y.len()
    }
}

/// The optimizer and the batch order of a run.
#[derive(Debug)]
pub(crate) struct Run {
    opt: Optimizer,
    /// The optimizer as configured (`opt` runs at `lr · lr_scale`; a run loaded from a
    /// `ferrograd train` checkpoint may have lowered it).
    configured: OptimizerConfig,
    lr_scale: f32,
    order: EpochOrder,
    seed: u64,
    step: u64,
}

impl Run {
    fn new(
        cfg: OptimizerConfig,
        n_params: usize,
        rows: usize,
        opts: &FerrogradTrainOptions,
    ) -> Result<Self, CError> {
        Ok(Run {
            opt: Optimizer::new(cfg, n_params)?,
            configured: cfg,
            lr_scale: 1.0,
            order: EpochOrder::new(rows, opts.batch_size, opts.seed)
                .map_err(|e| CError::Invalid(e.to_string()))?,
            seed: opts.seed,
            step: 0,
        })
    }

    /// Whether a call with these settings on `rows` rows continues this run.
    fn continues(&self, cfg: &OptimizerConfig, rows: usize, opts: &FerrogradTrainOptions) -> bool {
        self.configured == *cfg
            && self.order.n_examples() == rows
            && self.order.batch_size() == opts.batch_size
            && self.seed == opts.seed
    }

    /// The run a checkpoint records, or `None` for one without optimizer steps.
    pub fn from_checkpoint(ck: &Checkpoint) -> Result<Option<Self>, CError> {
        if ck.opt_steps == 0 {
            return Ok(None);
        }
        let mut opt = Optimizer::new(ck.optimizer, ck.params.len())?;
        opt.restore(&ck.state1, &ck.state2, ck.opt_steps)?;
        opt.set_lr(ck.optimizer.lr() * ck.lr_scale);
        let mut order = EpochOrder::new(ck.n_train, ck.batch_size, ck.seed)
            .map_err(|e| CError::Invalid(format!("checkpoint: {e}")))?;
        order
            .seek(ck.epoch, ck.batch_in_epoch)
            .map_err(|e| CError::Invalid(format!("checkpoint: {e}")))?;
        Ok(Some(Run {
            opt,
            configured: ck.optimizer,
            lr_scale: ck.lr_scale,
            order,
            seed: ck.seed,
            step: ck.step,
        }))
    }

    /// Writes the run's state into `ck` (optimizer, moments, position).
    pub fn record(&self, ck: &mut Checkpoint) {
        let (s1, s2) = self.opt.state();
        ck.optimizer = self.configured;
        ck.lr_scale = self.lr_scale;
        ck.state1 = s1.to_vec();
        ck.state2 = s2.to_vec();
        ck.opt_steps = self.opt.steps();
        ck.step = self.step;
        ck.epoch = self.order.epoch();
        ck.batch_in_epoch = self.order.batch_in_epoch();
        ck.seed = self.seed;
        ck.batch_size = self.order.batch_size();
        ck.n_train = self.order.n_examples();
    }
}

/// Checks the options against the number of rows.
fn check_options(opts: &FerrogradTrainOptions, rows: usize) -> Result<(), CError> {
    let lr = opts.learning_rate;
    if !(lr.is_finite() && lr > 0.0) {
        return Err(CError::Invalid(format!(
            "learning rate {lr}: must be finite and > 0"
        )));
    }
    if opts.batch_size == 0 || opts.batch_size > rows {
        return Err(CError::Invalid(format!(
            "batch size {}: must be between 1 and the {rows} rows",
            opts.batch_size
        )));
    }
    if opts.epochs == 0 {
        return Err(CError::Invalid("epochs must be at least 1".into()));
    }
    Ok(())
}

/// Trains `net` on `data`, continuing `run` when the settings and the number of rows are
/// those of the run (otherwise a new run starts from the current weights). On an error the
/// weights and the run stay at the last good step.
pub(crate) fn train(
    net: &mut Network,
    run: &mut Option<Run>,
    data: &Rows<'_>,
    opts: &FerrogradTrainOptions,
) -> Result<FerrogradTrainReport, CError> {
    check_options(opts, data.len())?;
    let cfg = OptimizerConfig::adam(opts.learning_rate);
    if !run
        .as_ref()
        .is_some_and(|r| r.continues(&cfg, data.len(), opts))
    {
        *run = Some(Run::new(cfg, net.params().len(), data.len(), opts)?);
    }
    let r = run
        .as_mut()
        .ok_or_else(|| CError::Failed("no training run".into()))?;
    let spec = net.spec();
    let row = spec.input_len();
    // The training arena is sized for the batch; weights go in and come back out.
    let mut tnet = Network::new(spec, opts.batch_size, opts.seed)?;
    tnet.params_mut().copy_from_slice(net.params());
    let result = steps(&mut tnet, r, data, opts, row);
    net.params_mut().copy_from_slice(tnet.params());
    let (steps, final_loss) = result?;
    Ok(FerrogradTrainReport {
        rows: data.len(),
        steps,
        run_steps: r.step,
        final_loss,
    })
}

/// The step loop: `(steps taken, mean loss of the last epoch's steps)`.
fn steps(
    net: &mut Network,
    r: &mut Run,
    data: &Rows<'_>,
    opts: &FerrogradTrainOptions,
    row: usize,
) -> Result<(u64, f64), CError> {
    let bs = opts.batch_size;
    let (mut xb, mut yb, mut wb) = (vec![0.0f32; bs * row], vec![0usize; bs], vec![0.0f32; bs]);
    if r.order.batch_in_epoch() == r.order.batches_per_epoch() {
        // The last call ended with an epoch: move the order into the next one.
        let _ = r.order.next_indices();
    }
    let end = r.order.epoch().saturating_add(opts.epochs);
    let (mut taken, mut loss_epoch, mut loss_sum, mut seen) = (0u64, r.order.epoch(), 0.0, 0usize);
    while r.order.epoch() < end && (opts.max_steps == 0 || taken < opts.max_steps) {
        let (epoch, batch) = (r.order.epoch(), r.order.batch_in_epoch());
        let Some(idx) = r.order.next_indices() else {
            continue; // the order moved to the next epoch
        };
        let k = idx.len();
        for ((&i, xr), yr) in idx.iter().zip(xb.chunks_exact_mut(row)).zip(&mut yb) {
            xr.copy_from_slice(&data.x[i * row..(i + 1) * row]);
            *yr = usize::from(data.y[i]);
        }
        if let Some(w) = data.w {
            for (&i, wr) in idx.iter().zip(&mut wb) {
                *wr = w[i];
            }
        }
        let loss = match data.w {
            Some(_) => net.loss_and_grad_weighted(&xb[..k * row], &yb[..k], &wb[..k])?,
            None => net.loss_and_grad(&xb[..k * row], &yb[..k])?,
        };
        if !loss.is_finite() || !net.grads().iter().all(|g| g.is_finite()) {
            // Not applied: the next call would meet this batch again.
            r.order
                .seek(epoch, batch)
                .map_err(|e| CError::Invalid(e.to_string()))?;
            return Err(CError::Failed(format!(
                "training diverged at step {} (epoch {epoch}, batch {batch}): loss {loss} or \
                 its gradient is not finite; lower the learning rate",
                r.step + 1
            )));
        }
        net.step(&mut r.opt)?;
        r.step += 1;
        taken += 1;
        if epoch != loss_epoch {
            (loss_epoch, loss_sum, seen) = (epoch, 0.0, 0);
        }
        loss_sum += f64::from(loss) * k as f64;
        seen += k;
    }
    let final_loss = if seen == 0 {
        f64::NAN
    } else {
        loss_sum / seen as f64
    };
    Ok((taken, final_loss))
}
