//! A model with its workspace arena: parameters, gradients, activations and activation
//! adjoints, each one flat `Vec<f32>` laid out once for the maximum batch size.

use crate::model::{Batch, Model, ModelSpec, ParamInfo, Workspace};
use crate::{Optimizer, TrainError};

/// A model and its arena. After construction nothing here allocates: a training step hands the
/// model a [`Workspace`] over the arena, which the model cuts into its view structs for its
/// gradient function. `M` is any [`Model`]; the built-in ones are named by [`ModelSpec`].
#[derive(Debug, Clone)]
pub struct Network<M: Model = ModelSpec> {
    model: M,
    max_batch: usize,
    infos: Vec<ParamInfo>,
    /// Parameter lengths in order (the layout of `params` and `grads`).
    param_lens: Vec<usize>,
    params: Vec<f32>,
    grads: Vec<f32>,
    /// Per-example activation lengths; region `i` of `acts` holds `row_lens[i]·max_batch`.
    act_row_lens: Vec<usize>,
    acts: Vec<f32>,
    d_acts: Vec<f32>,
    argmax_row_lens: Vec<usize>,
    argmax: Vec<usize>,
    /// Set while a gradient call runs; still set afterwards if it failed, so the next call
    /// re-zeroes the activation adjoints (the pullbacks zero them on success).
    dirty: bool,
    /// Whether `grads` is known to be all zeros (after [`Network::step`], which zeroes them
    /// as the optimizer consumes them), so the next gradient call can skip zeroing them.
    grads_zero: bool,
    /// Rows in the last forward pass (what [`Network::logits`] returns).
    last_rows: usize,
}

impl Network<ModelSpec> {
    /// Which built-in model.
    pub fn spec(&self) -> ModelSpec {
        self.model
    }
}

impl<M: Model> Network<M> {
    /// A network for batches of up to `max_batch` examples, parameters initialised with
    /// PyTorch's defaults from `seed` (see [`crate::init`]).
    ///
    /// # Errors
    /// [`TrainError::Config`] for an invalid spec or `max_batch == 0`.
    pub fn new(spec: M, max_batch: usize, seed: u64) -> Result<Self, TrainError> {
        if max_batch == 0 {
            return Err(TrainError::config("batch size", "must be at least 1"));
        }
        let infos = spec.params()?;
        let param_lens: Vec<usize> = infos.iter().map(ParamInfo::len).collect();
        let n_params: usize = param_lens.iter().sum();
        let act_row_lens = spec.activation_row_lens()?;
        let argmax_row_lens = spec.index_row_lens()?;
        let too_big = || TrainError::config("batch size", format!("{max_batch} is too large"));
        let n_acts = act_row_lens
            .iter()
            .try_fold(0usize, |s, &l| s.checked_add(l.checked_mul(max_batch)?))
            .ok_or_else(too_big)?;
        let n_argmax = argmax_row_lens
            .iter()
            .try_fold(0usize, |s, &l| s.checked_add(l.checked_mul(max_batch)?))
            .ok_or_else(too_big)?;
        // Fallible allocations: an impossible size is an error, not an abort.
        let mut net = Network {
            model: spec,
            max_batch,
            infos,
            param_lens,
            params: try_zeroed(n_params, max_batch)?,
            grads: try_zeroed(n_params, max_batch)?,
            act_row_lens,
            acts: try_zeroed(n_acts, max_batch)?,
            d_acts: try_zeroed(n_acts, max_batch)?,
            argmax_row_lens,
            argmax: try_zeroed(n_argmax, max_batch)?,
            dirty: false,
            grads_zero: true,
            last_rows: 0,
        };
        net.init(seed);
        Ok(net)
    }

    /// Bytes [`Network::new`] would allocate for `spec` and batches of `max_batch` (parameters,
    /// gradients, activations, adjoints, pooling indices), computed without allocating, so
    /// that callers can refuse an impossible size up front.
    ///
    /// # Errors
    /// [`TrainError::Config`] for an invalid spec, or a size that does not fit in `u64`.
    pub fn bytes_needed(spec: M, max_batch: usize) -> Result<u64, TrainError> {
        let too_big = || {
            TrainError::config(
                "model size",
                format!(
                    "{} with batch {max_batch} does not fit in memory",
                    spec.name()
                ),
            )
        };
        let mut n_params = 0u64;
        for p in spec.params()? {
            let len = p
                .shape
                .iter()
                .try_fold(1u64, |a, &d| a.checked_mul(d as u64))
                .ok_or_else(too_big)?;
            n_params = n_params.checked_add(len).ok_or_else(too_big)?;
        }
        let rows = |lens: Vec<usize>| {
            lens.iter().try_fold(0u64, |s, &l| {
                s.checked_add((l as u64).checked_mul(max_batch as u64)?)
            })
        };
        let n_acts = rows(spec.activation_row_lens()?).ok_or_else(too_big)?;
        let n_argmax = rows(spec.index_row_lens()?).ok_or_else(too_big)?;
        let floats = n_params
            .checked_add(n_acts)
            .and_then(|n| n.checked_mul(2 * 4))
            .ok_or_else(too_big)?;
        n_argmax
            .checked_mul(std::mem::size_of::<usize>() as u64)
            .and_then(|b| b.checked_add(floats))
            .ok_or_else(too_big)
    }

