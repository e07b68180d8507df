//! Checkpoints in safetensors: every parameter tensor under its PyTorch name (so the file
//! loads in `safetensors.torch.load_file` for inspection), the optimizer state, and the run's
//! position in the string metadata.
//!
//! | tensor | shape |
//! |---|---|
//! | `fc1.weight`, … (one per parameter) | PyTorch layout |
//! | `optim.state1` | `[n_params]` (SGD momentum / Adam `m`) |
//! | `optim.state2` | `[n_params]` (Adam `v`; absent for SGD) |
//!
//! Metadata (all strings; floats in Rust's shortest round-trip form, so values are exact):
//! `format = ferrograd-train/1`, `model` ([`ModelSpec::tag`]), `optimizer` (`sgd`/`adam`) and
//! its hyper-parameters, `opt_steps`, `step`, `epoch`, `batch_in_epoch`, `seed`,
//! `batch_size`, `n_train`, and the epoch's running sums `epoch_loss_sum`, `epoch_correct`,
//! `epoch_seen`. Files are written to `PATH.tmp` and renamed, so a process killed while saving
//! leaves the previous checkpoint intact.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use safetensors::tensor::{Dtype, SafeTensors, TensorView};

use crate::model::ParamInfo;
use crate::train::EpochAccum;
use crate::{ModelSpec, OptimizerConfig, TrainError};

const FORMAT: &str = "ferrograd-train/1";

/// Everything needed to continue a run bit-for-bit.
#[derive(Debug, Clone, PartialEq)]
pub struct Checkpoint {
    pub spec: ModelSpec,
    pub optimizer: OptimizerConfig,
    pub params: Vec<f32>,
    pub state1: Vec<f32>,
    pub state2: Vec<f32>,
    pub opt_steps: u64,
    pub step: u64,
    pub epoch: u64,
    pub batch_in_epoch: usize,
    pub seed: u64,
    pub batch_size: usize,
    pub n_train: usize,
    pub accum: EpochAccum,
}

fn bytes(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

fn err(path: &Path, reason: impl Into<String>) -> TrainError {
    TrainError::Checkpoint {
        path: path.to_owned(),
        reason: reason.into(),
    }
}

/// Writes `ck` to `path` (atomically: `PATH.tmp`, then rename).
///
/// # Errors
/// [`TrainError::Checkpoint`] if the parameter layout does not match `infos`,
/// [`TrainError::Io`] if writing fails.
pub fn save(path: &Path, ck: &Checkpoint, infos: &[ParamInfo]) -> Result<(), TrainError> {
    let total: usize = infos.iter().map(ParamInfo::len).sum();
    if total != ck.params.len() {
        return Err(err(path, "parameter layout does not match the model"));
    }
    let mut owned: Vec<(String, Vec<usize>, Vec<u8>)> = Vec::new();
    let mut off = 0;
    for p in infos {
        let n = p.len();
        owned.push((
            p.name.to_owned(),
            p.shape.clone(),
            bytes(&ck.params[off..off + n]),
        ));
        off += n;
    }
    owned.push((
        "optim.state1".into(),
        vec![ck.state1.len()],
        bytes(&ck.state1),
    ));
    if !ck.state2.is_empty() {
        owned.push((
            "optim.state2".into(),
            vec![ck.state2.len()],
            bytes(&ck.state2),
        ));
    }
    let views = owned
        .iter()
        .map(|(name, shape, data)| {
            TensorView::new(Dtype::F32, shape.clone(), data)
                .map(|v| (name.clone(), v))
                .map_err(|e| err(path, e.to_string()))
        })
        .collect::<Result<Vec<_>, _>>()?;

    let mut meta = HashMap::new();
    let mut put = |k: &str, v: String| {
        meta.insert(k.to_owned(), v);
    };
    put("format", FORMAT.into());
    put("model", ck.spec.tag());
    put("optimizer", ck.optimizer.kind().into());
    match ck.optimizer {
        OptimizerConfig::Sgd {
            lr,
            momentum,
            weight_decay,
            nesterov,
        } => {
            put("lr", lr.to_string());
            put("momentum", momentum.to_string());
            put("weight_decay", weight_decay.to_string());
            put("nesterov", nesterov.to_string());
        }
        OptimizerConfig::Adam {
            lr,
            beta1,
            beta2,
            eps,
            weight_decay,
        } => {
            put("lr", lr.to_string());
            put("beta1", beta1.to_string());
            put("beta2", beta2.to_string());
            put("eps", eps.to_string());
            put("weight_decay", weight_decay.to_string());
        }
    }
    put("opt_steps", ck.opt_steps.to_string());
    put("step", ck.step.to_string());
    put("epoch", ck.epoch.to_string());
    put("batch_in_epoch", ck.batch_in_epoch.to_string());
    put("seed", ck.seed.to_string());
    put("batch_size", ck.batch_size.to_string());
    put("n_train", ck.n_train.to_string());
    put("epoch_loss_sum", ck.accum.loss_sum.to_string());
    put("epoch_correct", ck.accum.correct.to_string());
    put("epoch_seen", ck.accum.seen.to_string());

    let buf =
        safetensors::tensor::serialize(views, &Some(meta)).map_err(|e| err(path, e.to_string()))?;
    let tmp = tmp_path(path);
    std::fs::write(&tmp, &buf).map_err(|source| TrainError::Io {
        action: "write",
        path: tmp.clone(),
        source,
    })?;
    std::fs::rename(&tmp, path).map_err(|source| TrainError::Io {
        action: "rename into",
        path: path.to_owned(),
        source,
    })
}

fn tmp_path(path: &Path) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(".tmp");
    PathBuf::from(s)
}

