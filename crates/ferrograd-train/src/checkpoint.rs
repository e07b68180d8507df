//! Checkpoints in safetensors: every parameter tensor under its PyTorch name (so the file
//! loads in `safetensors.torch.load_file` for inspection), the optimizer state, and the run's
//! identity, hyper-parameters and position in the string metadata.
//!
//! | tensor | shape |
//! |---|---|
//! | `fc1.weight`, … (one per parameter) | PyTorch layout |
//! | `optim.state1` | `[n_params]` (SGD momentum / Adam `m`) |
//! | `optim.state2` | `[n_params]` (Adam `v`; absent for SGD) |
//!
//! Metadata (all strings; floats in Rust's shortest round-trip form, so values are exact):
//! `format = ferrograd-train/2`, `run_id` (the run the file belongs to), `model`
//! ([`ModelSpec::tag`]), `optimizer` (`sgd`/`adam`) and its hyper-parameters as configured,
//! `lr_scale` and `rollbacks` (what `NonFinitePolicy::Rollback` has done to the learning rate),
//! `opt_steps`, `step`, `epoch`, `batch_in_epoch`, `seed`, `batch_size`, `n_train`, the
//! epoch's running sums `epoch_loss_sum`, `epoch_correct`, `epoch_seen`, the caller's
//! `arg.*` entries ([`Checkpoint::run_args`]) and `checksum`: CRC-32 of every tensor (name,
//! shape, bytes) and every other metadata entry, so that a flipped bit anywhere that matters is
//! caught by [`load`].
//!
//! Writing is crash-safe: the bytes go to a uniquely named temporary file in the same
//! directory (removed again if anything fails), which is `fsync`ed, renamed over the
//! checkpoint, and the directory `fsync`ed; a process killed or a machine losing power while
//! saving leaves the previous checkpoint intact. A temporary file is named
//! `.NAME.PID.RANDOM.tmp` and `flock`ed by its writer, so that the one a killed writer leaves
//! behind is removed by the next save or [`check_writable`] of the same checkpoint, while a
//! live writer's file (live pid, or lock held) is never touched. [`load`] refuses files whose checksum does not
//! match or that hold non-finite values.

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io::{Read, Write};
use std::path::Path;

use safetensors::tensor::{Dtype, SafeTensors, TensorView};

use crate::model::ParamInfo;
use crate::train::EpochAccum;
use crate::{Model, ModelSpec, OptimizerConfig, TrainError};

const FORMAT: &str = "ferrograd-train/2";
/// Prefix of the caller's entries in the metadata.
const ARG_PREFIX: &str = "arg.";

/// Everything needed to continue a run bit-for-bit. `M` is the model (stored by its
/// [`Model::name`]: a built-in [`ModelSpec`]'s tag, from which [`load`] rebuilds it).
#[derive(Debug, Clone, PartialEq)]
pub struct Checkpoint<M = ModelSpec> {
    /// The run this checkpoint belongs to (kept across resumes).
    pub run_id: String,
    pub spec: M,
    /// The optimizer as configured (the learning rate in use is `lr · lr_scale`).
    pub optimizer: OptimizerConfig,
    /// Factor on the configured learning rate (1 unless rollbacks lowered it).
    pub lr_scale: f32,
    /// Rollbacks to the last finite state so far.
    pub rollbacks: u32,
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
    /// Free-form settings of the run (e.g. the command line's arguments), stored as `arg.KEY`.
    pub run_args: BTreeMap<String, String>,
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

fn io<'a>(action: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> TrainError + 'a {
    move |source| TrainError::Io {
        action,
        path: path.to_owned(),
        source,
    }
}

/// CRC-32 over the tensors (sorted by name: name, shape, bytes) and the metadata (sorted by
/// key, without `checksum`).
fn checksum<'a>(
    tensors: impl IntoIterator<Item = (&'a str, &'a [usize], &'a [u8])>,
    meta: &HashMap<String, String>,
) -> String {
    let mut ts: Vec<_> = tensors.into_iter().collect();
    ts.sort_by(|a, b| a.0.cmp(b.0));
    let mut h = crc32fast::Hasher::new();
    for (name, shape, data) in ts {
        h.update(name.as_bytes());
        h.update(&[0]);
        for &d in shape {
            h.update(&(d as u64).to_le_bytes());
        }
        h.update(&(data.len() as u64).to_le_bytes());
        h.update(data);
    }
    let sorted: BTreeMap<_, _> = meta.iter().filter(|(k, _)| *k != "checksum").collect();
    for (k, v) in sorted {
        h.update(k.as_bytes());
        h.update(&[0]);
        h.update(v.as_bytes());
        h.update(&[0]);
    }
    format!("crc32:{:08x}", h.finalize())
}

/// Who owns the file at a checkpoint path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Owner {
    /// Nothing is there.
    Absent,
    /// A ferrograd-train checkpoint of the run with this id.
    Run(String),
    /// Something else (described in words): another program's file, a directory, an older or
    /// damaged checkpoint.
    Other(String),
}