    /// Re-initialises the parameters from `seed` (PyTorch defaults) and clears the gradients.
    pub fn init(&mut self, seed: u64) {
        self.model.init_params(&self.infos, &mut self.params, seed);
        self.grads.fill(0.0);
        self.grads_zero = true;
    }

    /// The model.
    pub fn model(&self) -> &M {
        &self.model
    }

    /// Largest batch the arena holds.
    pub fn max_batch(&self) -> usize {
        self.max_batch
    }

    /// The parameter tensors (names, shapes), in the order of [`Network::params`].
    pub fn param_infos(&self) -> &[ParamInfo] {
        &self.infos
    }

    /// All parameters, concatenated in [`Network::param_infos`] order.
    pub fn params(&self) -> &[f32] {
        &self.params
    }

    /// Mutable parameters (e.g. to load a checkpoint or copy weights in).
    pub fn params_mut(&mut self) -> &mut [f32] {
        &mut self.params
    }

    /// The gradients of the last [`Network::loss_and_grad`], same layout as the parameters.
    pub fn grads(&self) -> &[f32] {
        &self.grads
    }

    /// Parameters and gradients together, both writable (for a hand-written update; the
    /// next [`Network::loss_and_grad`] then zeroes the gradients first).
    pub fn params_and_grads(&mut self) -> (&mut [f32], &mut [f32]) {
        self.grads_zero = false;
        (&mut self.params, &mut self.grads)
    }

    /// Applies one optimizer step with the gradients of the last [`Network::loss_and_grad`].
    /// The optimizer zeroes the gradients as it reads them, so the next gradient call skips
    /// its own zeroing pass.
    ///
    /// # Errors
    /// [`TrainError::Config`] if the optimizer was made for another parameter count.
    pub fn step(&mut self, opt: &mut Optimizer) -> Result<(), TrainError> {
        self.grads_zero = false;
        opt.step(&mut self.params, &mut self.grads)?;
        self.grads_zero = true;
        Ok(())
    }

    /// The activation arena (every activation of the last pass, each region sized for the
    /// maximum batch; for inspection and tests).
    pub fn activations(&self) -> &[f32] {
        &self.acts
    }

    /// The max-pool argmax scratch of the last pass (empty for the MLP).
    pub fn pool_argmax(&self) -> &[usize] {
        &self.argmax
    }

    /// Bytes held by the arena (parameters, gradients, activations, adjoints, scratch).
    pub fn arena_bytes(&self) -> usize {
        4 * (self.params.len() + self.grads.len() + self.acts.len() + self.d_acts.len())
            + std::mem::size_of::<usize>() * self.argmax.len()
    }

    fn check_batch(&self, x: &[f32], labels: &[usize]) -> Result<usize, TrainError> {
        let per = self.model.labels_per_example().max(1);
        if !labels.len().is_multiple_of(per) {
            return Err(TrainError::config(
                "batch labels",
                format!("{} labels; the model takes {per} per example", labels.len()),
            ));
        }
        let rows = labels.len() / per;
        if rows == 0 || rows > self.max_batch {
            return Err(TrainError::config(
                "batch",
                format!(
                    "{rows} examples; must be between 1 and the arena's {}",
                    self.max_batch
                ),
            ));
        }
        let want = rows * self.model.input_len();
        if x.len() != want {
            return Err(TrainError::config(
                "batch input",
                format!(
                    "{} values for {rows} examples of {} (expected {want})",
                    x.len(),
                    self.model.input_len()
                ),
            ));
        }
        Ok(rows)
    }

