//! `ferrograd.Model`: a `ferrograd-train` network and its weights. Training and prediction
//! run with the GIL released, on the caller's arrays without copying them when they are
//! C-contiguous `float32` (another Python thread must not write to them meanwhile).

use std::collections::BTreeMap;
use std::path::PathBuf;

use ferrograd_train::checkpoint::{self, Checkpoint};
use ferrograd_train::{
    Dataset, EpochAccum, ModelSpec, Network, OptimizerConfig, TrainConfig, TrainError, Trainer,
};
use numpy::{PyArray1, PyArrayMethods, PyUntypedArrayMethods};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::arrays;
use crate::errors::train_error;

/// Rows per forward pass in `predict` (the arena of the model's own network).
const PREDICT_BATCH: usize = 256;

/// A classifier: an MLP or the gravitational-wave 1D-CNN, with its weights.
///
/// Build one with `Model.mlp(...)`, `Model.gw_cnn(...)` or `Model.load(path)`.
#[pyclass(module = "ferrograd", name = "Model")]
pub struct Model {
    net: Network,
    /// Mean training loss of each epoch of the last `fit`.
    history: Vec<f64>,
}

fn new_model(spec: ModelSpec, seed: u64) -> PyResult<Model> {
    spec.validate().map_err(train_error)?;
    Ok(Model {
        net: Network::new(spec, PREDICT_BATCH, seed).map_err(train_error)?,
        history: Vec::new(),
    })
}

/// A network of `spec` with an arena for `batch` rows and the weights `params`.
fn network_with(spec: ModelSpec, batch: usize, params: &[f32]) -> Result<Network, TrainError> {
    let mut net = Network::new(spec, batch, 0)?;
    net.params_mut().copy_from_slice(params);
    Ok(net)
}

/// The parameters of `net` in `values` (its flat layout) as a dict of named numpy arrays.
fn named_arrays<'py>(
    py: Python<'py>,
    net: &Network,
    values: &[f32],
) -> PyResult<Bound<'py, PyDict>> {
    let dict = PyDict::new(py);
    let mut off = 0;
    for p in net.param_infos() {
        let a = PyArray1::from_slice(py, &values[off..off + p.len()]).reshape(p.shape.clone())?;
        dict.set_item(p.name, a)?;
        off += p.len();
    }
    Ok(dict)
}

fn optimizer_config(name: &str, lr: f32, momentum: f32) -> PyResult<OptimizerConfig> {
    let cfg = match name {
        "adam" => OptimizerConfig::adam(lr),
        "sgd" => OptimizerConfig::sgd(lr, momentum),
        other => {
            return Err(PyValueError::new_err(format!(
                "optimizer {other:?}: use 'adam' or 'sgd'"
            )))
        }
    };
    if !(lr.is_finite() && lr > 0.0) {
        return Err(PyValueError::new_err(format!(
            "lr = {lr}: the learning rate must be finite and > 0"
        )));
    }
    cfg.validate().map_err(train_error)?;
    Ok(cfg)
}

/// Softmax of each row of `logits` (`classes` wide) into `probs`.
fn softmax_rows(logits: &[f32], probs: &mut [f32], classes: usize) {
    for (l, p) in logits.chunks(classes).zip(probs.chunks_mut(classes)) {
        let max = l.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let mut sum = 0.0;
        for (o, &v) in p.iter_mut().zip(l) {
            *o = (v - max).exp();
            sum += *o;
        }
        p.iter_mut().for_each(|o| *o /= sum);
    }
}

impl Model {
    fn rows_of(&self, x: &numpy::PyReadonlyArrayDyn<'_, f32>) -> usize {
        x.shape()[0]
    }
}

#[pymethods]
impl Model {
    /// A multilayer perceptron `Linear(in_features→hidden) → ReLU → Linear(hidden→classes)`
    /// with PyTorch's default initialisation drawn from `seed`.
    #[staticmethod]
    #[pyo3(signature = (in_features, hidden, classes=2, *, seed=0))]
    fn mlp(in_features: usize, hidden: usize, classes: usize, seed: u64) -> PyResult<Self> {
        new_model(
            ModelSpec::Mlp {
                in_features,
                hidden,
                classes,
            },
            seed,
        )
    }

    /// The gravitational-wave 1D-CNN (three conv/pool blocks, two dense layers) on inputs of
    /// `length` samples.
    #[staticmethod]
    #[pyo3(signature = (length, classes=2, *, seed=0))]
    fn gw_cnn(length: usize, classes: usize, seed: u64) -> PyResult<Self> {
        new_model(
            ModelSpec::GwCnn {
                len: length,
                classes,
            },
            seed,
        )
    }