/// What is at `path`, reading at most the safetensors header (so a large data file given by
/// mistake is not read whole).
pub fn owner(path: &Path) -> Owner {
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Owner::Absent,
        Err(e) => return Owner::Other(format!("cannot be inspected: {e}")),
    };
    if meta.is_dir() {
        return Owner::Other("a directory".into());
    }
    if !meta.is_file() {
        return Owner::Other("not a regular file".into());
    }
    let not_ck = || Owner::Other("not a ferrograd checkpoint".into());
    let Ok(mut f) = File::open(path) else {
        return Owner::Other("unreadable".into());
    };
    let mut len = [0u8; 8];
    if f.read_exact(&mut len).is_err() {
        return not_ck();
    }
    let n = u64::from_le_bytes(len);
    if n > 16 << 20 {
        return not_ck();
    }
    let mut header = vec![0u8; n as usize];
    if f.read_exact(&mut header).is_err() {
        return not_ck();
    }
    let Ok(serde_json::Value::Object(top)) = serde_json::from_slice::<serde_json::Value>(&header)
    else {
        return not_ck();
    };
    let Some(serde_json::Value::Object(md)) = top.get("__metadata__") else {
        return not_ck();
    };
    match (md.get("format"), md.get("run_id")) {
        (Some(serde_json::Value::String(f)), Some(serde_json::Value::String(id)))
            if f == FORMAT =>
        {
            Owner::Run(id.clone())
        }
        (Some(serde_json::Value::String(f)), _) if f.starts_with("ferrograd-train/") => {
            Owner::Other(format!("a checkpoint in the older format {f}"))
        }
        _ => not_ck(),
    }
}

fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// A new temporary file next to `path`, named `.NAME.PID.RANDOM.tmp` and locked (`flock`,
/// exclusive) for as long as it is open. Stale temporary files of the same checkpoint, left by
/// a writer that was killed mid-write, are removed first (see [`remove_stale_temps`]).
fn temp_in(path: &Path) -> Result<tempfile::NamedTempFile, TrainError> {
    let dir = parent_dir(path);
    let name = path.file_name().ok_or_else(|| {
        err(
            path,
            "the path names no file; give a file name such as run.safetensors",
        )
    })?;
    let prefix = temp_prefix(name);
    remove_stale_temps(dir, &prefix);
    let tmp = tempfile::Builder::new()
        .prefix(&format!("{prefix}{}.", std::process::id()))
        .suffix(TEMP_SUFFIX)
        .tempfile_in(dir)
        .map_err(|source| TrainError::Io {
            action: "create a temporary file in",
            path: dir.to_owned(),
            source,
        })?;
    lock_exclusive(tmp.as_file()).map_err(io("lock", tmp.path()))?;
    Ok(tmp)
}

const TEMP_SUFFIX: &str = ".tmp";

/// `.NAME.`: what every temporary file of the checkpoint `NAME` starts with.
fn temp_prefix(name: &std::ffi::OsStr) -> String {
    format!(".{}.", name.to_string_lossy())
}

/// The writer's pid, if `file_name` is `PREFIX PID.RANDOM.tmp` (a temporary file of this
/// checkpoint in the current naming; anything else, including files of other checkpoints
/// whose names extend this one's, is not ours to touch).
fn temp_owner(file_name: &str, prefix: &str) -> Option<u32> {
    let rest = file_name.strip_prefix(prefix)?.strip_suffix(TEMP_SUFFIX)?;
    let (pid, random) = rest.split_once('.')?;
    if random.is_empty() || random.contains('.') || !pid.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    pid.parse().ok()
}

