//! `ferrograd_model_*`: build a network from a small spec (MLP or the GW 1D-CNN), train it on
//! caller arrays with `ferrograd-train`, predict class probabilities into a caller buffer,
//! save and load its weights as a safetensors checkpoint.

use std::collections::BTreeMap;
use std::ffi::{c_char, CStr};
use std::path::PathBuf;

use ferrograd_train::checkpoint::{self, Checkpoint};
use ferrograd_train::{EpochAccum, ModelSpec, Network, OptimizerConfig, TrainError};

use crate::error::{guard, CError, FerrogradStatus};
use crate::ffi;
use crate::run::{self, FerrogradTrainOptions, FerrogradTrainReport, Origin, Rows, Run};

/// Rows per forward pass in `ferrograd_model_predict` (the arena of the model's network).
const PREDICT_BATCH: usize = 256;

/// A network, its weights and its training run (opaque; `ferrograd_model_new_*` /
/// `ferrograd_model_free`).
pub struct FerrogradModel {
    pub(crate) net: Network,
    /// Optimizer moments and batch order of the last training, continued by the next call.
    pub(crate) run: Option<Run>,
}

impl From<TrainError> for CError {
    fn from(e: TrainError) -> Self {
        CError::Train(e.to_string())
    }
}

fn new_model(spec: ModelSpec, seed: u64) -> Result<FerrogradModel, CError> {
    spec.validate()
        .map_err(|e| CError::Invalid(e.to_string()))?;
    Ok(FerrogradModel {
        net: Network::new(spec, PREDICT_BATCH, seed)?,
        run: None,
    })
}

/// # Safety
/// `out` NULL (an error) or writable.
unsafe fn store(
    out: *mut *mut FerrogradModel,
    make: impl FnOnce() -> Result<FerrogradModel, CError>,
) -> FerrogradStatus {
    guard(|| {
        // SAFETY: `out` is NULL or writable (caller contract of the public functions).
        let out = unsafe { ffi::out(out, "out") }?;
        *out = std::ptr::null_mut();
        *out = Box::into_raw(Box::new(make()?));
        Ok(())
    })
}

/// A multilayer perceptron `Linear(in→hidden) → ReLU → Linear(hidden→classes)` with
/// PyTorch's default initialisation from `seed`, into `*out`.
///
/// # Safety
/// `out` must be NULL (an error) or point to writable storage for one pointer.
#[no_mangle]
pub unsafe extern "C" fn ferrograd_model_new_mlp(
    in_features: usize,
    hidden: usize,
    classes: usize,
    seed: u64,
    out: *mut *mut FerrogradModel,
) -> FerrogradStatus {
    let spec = ModelSpec::Mlp {
        in_features,
        hidden,
        classes,
    };
    // SAFETY: forwarded caller contract.
    unsafe { store(out, || new_model(spec, seed)) }
}

/// The gravitational-wave 1D-CNN (W2) on inputs of `len` samples, into `*out`.
///
/// # Safety
/// `out` must be NULL (an error) or point to writable storage for one pointer.
#[no_mangle]
pub unsafe extern "C" fn ferrograd_model_new_gw_cnn(
    len: usize,
    classes: usize,
    seed: u64,
    out: *mut *mut FerrogradModel,
) -> FerrogradStatus {
    // SAFETY: forwarded caller contract.
    unsafe { store(out, || new_model(ModelSpec::GwCnn { len, classes }, seed)) }
}

/// Releases a model; NULL is a no-op.
///
/// # Safety
/// `model` must be NULL or from `ferrograd_model_new_*`/`ferrograd_model_load`, not yet freed.
#[no_mangle]
pub unsafe extern "C" fn ferrograd_model_free(model: *mut FerrogradModel) {
    if !model.is_null() {
        // SAFETY: created by `Box::into_raw` in this module, freed once.
        drop(unsafe { Box::from_raw(model) });
    }
}

/// The input row length and the number of classes of a model.
///
/// # Safety
/// `model` live; `input_len`, `classes` writable.
#[no_mangle]
pub unsafe extern "C" fn ferrograd_model_shape(
    model: *const FerrogradModel,
    input_len: *mut usize,
    classes: *mut usize,
) -> FerrogradStatus {
    guard(|| {
        // SAFETY: each pointer is NULL (an error) or valid (caller contract).
        let (m, i, c) = unsafe {
            (
                ffi::handle(model, "model")?,
                ffi::out(input_len, "input_len")?,
                ffi::out(classes, "classes")?,
            )
        };
        *i = m.net.spec().input_len();
        *c = m.net.spec().classes();
        Ok(())
    })
}