    /// Loads a checkpoint written by `save` (or by `ferrograd train`); its checksum and
    /// finiteness are verified.
    #[staticmethod]
    fn load(py: Python<'_>, path: PathBuf) -> PyResult<Self> {
        let ck = py.detach(|| checkpoint::load(&path)).map_err(train_error)?;
        // A checkpoint whose tensors do not fit its own model tag is damaged.
        let expected = Network::new(ck.spec, 1, 0)
            .map_err(train_error)?
            .params()
            .len();
        if expected != ck.params.len() {
            return Err(PyValueError::new_err(format!(
                "{}: {} parameters, but its model {} needs {expected}",
                path.display(),
                ck.params.len(),
                ck.spec.tag()
            )));
        }
        Ok(Model {
            net: network_with(ck.spec, PREDICT_BATCH, &ck.params).map_err(train_error)?,
            history: Vec::new(),
        })
    }

    /// Saves the weights to `path` as a ferrograd safetensors checkpoint (written to a
    /// temporary file, then renamed). Optimizer moments are not kept.
    fn save(&self, py: Python<'_>, path: PathBuf) -> PyResult<()> {
        let params = self.net.params().to_vec();
        let n = params.len();
        let ck = Checkpoint {
            run_id: "python".into(),
            spec: self.net.spec(),
            optimizer: OptimizerConfig::sgd(0.01, 0.0),
            lr_scale: 1.0,
            rollbacks: 0,
            params,
            state1: vec![0.0; n],
            state2: Vec::new(),
            opt_steps: 0,
            step: 0,
            epoch: 0,
            batch_in_epoch: 0,
            seed: 0,
            batch_size: 1,
            n_train: 1,
            accum: EpochAccum::default(),
            run_args: BTreeMap::new(),
        };
        let infos = self.net.param_infos();
        py.detach(|| checkpoint::save(&path, &ck, infos))
            .map_err(train_error)
    }

    /// Trains on `x: [rows, input_len]` with class labels `y: [rows]` for `epochs` epochs of
    /// shuffled mini-batches of `batch` rows (`optimizer` 'adam' or 'sgd' with `momentum`),
    /// optionally with event weights `weight: [rows]` (MLP only). `seed` fixes the batch
    /// order; `threads` kernel threads. Returns the mean training loss of each epoch (also in
    /// `history`). On error the weights are those from before the call.
    #[pyo3(signature = (
        x, y, *, epochs=10, batch=64, lr=1e-3, optimizer="adam", momentum=0.9, weight=None,
        seed=0, threads=1
    ))]
    #[expect(clippy::too_many_arguments, reason = "Python keyword arguments")]
    fn fit(
        &mut self,
        py: Python<'_>,
        x: &Bound<'_, PyAny>,
        y: &Bound<'_, PyAny>,
        epochs: u64,
        batch: usize,
        lr: f32,
        optimizer: &str,
        momentum: f32,
        weight: Option<&Bound<'_, PyAny>>,
        seed: u64,
        threads: usize,
    ) -> PyResult<Vec<f64>> {
        let spec = self.net.spec();
        let xs = arrays::features(x, spec.input_len())?;
        let rows = self.rows_of(&xs);
        let ys = arrays::labels(y, rows, spec.classes())?;
        let ws = weight.map(|w| arrays::weights(w, rows)).transpose()?;
        if rows == 0 {
            return Err(PyValueError::new_err("`x` has no rows to train on"));
        }
        if epochs == 0 {
            return Err(PyValueError::new_err("epochs must be at least 1"));
        }
        if batch == 0 || batch > rows {
            return Err(PyValueError::new_err(format!(
                "batch = {batch}: must be between 1 and the {rows} rows of `x`"
            )));
        }
        let opt = optimizer_config(optimizer, lr, momentum)?;
        let cfg = TrainConfig::new(epochs, batch, seed, opt);
        let xs = xs.as_slice()?;
        let net = &mut self.net;
        let losses = py.detach(|| {
            ferrograd_train::with_threads(threads, || -> Result<Vec<f64>, TrainError> {
                let mut data = Dataset::new(xs, &ys, spec.input_len())?;
                if let Some(w) = &ws {
                    data = data.with_weights(w)?;
                }
                // The training arena is sized for `batch`; the weights go in and come back.
                let mut trainer =
                    Trainer::with_network(network_with(spec, batch, net.params())?, cfg, rows)?;
                let reports = trainer.fit(&data, None, &mut |_| {})?;
                net.params_mut().copy_from_slice(trainer.network().params());
                Ok(reports.iter().map(|r| r.train_loss).collect())
            })?
        });
        let losses = losses.map_err(train_error)?;
        self.history.clone_from(&losses);
        Ok(losses)
    }

    /// Class probabilities (softmax of the logits) for `x: [rows, input_len]`, as a new
    /// `float32` array `[rows, classes]`.
    fn predict<'py>(
        &mut self,
        py: Python<'py>,
        x: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, numpy::PyArray2<f32>>> {
        let (len, classes) = (self.net.spec().input_len(), self.net.spec().classes());
        let xs = arrays::features(x, len)?;
        let rows = self.rows_of(&xs);
        let xs = xs.as_slice()?;
        let net = &mut self.net;
        let probs = py.detach(|| -> Result<Vec<f32>, TrainError> {
            let mut probs = vec![0.0f32; rows * classes];
            let labels = vec![0usize; PREDICT_BATCH];
            for (xb, pb) in xs
                .chunks(PREDICT_BATCH * len)
                .zip(probs.chunks_mut(PREDICT_BATCH * classes))
            {
                let n = xb.len() / len;
                net.forward(xb, &labels[..n])?;
                softmax_rows(&net.logits()[..n * classes], pb, classes);
            }
            Ok(probs)
        });
        let probs = probs.map_err(train_error)?;
        // The vector becomes the array's buffer (no copy).
        PyArray1::from_vec(py, probs).reshape([rows, classes])
    }

    /// Mean loss (event-weighted with `weight`) of the current weights on `x`, `y`.
    #[pyo3(signature = (x, y, *, weight=None))]
    fn loss(
        &self,
        py: Python<'_>,
        x: &Bound<'_, PyAny>,
        y: &Bound<'_, PyAny>,
        weight: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<f64> {
        self.loss_impl(py, x, y, weight, false).map(|(l, _)| l)
    }

    /// The mean loss on `x`, `y` (event-weighted with `weight`) and its gradient with respect
    /// to every parameter, as `(loss, {name: array})` with the shapes of `parameters()`.
    #[pyo3(signature = (x, y, *, weight=None))]
    fn loss_and_grad<'py>(
        &self,
        py: Python<'py>,
        x: &Bound<'py, PyAny>,
        y: &Bound<'py, PyAny>,
        weight: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<(f64, Bound<'py, PyDict>)> {
        let (loss, grads) = self.loss_impl(py, x, y, weight, true)?;
        Ok((loss, named_arrays(py, &self.net, &grads)?))
    }

    /// The weights as `{name: array}` (copies), named and shaped as in PyTorch
    /// (`fc1.weight: [hidden, in_features]`, ...).
    fn parameters<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        named_arrays(py, &self.net, self.net.params())
    }

    /// Values per input row.
    #[getter]
    fn input_len(&self) -> usize {
        self.net.spec().input_len()
    }

    /// Number of classes (columns of `predict`).
    #[getter]
    fn classes(&self) -> usize {
        self.net.spec().classes()
    }

    /// Number of trainable parameters.
    #[getter]
    fn n_params(&self) -> usize {
        self.net.params().len()
    }

    /// Mean training loss of each epoch of the last `fit`.
    #[getter]
    fn history(&self) -> Vec<f64> {
        self.history.clone()
    }

    fn __repr__(&self) -> String {
        match self.net.spec() {
            ModelSpec::Mlp {
                in_features,
                hidden,
                classes,
            } => {
                format!("Model.mlp(in_features={in_features}, hidden={hidden}, classes={classes})")
            }
            ModelSpec::GwCnn { len, classes } => {
                format!("Model.gw_cnn(length={len}, classes={classes})")
            }
        }
    }
}