/// Removes the temporary files of one checkpoint (`prefix` from [`temp_prefix`]) that no live
/// writer owns: the pid in the name is not a live process (and not this one) **and** the file's
/// lock can be taken (a writer in another pid namespace or on another host still holds it).
/// A live run's file fails both tests, so it is never removed. Best effort: a file that cannot
/// be examined or removed is left alone, since a stale temporary file costs only disk space.
#[cfg(unix)]
fn remove_stale_temps(dir: &Path, prefix: &str) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name.to_str().and_then(|n| temp_owner(n, prefix)) else {
            continue;
        };
        if pid == std::process::id() || process_alive(pid) {
            continue;
        }
        let stale = entry.path();
        let Ok(file) = File::open(&stale) else {
            continue;
        };
        if lock_exclusive(&file).is_ok() {
            let _ = std::fs::remove_file(&stale);
        }
    }
}

#[cfg(not(unix))]
fn remove_stale_temps(_dir: &Path, _prefix: &str) {}

/// Whether `pid` names a live process (one we may not signal counts as live).
#[cfg(unix)]
fn process_alive(pid: u32) -> bool {
    let Some(pid) = i32::try_from(pid)
        .ok()
        .and_then(rustix::process::Pid::from_raw)
    else {
        return false;
    };
    !matches!(
        rustix::process::test_kill_process(pid),
        Err(rustix::io::Errno::SRCH)
    )
}

/// Takes `file`'s exclusive `flock` without waiting (released when the file is closed, also
/// when its process is killed).
#[cfg(unix)]
fn lock_exclusive(file: &File) -> std::io::Result<()> {
    rustix::fs::flock(file, rustix::fs::FlockOperation::NonBlockingLockExclusive)
        .map_err(std::io::Error::from)
}

#[cfg(not(unix))]
fn lock_exclusive(_file: &File) -> std::io::Result<()> {
    Ok(())
}

/// Checks, before any work, that a checkpoint can be written to `path`: it is not a
/// directory and a temporary file can be created next to it (the file is removed again).
///
/// # Errors
/// [`TrainError::Checkpoint`] / [`TrainError::Io`] saying what is wrong.
pub fn check_writable(path: &Path) -> Result<(), TrainError> {
    if path.is_dir() {
        return Err(err(
            path,
            "is a directory; give a file path such as DIR/run.safetensors",
        ));
    }
    let dir = parent_dir(path);
    if !dir.is_dir() {
        return Err(err(
            path,
            format!(
                "directory {} does not exist; create it first",
                dir.display()
            ),
        ));
    }
    let tmp = temp_in(path)?;
    tmp.close().map_err(io("remove the temporary file in", dir))
}

/// Writes `ck` to `path`: a unique temporary file next to it, `fsync`, rename, `fsync` of the
/// directory. The temporary file is removed if anything fails. Does not check who owns
/// `path` (see [`owner`]).
///
/// # Errors
/// [`TrainError::Checkpoint`] if the parameter layout does not match `infos`,
/// [`TrainError::Io`] if writing fails.
pub fn save<M: Model>(
    path: &Path,
    ck: &Checkpoint<M>,
    infos: &[ParamInfo],
) -> Result<(), TrainError> {
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
    put("run_id", ck.run_id.clone());
    put("model", ck.spec.name());
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
        }
        | OptimizerConfig::AdamW {
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
    put("lr_scale", ck.lr_scale.to_string());
    put("rollbacks", ck.rollbacks.to_string());
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
    for (k, v) in &ck.run_args {
        put(&format!("{ARG_PREFIX}{k}"), v.clone());
    }
    let sum = checksum(
        owned
            .iter()
            .map(|(n, s, d)| (n.as_str(), s.as_slice(), d.as_slice())),
        &meta,
    );
    meta.insert("checksum".into(), sum);

    let buf =
        safetensors::tensor::serialize(views, &Some(meta)).map_err(|e| err(path, e.to_string()))?;
    // Dropping `tmp` on any error below removes the temporary file.
    let mut tmp = temp_in(path)?;
    tmp.write_all(&buf).map_err(io("write", tmp.path()))?;
    tmp.as_file().sync_all().map_err(io("fsync", tmp.path()))?;
    tmp.persist(path).map_err(|e| TrainError::Io {
        action: "rename into",
        path: path.to_owned(),
        source: e.error,
    })?;
    sync_dir(parent_dir(path))
}

#[cfg(unix)]
fn sync_dir(dir: &Path) -> Result<(), TrainError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io("fsync directory", dir))
}