/// Reads a checkpoint written by [`save`].
///
/// # Errors
/// [`TrainError::Io`] if the file cannot be read, [`TrainError::Checkpoint`] if it is not a
/// ferrograd-train safetensors file or a field is missing or malformed.
pub fn load(path: &Path) -> Result<Checkpoint, TrainError> {
    let buf = std::fs::read(path).map_err(|source| TrainError::Io {
        action: "read",
        path: path.to_owned(),
        source,
    })?;
    let (_, header) = SafeTensors::read_metadata(&buf)
        .map_err(|e| err(path, format!("not a safetensors file ({e})")))?;
    let meta = header
        .metadata()
        .clone()
        .ok_or_else(|| err(path, "no metadata (not written by ferrograd-train)"))?;
    let get = |k: &str| -> Result<&str, TrainError> {
        meta.get(k)
            .map(String::as_str)
            .ok_or_else(|| err(path, format!("metadata `{k}` is missing")))
    };
    fn parse<T: std::str::FromStr>(path: &Path, k: &str, v: &str) -> Result<T, TrainError> {
        v.parse()
            .map_err(|_| err(path, format!("metadata `{k}` = {v:?} is malformed")))
    }
    let num = |k: &str| -> Result<u64, TrainError> { parse(path, k, get(k)?) };
    let flt = |k: &str| -> Result<f32, TrainError> { parse(path, k, get(k)?) };
    if get("format")? != FORMAT {
        return Err(err(
            path,
            format!("format {:?}, expected {FORMAT:?}", get("format")?),
        ));
    }
    let spec = ModelSpec::from_tag(get("model")?)
        .ok_or_else(|| err(path, format!("unknown model {:?}", meta.get("model"))))?;
    let optimizer = match get("optimizer")? {
        "sgd" => OptimizerConfig::Sgd {
            lr: flt("lr")?,
            momentum: flt("momentum")?,
            weight_decay: flt("weight_decay")?,
            nesterov: parse(path, "nesterov", get("nesterov")?)?,
        },
        "adam" => OptimizerConfig::Adam {
            lr: flt("lr")?,
            beta1: flt("beta1")?,
            beta2: flt("beta2")?,
            eps: flt("eps")?,
            weight_decay: flt("weight_decay")?,
        },
        other => return Err(err(path, format!("unknown optimizer {other:?}"))),
    };
    let to_usize = |k: &str| -> Result<usize, TrainError> {
        usize::try_from(num(k)?).map_err(|_| err(path, format!("metadata `{k}` is too large")))
    };

    let st = SafeTensors::deserialize(&buf).map_err(|e| err(path, e.to_string()))?;
    let read = |name: &str, shape: Option<&[usize]>| -> Result<Vec<f32>, TrainError> {
        let t = st
            .tensor(name)
            .map_err(|_| err(path, format!("tensor `{name}` is missing")))?;
        if t.dtype() != Dtype::F32 {
            return Err(err(
                path,
                format!("tensor `{name}` is {:?}, expected F32", t.dtype()),
            ));
        }
        if let Some(s) = shape {
            if t.shape() != s {
                return Err(err(
                    path,
                    format!("tensor `{name}` has shape {:?}, expected {s:?}", t.shape()),
                ));
            }
        }
        Ok(t.data()
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect())
    };
    let infos = spec.params()?;
    let mut params = Vec::with_capacity(infos.iter().map(ParamInfo::len).sum());
    for p in &infos {
        params.extend(read(p.name, Some(&p.shape))?);
    }
    let state1 = read("optim.state1", Some(&[params.len()]))?;
    let state2 = match optimizer {
        OptimizerConfig::Adam { .. } => read("optim.state2", Some(&[params.len()]))?,
        OptimizerConfig::Sgd { .. } => Vec::new(),
    };
    Ok(Checkpoint {
        spec,
        optimizer,
        params,
        state1,
        state2,
        opt_steps: num("opt_steps")?,
        step: num("step")?,
        epoch: num("epoch")?,
        batch_in_epoch: to_usize("batch_in_epoch")?,
        seed: num("seed")?,
        batch_size: to_usize("batch_size")?,
        n_train: to_usize("n_train")?,
        accum: EpochAccum {
            loss_sum: parse(path, "epoch_loss_sum", get("epoch_loss_sum")?)?,
            correct: num("epoch_correct")?,
            seen: num("epoch_seen")?,
        },
    })
}
