//! `ferrograd_model_*`: build a network from a small spec (MLP or the GW 1D-CNN), train it on
//! caller arrays with `ferrograd-train`, predict class probabilities into a caller buffer,
//! save and load its weights as a safetensors checkpoint.

use std::collections::BTreeMap;
use std::ffi::{c_char, CStr};
use std::path::PathBuf;

use ferrograd_train::checkpoint::{self, Checkpoint};
use ferrograd_train::{
    Dataset, EpochAccum, ModelSpec, Network, OptimizerConfig, TrainConfig, TrainError, Trainer,
};

use crate::error::{guard, CError, FerrogradStatus};
use crate::ffi;

/// Rows per forward pass in `ferrograd_model_predict` (the arena of the model's network).
const PREDICT_BATCH: usize = 256;

/// A network and its weights (opaque; `ferrograd_model_new_*` / `ferrograd_model_free`).
pub struct FerrogradModel {
    net: Network,
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
/// into `*final_loss` unless it is NULL.
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
    guard(|| {
        // SAFETY: each pointer is NULL (an error) or valid for its length (caller contract).
        let (m, xs, ys) = unsafe {
            (
                ffi::handle_mut(model, "model")?,
                ffi::slice(x, n_x, "x")?,
                ffi::slice(labels, n_rows, "labels")?,
            )
        };
        check_rows(m, xs, n_rows)?;
        let classes = m.net.spec().classes();
        if let Some(i) = ys.iter().position(|&y| usize::from(y) >= classes) {
            return Err(CError::Invalid(format!(
                "`labels[{i}]` = {} but the model has {classes} classes",
                ys[i]
            )));
        }
        if !(learning_rate.is_finite() && learning_rate > 0.0) {
            return Err(CError::Invalid(format!(
                "learning rate {learning_rate}: must be finite and > 0"
            )));
        }
        if batch_size == 0 || batch_size > n_rows {
            return Err(CError::Invalid(format!(
                "batch size {batch_size}: must be between 1 and the {n_rows} rows"
            )));
        }
        if epochs == 0 {
            return Err(CError::Invalid("epochs must be at least 1".into()));
        }
        let data = Dataset::new(xs, ys, m.net.spec().input_len())?;
        let cfg = TrainConfig::new(
            epochs,
            batch_size,
            seed,
            OptimizerConfig::adam(learning_rate),
        );
        // The training arena is sized for `batch_size`; weights go in and come back out.
        let mut net = Network::new(m.net.spec(), batch_size, seed)?;
        net.params_mut().copy_from_slice(m.net.params());
        let mut trainer = Trainer::with_network(net, cfg, n_rows)?;
        let reports = trainer.fit(&data, None, &mut |_| {})?;
        m.net
            .params_mut()
            .copy_from_slice(trainer.network().params());
        if !final_loss.is_null() {
            // SAFETY: non-NULL `final_loss` is writable (caller contract).
            let out = unsafe { ffi::out(final_loss, "final_loss") }?;
            *out = reports.last().map_or(f64::NAN, |r| r.train_loss);
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

/// Saves the model's weights to `path` as a ferrograd safetensors checkpoint (written to a
/// temporary file, then renamed). The optimizer's moments are not kept.
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
        let ck = Checkpoint {
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
        checkpoint::save(&path, &ck, m.net.param_infos())?;
        Ok(())
    })
}

/// Loads a checkpoint written by `ferrograd_model_save` (or `ferrograd train`) into a new
/// model `*out`; its checksum and finiteness are verified.
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
        Ok(FerrogradModel { net })
    };
    // SAFETY: forwarded caller contract for `out`.
    unsafe { store(out, make) }
}