#[cfg(not(unix))]
fn sync_dir(_dir: &Path) -> Result<(), TrainError> {
    Ok(())
}

/// Reads a checkpoint written by [`save`], verifying its checksum and that every value is
/// finite.
///
/// # Errors
/// [`TrainError::Io`] if the file cannot be read, [`TrainError::Checkpoint`] if it is not a
/// ferrograd-train safetensors file, a field is missing or malformed, the checksum does not
/// match, or a tensor holds NaN or infinity.
pub fn load(path: &Path) -> Result<Checkpoint, TrainError> {
    load_with(path, |tag| {
        ModelSpec::from_tag(tag).ok_or_else(|| err(path, format!("unknown model {tag:?}")))
    })
}

/// [`load`] for any [`Model`]: `model` gets the stored model name and gives the model (or
/// the error that it is not the one expected); its parameter shapes then check the tensors.
///
/// # Errors
/// As [`load`], and whatever `model` returns.
pub fn load_with<M: Model>(
    path: &Path,
    model: impl FnOnce(&str) -> Result<M, TrainError>,
) -> Result<Checkpoint<M>, TrainError> {
    if path.is_dir() {
        return Err(err(path, "is a directory, not a checkpoint file"));
    }
    let buf = std::fs::read(path).map_err(io("read", path))?;
    let (_, header) = SafeTensors::read_metadata(&buf)
        .map_err(|e| err(path, format!("not a complete safetensors file ({e})")))?;
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
    let format = get("format")?;
    if format != FORMAT {
        return Err(err(
            path,
            format!("format {format:?} is not {FORMAT:?} (an older ferrograd wrote it, without a checksum); start a new run"),
        ));
    }
    let st = SafeTensors::deserialize(&buf).map_err(|e| err(path, e.to_string()))?;
    let expected = get("checksum")?;
    let tensors = st.tensors();
    let found = checksum(
        tensors
            .iter()
            .map(|(n, t)| (n.as_str(), t.shape(), t.data())),
        &meta,
    );
    if found != expected {
        return Err(err(
            path,
            format!("checksum {found} does not match the stored {expected}: the file is damaged; resume from another copy or start a new run"),
        ));
    }

    let spec = model(get("model")?)?;
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
        "adamw" => OptimizerConfig::AdamW {
            lr: flt("lr")?,
            beta1: flt("beta1")?,
            beta2: flt("beta2")?,
            eps: flt("eps")?,
            weight_decay: flt("weight_decay")?,
        },
        other => return Err(err(path, format!("unknown optimizer {other:?}"))),
    };
    optimizer
        .validate()
        .map_err(|e| err(path, format!("stored optimizer settings are invalid: {e}")))?;
    let lr_scale = flt("lr_scale")?;
    if !(lr_scale.is_finite() && lr_scale > 0.0) {
        return Err(err(
            path,
            format!("metadata `lr_scale` = {lr_scale} is not a positive number"),
        ));
    }
    let to_usize = |k: &str| -> Result<usize, TrainError> {
        usize::try_from(num(k)?).map_err(|_| err(path, format!("metadata `{k}` is too large")))
    };

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
        let v: Vec<f32> = t
            .data()
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        if let Some((i, x)) = v.iter().enumerate().find(|(_, x)| !x.is_finite()) {
            return Err(err(
                path,
                format!("tensor `{name}` holds a non-finite value ({x} at index {i}); it cannot be resumed, use an earlier checkpoint"),
            ));
        }
        Ok(v)
    };
    let infos = spec.params()?;
    let mut params = Vec::with_capacity(infos.iter().map(ParamInfo::len).sum());
    for p in &infos {
        params.extend(read(p.name, Some(&p.shape))?);
    }
    let state1 = read("optim.state1", Some(&[params.len()]))?;
    let state2 = if optimizer.has_second_moment() {
        read("optim.state2", Some(&[params.len()]))?
    } else {
        Vec::new()
    };
    let run_args = meta
        .iter()
        .filter_map(|(k, v)| Some((k.strip_prefix(ARG_PREFIX)?.to_owned(), v.clone())))
        .collect();
    Ok(Checkpoint {
        run_id: get("run_id")?.to_owned(),
        spec,
        optimizer,
        lr_scale,
        rollbacks: parse(path, "rollbacks", get("rollbacks")?)?,
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
        run_args,
    })
}