    /// Zeroes the gradients, then computes the mean loss on the batch `x: [rows, input_len]`,
    /// `labels: [rows]` and its gradient (into [`Network::grads`]). Allocation-free.
    ///
    /// # Errors
    /// [`TrainError::Config`] for a batch of the wrong size, [`TrainError::Kernel`] for a
    /// label out of range.
    pub fn loss_and_grad(&mut self, x: &[f32], labels: &[usize]) -> Result<f32, TrainError> {
        let rows = self.check_batch(x, labels)?;
        if !self.grads_zero {
            self.grads.fill(0.0);
        }
        self.grads_zero = false;
        if self.dirty {
            self.d_acts.fill(0.0);
        }
        self.dirty = true;
        let loss = self.run(x, labels, None, rows, true)?;
        self.dirty = false;
        Ok(loss)
    }

    /// [`Network::loss_and_grad`] with event weights `weights: [rows]`: the loss is
    /// `(1/rows) Σ_r w_r·CE_r` ([`crate::weighted::weighted_softmax_cross_entropy`]).
    /// Allocation-free.
    ///
    /// # Errors
    /// As [`Network::loss_and_grad`]; [`TrainError::Config`] for the CNN (not implemented
    /// there) or a weight count other than the batch's.
    pub fn loss_and_grad_weighted(
        &mut self,
        x: &[f32],
        labels: &[usize],
        weights: &[f32],
    ) -> Result<f32, TrainError> {
        let rows = self.check_batch(x, labels)?;
        self.check_weights(weights, rows)?;
        if !self.grads_zero {
            self.grads.fill(0.0);
        }
        self.grads_zero = false;
        if self.dirty {
            self.d_acts.fill(0.0);
        }
        self.dirty = true;
        let loss = self.run(x, labels, Some(weights), rows, true)?;
        self.dirty = false;
        Ok(loss)
    }

    /// [`Network::forward`] with event weights (the weighted mean loss).
    ///
    /// # Errors
    /// As [`Network::loss_and_grad_weighted`].
    pub fn forward_weighted(
        &mut self,
        x: &[f32],
        labels: &[usize],
        weights: &[f32],
    ) -> Result<f32, TrainError> {
        let rows = self.check_batch(x, labels)?;
        self.check_weights(weights, rows)?;
        self.run(x, labels, Some(weights), rows, false)
    }

    fn check_weights(&self, weights: &[f32], rows: usize) -> Result<(), TrainError> {
        if !self.model.supports_weights() {
            return Err(TrainError::config(
                "weights",
                "event weights are implemented for the MLP only",
            ));
        }
        if weights.len() != rows {
            return Err(TrainError::config(
                "weights",
                format!("{} weights for {rows} examples", weights.len()),
            ));
        }
        Ok(())
    }

    /// Forward pass only: the mean loss on the batch; the logits are then in
    /// [`Network::logits`]. Allocation-free.
    ///
    /// # Errors
    /// As [`Network::loss_and_grad`].
    pub fn forward(&mut self, x: &[f32], labels: &[usize]) -> Result<f32, TrainError> {
        let rows = self.check_batch(x, labels)?;
        self.run(x, labels, None, rows, false)
    }

    /// The logits of the last forward pass, `[rows·labels_per_example, classes]`.
    pub fn logits(&self) -> &[f32] {
        let k = self.model.classes() * self.model.labels_per_example();
        let region = self.model.logits_region().min(self.act_row_lens.len());
        let off: usize = self.act_row_lens[..region]
            .iter()
            .map(|l| l * self.max_batch)
            .sum();
        &self.acts[off..off + self.last_rows * k]
    }

    fn run(
        &mut self,
        x: &[f32],
        labels: &[usize],
        weights: Option<&[f32]>,
        rows: usize,
        grad: bool,
    ) -> Result<f32, TrainError> {
        self.last_rows = rows;
        let grads = grad.then_some((&mut self.grads[..], &mut self.d_acts[..]));
        let ws = Workspace {
            params: &self.params,
            param_lens: &self.param_lens,
            acts: &mut self.acts,
            act_row_lens: &self.act_row_lens,
            index: &mut self.argmax,
            index_row_lens: &self.argmax_row_lens,
            grads,
            max_batch: self.max_batch,
            rows,
        };
        let batch = Batch { x, labels, weights };
        self.model.loss(&batch, ws)
    }
}

/// `n` zeros, or an error (instead of an abort) if the allocation fails.
fn try_zeroed<T: Clone + Default>(n: usize, max_batch: usize) -> Result<Vec<T>, TrainError> {
    let mut v = Vec::new();
    v.try_reserve_exact(n).map_err(|_| {
        TrainError::config(
            "model size",
            format!(
                "cannot allocate {} MiB for the arena (batch {max_batch}); use a smaller batch or model",
                (n as u64).saturating_mul(std::mem::size_of::<T>() as u64) >> 20
            ),
        )
    })?;
    v.resize(n, T::default());
    Ok(v)
}