fn check_rows(m: &FerrogradModel, x: &[f32], rows: usize) -> Result<(), CError> {
    let len = m.net.spec().input_len();
    if rows == 0 || Some(x.len()) != rows.checked_mul(len) {
        return Err(CError::Invalid(format!(
            "`x` has {} values; expected rows × {len} = {rows} × {len}",
            x.len()
        )));
    }
    if let Some(i) = x.iter().position(|v| !v.is_finite()) {
        return Err(CError::Invalid(format!(
            "`x[{i}]` = {} is not finite",
            x[i]
        )));
    }
    Ok(())
}

/// Trains the model on `x: [n_rows, input_len]` (row-major `float`) with class labels
/// `labels[0..n_rows]` (`< classes`): `epochs` epochs of Adam (`learning_rate`) on shuffled
/// mini-batches of `batch_size`, seeded by `seed`. Writes the last epoch's mean training loss
/// into `*final_loss` unless it is NULL. As `ferrograd_model_train_opts`: a call with the
/// settings and row count of the model's last training continues that run.
///
/// # Safety
/// `model` live and not used by another thread; `x` `n_x` floats; `labels` `n_rows` bytes;
/// `final_loss` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn ferrograd_model_train(
    model: *mut FerrogradModel,
    x: *const f32,
    n_x: usize,
    labels: *const u8,
    n_rows: usize,
    epochs: u64,
    batch_size: usize,
    learning_rate: f32,
    seed: u64,
    final_loss: *mut f64,
) -> FerrogradStatus {
    let opts = FerrogradTrainOptions {
        epochs,
        max_steps: 0,
        batch_size,
        learning_rate,
        seed,
    };
    let mut report = FerrogradTrainReport::default();
    // SAFETY: forwarded caller contract; `opts` and `report` are locals.
    let status = unsafe {
        ferrograd_model_train_opts(
            model,
            x,
            n_x,
            labels,
            n_rows,
            std::ptr::null(),
            &opts,
            &mut report,
        )
    };
    if status == FerrogradStatus::Ok && !final_loss.is_null() {
        // SAFETY: non-NULL `final_loss` is writable (caller contract).
        unsafe { *final_loss = report.final_loss };
    }
    status
}

/// Trains the model on `x: [n_rows, input_len]` (row-major `float`) with class labels
/// `labels[0..n_rows]` (`< classes`) and optional event weights `weights[0..n_rows]` (NULL:
/// all 1; MLP only), with Adam as `*options` says; fills `*report` unless it is NULL.
///
/// The model keeps its run — Adam's moments and the position in the seeded batch order — and
/// `ferrograd_model_save` stores it: a later call (after a load, too) with the same
/// `batch_size`, `learning_rate`, `seed` and number of rows continues that run exactly, as if
/// one call had taken all the steps. Other settings start a new run from the current weights.
///
/// # Safety
/// `model` live and not used by another thread; `x` `n_x` floats; `labels` `n_rows` bytes;
/// `weights` NULL or `n_rows` floats; `options` readable; `report` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn ferrograd_model_train_opts(
    model: *mut FerrogradModel,
    x: *const f32,
    n_x: usize,
    labels: *const u8,
    n_rows: usize,
    weights: *const f32,
    options: *const FerrogradTrainOptions,
    report: *mut FerrogradTrainReport,
) -> FerrogradStatus {
    guard(|| {
        // SAFETY: each pointer is NULL (an error, or absent where optional) or valid for its
        // length (caller contract).
        let (m, xs, ys, opts) = unsafe {
            (
                ffi::handle_mut(model, "model")?,
                ffi::slice(x, n_x, "x")?,
                ffi::slice(labels, n_rows, "labels")?,
                *ffi::handle(options, "options")?,
            )
        };
        let ws = if weights.is_null() {
            None
        } else {
            // SAFETY: non-NULL `weights` holds `n_rows` floats (caller contract).
            Some(unsafe { ffi::slice(weights, n_rows, "weights") }?)
        };
        let data = Rows::new(m.net.spec(), xs, ys, ws, &Origin::Arrays)?;
        let r = run::train(&mut m.net, &mut m.run, &data, &opts)?;
        if !report.is_null() {
            // SAFETY: non-NULL `report` is writable (caller contract).
            *unsafe { ffi::out(report, "report") }? = r;
        }
        Ok(())
    })
}