impl Model {
    /// Loss (and with `grad` its gradient) over all rows, in chunks of [`PREDICT_BATCH`]
    /// rows (so that the arena stays small): each chunk's mean and gradient count with its
    /// share of the rows.
    fn loss_impl(
        &self,
        py: Python<'_>,
        x: &Bound<'_, PyAny>,
        y: &Bound<'_, PyAny>,
        weight: Option<&Bound<'_, PyAny>>,
        grad: bool,
    ) -> PyResult<(f64, Vec<f32>)> {
        let spec = self.net.spec();
        let len = spec.input_len();
        let xs = arrays::features(x, len)?;
        let rows = self.rows_of(&xs);
        if rows == 0 {
            return Err(PyValueError::new_err("`x` has no rows"));
        }
        let ys: Vec<usize> = arrays::labels(y, rows, spec.classes())?
            .into_iter()
            .map(usize::from)
            .collect();
        let ws = weight.map(|w| arrays::weights(w, rows)).transpose()?;
        let xs = xs.as_slice()?;
        let params = self.net.params();
        py.detach(|| -> Result<(f64, Vec<f32>), TrainError> {
            let mut net = network_with(spec, rows.min(PREDICT_BATCH), params)?;
            let mut total = 0.0f64;
            let mut grads = vec![0.0f32; if grad { params.len() } else { 0 }];
            for (k, (xc, yc)) in xs
                .chunks(PREDICT_BATCH * len)
                .zip(ys.chunks(PREDICT_BATCH))
                .enumerate()
            {
                let wc = ws.as_ref().map(|w| &w[k * PREDICT_BATCH..][..yc.len()]);
                let loss = match (wc, grad) {
                    (Some(w), true) => net.loss_and_grad_weighted(xc, yc, w)?,
                    (Some(w), false) => net.forward_weighted(xc, yc, w)?,
                    (None, true) => net.loss_and_grad(xc, yc)?,
                    (None, false) => net.forward(xc, yc)?,
                };
                let share = yc.len() as f64 / rows as f64;
                total += f64::from(loss) * share;
                for (g, &c) in grads.iter_mut().zip(net.grads()) {
                    *g += c * share as f32;
                }
            }
            Ok((total, grads))
        })
        .map_err(train_error)
    }
}
