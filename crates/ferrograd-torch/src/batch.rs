//! Batches from ROOT trees as `tch::Tensor`s: what `ferrograd_root::Loader` fills goes
//! straight into tensors a LibTorch training loop (or a `value_and_grad_node`) reads.
//!
//! [`RootBatchTensors::new`] allocates the four tensors once for a batch size; [`fill`]
//! copies a batch into them (features, weights and targets straight into tensor storage; the
//! labels, widened to i64, through one small staging tensor), and a short last batch is a view
//! of the first rows ([`RootBatchTensors::rows`]).
//!
//! [`fill`]: RootBatchTensors::fill

use crate::{as_slice_mut, Error};
use ferrograd_root::Batch;
use tch::{Kind, Tensor};

/// `x: [batch, row_len] f32`, `labels: [batch] i64`, `weights: [batch] f32` and
/// `targets: [batch, n_targets] f32`, reused from batch to batch.
pub struct RootBatchTensors {
    pub x: Tensor,
    pub labels: Tensor,
    pub weights: Tensor,
    pub targets: Tensor,
    row_len: usize,
    n_targets: usize,
    len: usize,
    staging: Vec<i64>,
}

impl RootBatchTensors {
    /// Tensors for batches of up to `batch_size` rows of `row_len` features
    /// (`Loader::row_len`) and `n_targets` target values per row (0 without target branches).
    pub fn new(batch_size: usize, row_len: usize, n_targets: usize) -> Result<Self, Error> {
        if batch_size == 0 || row_len == 0 {
            return Err(Error::Empty {
                what: "RootBatchTensors::new".into(),
                shape: vec![batch_size as i64, row_len as i64],
            });
        }
        let (b, r, t) = (batch_size as i64, row_len as i64, n_targets as i64);
        Ok(RootBatchTensors {
            x: Tensor::zeros([b, r], (Kind::Float, tch::Device::Cpu)),
            labels: Tensor::zeros([b], (Kind::Int64, tch::Device::Cpu)),
            weights: Tensor::ones([b], (Kind::Float, tch::Device::Cpu)),
            targets: Tensor::zeros([b, t], (Kind::Float, tch::Device::Cpu)),
            row_len,
            n_targets,
            len: 0,
            staging: Vec::with_capacity(batch_size),
        })
    }

    /// Copies `batch` into the tensors; returns the number of rows (the rest are stale).
    pub fn fill(&mut self, batch: &Batch) -> Result<usize, Error> {
        let cap = self.x.size()[0] as usize;
        let shape_err = |what: &str, expected: usize, got: usize| Error::Shape {
            what: format!("RootBatchTensors::fill: {what}"),
            expected: vec![expected as i64],
            got: vec![got as i64],
        };
        if batch.len > cap {
            return Err(shape_err("rows (at most the batch size)", cap, batch.len));
        }
        if batch.x.len() != batch.len * self.row_len {
            return Err(shape_err(
                "features",
                batch.len * self.row_len,
                batch.x.len(),
            ));
        }
        if batch.labels.len() != batch.len {
            return Err(shape_err("labels", batch.len, batch.labels.len()));
        }
        if batch.weights.len() != batch.len {
            return Err(shape_err("weights", batch.len, batch.weights.len()));
        }
        if batch.targets.len() != batch.len * self.n_targets {
            return Err(shape_err(
                "targets",
                batch.len * self.n_targets,
                batch.targets.len(),
            ));
        }
        as_slice_mut::<f32>(&mut self.x)?[..batch.x.len()].copy_from_slice(&batch.x);
        // Labels widen to i64 (what `cross_entropy` takes); zero-copy views cover f32/f64 only,
        // so this one goes through a small staging tensor.
        self.staging.clear();
        self.staging
            .extend(batch.labels.iter().map(|&v| i64::from(v)));
        if batch.len > 0 {
            self.labels
                .narrow(0, 0, batch.len as i64)
                .f_copy_(&Tensor::from_slice(&self.staging))
                .map_err(Error::from)?;
        }
        as_slice_mut::<f32>(&mut self.weights)?[..batch.len].copy_from_slice(&batch.weights);
        if self.n_targets > 0 {
            as_slice_mut::<f32>(&mut self.targets)?[..batch.targets.len()]
                .copy_from_slice(&batch.targets);
        }
        self.len = batch.len;
        Ok(batch.len)
    }

    /// The filled rows: `(x, labels, weights, targets)` as views (no copy).
    pub fn rows(&self) -> (Tensor, Tensor, Tensor, Tensor) {
        let n = self.len as i64;
        (
            self.x.narrow(0, 0, n),
            self.labels.narrow(0, 0, n),
            self.weights.narrow(0, 0, n),
            self.targets.narrow(0, 0, n),
        )
    }
}