/// Class probabilities (softmax of the logits) for `x: [n_rows, input_len]` into
/// `probs_out[0..n_out]`, `n_out = n_rows × classes`, row-major.
///
/// # Safety
/// `model` live and not used by another thread; `x` `n_x` floats; `probs_out` `n_out`
/// writable floats.
#[no_mangle]
pub unsafe extern "C" fn ferrograd_model_predict(
    model: *mut FerrogradModel,
    x: *const f32,
    n_x: usize,
    n_rows: usize,
    probs_out: *mut f32,
    n_out: usize,
) -> FerrogradStatus {
    guard(|| {
        // SAFETY: each pointer is NULL (an error) or valid for its length (caller contract).
        let (m, xs, out) = unsafe {
            (
                ffi::handle_mut(model, "model")?,
                ffi::slice(x, n_x, "x")?,
                ffi::slice_mut(probs_out, n_out, "probs_out")?,
            )
        };
        check_rows(m, xs, n_rows)?;
        let (len, classes) = (m.net.spec().input_len(), m.net.spec().classes());
        if Some(out.len()) != n_rows.checked_mul(classes) {
            return Err(CError::Invalid(format!(
                "`probs_out` has {} floats; expected rows × classes = {n_rows} × {classes}",
                out.len()
            )));
        }
        let labels = vec![0usize; PREDICT_BATCH];
        for (xb, ob) in xs
            .chunks(PREDICT_BATCH * len)
            .zip(out.chunks_mut(PREDICT_BATCH * classes))
        {
            let rows = xb.len() / len;
            m.net.forward(xb, &labels[..rows])?;
            for (logits, probs) in m.net.logits()[..rows * classes]
                .chunks(classes)
                .zip(ob.chunks_mut(classes))
            {
                let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
                let mut sum = 0.0;
                for (p, &l) in probs.iter_mut().zip(logits) {
                    *p = (l - max).exp();
                    sum += *p;
                }
                probs.iter_mut().for_each(|p| *p /= sum);
            }
        }
        Ok(())
    })
}

/// # Safety
/// `path` NULL (an error) or a NUL-terminated string.
unsafe fn path_arg(path: *const c_char) -> Result<PathBuf, CError> {
    if path.is_null() {
        return Err(CError::Null("path"));
    }
    // SAFETY: non-NULL and NUL-terminated (caller contract).
    let s = unsafe { CStr::from_ptr(path) };
    s.to_str()
        .map(PathBuf::from)
        .map_err(|_| CError::Invalid("`path` is not UTF-8".into()))
}

/// Saves the model's weights and its training run (Adam's moments, step count, position in
/// the batch order) to `path` as a ferrograd safetensors checkpoint (written to a temporary
/// file, then renamed), so that training after `ferrograd_model_load` continues exactly.
///
/// # Safety
/// `model` live; `path` a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn ferrograd_model_save(
    model: *const FerrogradModel,
    path: *const c_char,
) -> FerrogradStatus {
    guard(|| {
        // SAFETY: NULL (an error) or valid (caller contract).
        let (m, path) = unsafe { (ffi::handle(model, "model")?, path_arg(path)?) };
        let params = m.net.params().to_vec();
        let n = params.len();
        let mut ck = Checkpoint {
            run_id: "capi".into(),
            spec: m.net.spec(),
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
        if let Some(run) = &m.run {
            run.record(&mut ck);
        }
        checkpoint::save(&path, &ck, m.net.param_infos())?;
        Ok(())
    })
}

/// Loads a checkpoint written by `ferrograd_model_save` (or `ferrograd train`) into a new
/// model `*out`, with its training run; its checksum and finiteness are verified.
///
/// # Safety
/// `path` a NUL-terminated string; `out` writable storage for one pointer.
#[no_mangle]
pub unsafe extern "C" fn ferrograd_model_load(
    path: *const c_char,
    out: *mut *mut FerrogradModel,
) -> FerrogradStatus {
    let make = || {
        // SAFETY: `path` is NULL (an error) or NUL-terminated (caller contract).
        let path = unsafe { path_arg(path) }?;
        let ck = checkpoint::load(&path)?;
        let mut net = Network::new(ck.spec, PREDICT_BATCH, 0)?;
        if net.params().len() != ck.params.len() {
            return Err(CError::Invalid(format!(
                "{}: {} parameters, the model needs {}",
                path.display(),
                ck.params.len(),
                net.params().len()
            )));
        }
        net.params_mut().copy_from_slice(&ck.params);
        let run = Run::from_checkpoint(&ck)
            .map_err(|e| CError::Invalid(format!("{}: {e}", path.display())))?;
        Ok(FerrogradModel { net, run })
    };
    // SAFETY: forwarded caller contract for `out`.
    unsafe { store(out, make) }
}
