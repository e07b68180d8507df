//! TorchScript models (what `torch.jit.script`/`torch.jit.trace` + `.save` write) in the
//! bridge: inference, fine-tuning, and backbones of mixed models.
//!
//! - [`TorchScript`]: a module loaded for inference: eval mode, run under `no_grad`, inputs
//!   checked against an optional [`InputSpec`] list before LibTorch sees them.
//! - [`TrainableTorchScript`]: a module whose parameters are registered in a
//!   `tch::nn::VarStore` (exactly as tch's `TrainableCModule::load` does: the same tensors,
//!   dots in names replaced by `_`), so any tch optimizer fine-tunes it. It can be frozen
//!   ([`TrainableTorchScript::set_trainable`]) to serve as a fixed backbone.
//!
//! A mixed model is a [`TrainableTorchScript`] backbone whose output feeds a ferrograd node
//! (e.g. [`crate::node::value_and_grad_node`] running a generated `f_grad`): LibTorch's
//! autograd runs the script's backward and the node's generated backward in one graph, so
//! the node's input gradient flows into the backbone's parameters when it is trainable.
//!
//! # Errors
//! LibTorch reports a failing script as a multi-line TorchScript traceback; these wrappers
//! turn it (and a missing or unreadable file) into an [`Error::TorchScript`] naming the file
//! and the one line that says what went wrong.

use std::path::{Path, PathBuf};

use tch::nn;
use tch::{CModule, Kind, Tensor};

use crate::Error;

/// What one input of a module must be: its dtype and shape (`None`: any size, e.g. the
/// batch dimension). TorchScript files carry no input signature, so the caller states it.
#[derive(Debug, Clone, PartialEq)]
pub struct InputSpec {
    pub kind: Kind,
    pub shape: Vec<Option<i64>>,
}

impl InputSpec {
    /// An input of dtype `kind` and shape `shape`, where `-1` means "any size".
    pub fn new(kind: Kind, shape: &[i64]) -> Self {
        InputSpec {
            kind,
            shape: shape.iter().map(|&d| (d >= 0).then_some(d)).collect(),
        }
    }

    fn check(&self, what: &str, t: &Tensor) -> Result<(), Error> {
        if !t.defined() {
            return Err(Error::Undefined { what: what.into() });
        }
        if t.kind() != self.kind {
            return Err(Error::Dtype {
                what: what.into(),
                expected: self.kind,
                got: format!("{:?}", t.kind()),
            });
        }
        let got = t.size();
        let fits = got.len() == self.shape.len()
            && got
                .iter()
                .zip(&self.shape)
                .all(|(&g, e)| e.is_none_or(|e| e == g));
        if !fits {
            return Err(Error::Shape {
                what: format!("{what} (-1: any size)"),
                expected: self.shape.iter().map(|d| d.unwrap_or(-1)).collect(),
                got,
            });
        }
        Ok(())
    }
}

/// The one informative line of a TorchScript interpreter error: its last `...Error: ...`
/// line (the traceback above it names generated code), else its first line.
fn script_problem(e: &tch::TchError) -> String {
    let full = match e {
        tch::TchError::Torch(m) => m.clone(),
        other => other.to_string(),
    };
    let lines: Vec<&str> = full
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    lines
        .iter()
        .rev()
        .find(|l| l.contains("Error: "))
        .or(lines.first())
        .map(|l| l.to_string())
        .unwrap_or(full)
}

fn ts_error(path: &Path, problem: impl Into<String>) -> Error {
    Error::TorchScript {
        path: path.display().to_string(),
        problem: problem.into(),
    }
}

/// Loads `path` as a TorchScript module on `device`, with errors that name the file.
fn load_module(path: &Path, device: tch::Device) -> Result<CModule, Error> {
    if !path.is_file() {
        return Err(ts_error(
            path,
            "no such file (write one with torch.jit.script(model).save(path))",
        ));
    }
    CModule::load_on_device(path, device).map_err(|e| {
        ts_error(
            path,
            format!(
                "not a loadable TorchScript archive (torch.jit.save output): {}",
                script_problem(&e)
            ),
        )
    })
}

/// Checks `inputs` against `specs` (when given) before running the script.
fn check_inputs(path: &Path, specs: &[InputSpec], inputs: &[&Tensor]) -> Result<(), Error> {
    if specs.is_empty() {
        return Ok(());
    }
    if specs.len() != inputs.len() {
        return Err(Error::InputCount {
            function: path.display().to_string(),
            expected: specs.len(),
            got: inputs.len(),
        });
    }
    for (i, (spec, t)) in specs.iter().zip(inputs).enumerate() {
        spec.check(&format!("{} input {i}", path.display()), t)?;
    }
    Ok(())
}

/// A TorchScript module for inference: eval mode, forward under `no_grad`.
#[derive(Debug)]
pub struct TorchScript {
    module: CModule,
    path: PathBuf,
    inputs: Vec<InputSpec>,
}

impl TorchScript {
    /// Loads a `torch.jit.save` file on the CPU and switches it to eval mode (dropout off,
    /// batch-norm on running statistics), as inference needs.
    ///
    /// # Errors
    /// [`Error::TorchScript`] when the file is missing or is not a TorchScript archive.
    pub fn load(path: impl AsRef<Path>) -> Result<Self, Error> {
        let path = path.as_ref();
        let mut module = load_module(path, tch::Device::Cpu)?;
        module
            .f_set_eval()
            .map_err(|e| ts_error(path, script_problem(&e)))?;
        Ok(TorchScript {
            module,
            path: path.to_owned(),
            inputs: Vec::new(),
        })
    }

    /// Declares the inputs' dtypes and shapes, checked by every [`Self::forward`] before
    /// the script runs (so a wrong input is an error naming the input, not a traceback).
    #[must_use]
    pub fn with_inputs(mut self, specs: Vec<InputSpec>) -> Self {
        self.inputs = specs;
        self
    }

    /// The file this module was loaded from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs the module's `forward` under `no_grad` (no graph is recorded).
    ///
    /// # Errors
    /// Input count, dtype or shape errors against the declared [`InputSpec`]s; a failing
    /// script (e.g. a shape its ops reject) as [`Error::TorchScript`].
    pub fn forward(&self, inputs: &[&Tensor]) -> Result<Tensor, Error> {
        check_inputs(&self.path, &self.inputs, inputs)?;
        tch::no_grad(|| self.module.forward_ts(inputs))
            .map_err(|e| ts_error(&self.path, script_problem(&e)))
    }
}

/// A TorchScript module whose parameters live in a `VarStore`, for fine-tuning with tch's
/// optimizers or as the backbone of a mixed model.
#[derive(Debug)]
pub struct TrainableTorchScript {
    module: CModule,
    path: PathBuf,
    inputs: Vec<InputSpec>,
    /// `(VarStore name, tensor)`: the module's own parameter tensors (shallow clones).
    params: Vec<(String, Tensor)>,
    /// Which parameters the script itself marked trainable (restored by unfreezing).
    trainable_in_script: Vec<bool>,
}

impl TrainableTorchScript {
    /// Loads a `torch.jit.save` file on `vs_path`'s device and registers every parameter in
    /// its `VarStore` under `vs_path`, named as in PyTorch with `.` replaced by `_` (what
    /// tch's `TrainableCModule::load` does; the tensors are the module's own, so an
    /// optimizer step on the store changes the script's weights). Training mode is on.
    ///
    /// # Errors
    /// [`Error::TorchScript`] when the file is missing or is not a TorchScript archive.
    pub fn load(path: impl AsRef<Path>, vs_path: nn::Path) -> Result<Self, Error> {
        let path = path.as_ref();
        let mut module = load_module(path, vs_path.device())?;
        module
            .f_set_train()
            .map_err(|e| ts_error(path, script_problem(&e)))?;
        let named = module
            .named_parameters()
            .map_err(|e| ts_error(path, script_problem(&e)))?;
        let mut params = Vec::with_capacity(named.len());
        let mut trainable_in_script = Vec::with_capacity(named.len());
        for (name, tensor) in named {
            let name = name.replace('.', "_");
            let trainable = tensor.requires_grad();
            let t = vs_path.add(&name, tensor, trainable);
            params.push((name, t));
            trainable_in_script.push(trainable);
        }
        Ok(TrainableTorchScript {
            module,
            path: path.to_owned(),
            inputs: Vec::new(),
            params,
            trainable_in_script,
        })
    }

    /// As [`TorchScript::with_inputs`].
    #[must_use]
    pub fn with_inputs(mut self, specs: Vec<InputSpec>) -> Self {
        self.inputs = specs;
        self
    }

    /// The file this module was loaded from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The parameters as registered in the `VarStore` (`_`-separated names).
    pub fn parameters(&self) -> &[(String, Tensor)] {
        &self.params
    }

    /// Freezes (`false`: no parameter requires grad, so LibTorch records no graph through
    /// the weights and an optimizer skips them) or unfreezes (`true`: the parameters the
    /// script marked trainable require grad again) the module.
    pub fn set_trainable(&mut self, trainable: bool) {
        for ((_, t), &in_script) in self.params.iter().zip(&self.trainable_in_script) {
            let _ = t.set_requires_grad(trainable && in_script);
        }
    }

    /// Whether any parameter requires grad.
    pub fn is_trainable(&self) -> bool {
        self.params.iter().any(|(_, t)| t.requires_grad())
    }

    /// Training (`true`) or eval (`false`) mode of the script's dropout/batch-norm layers.
    ///
    /// # Errors
    /// A LibTorch error from the switch, as [`Error::TorchScript`].
    pub fn set_train(&mut self, train: bool) -> Result<(), Error> {
        let r = if train {
            self.module.f_set_train()
        } else {
            self.module.f_set_eval()
        };
        r.map_err(|e| ts_error(&self.path, script_problem(&e)))
    }

    /// Runs the module's `forward`, recording the graph when grad mode is on and a
    /// parameter or input requires grad (wrap in `tch::no_grad` for evaluation).
    ///
    /// # Errors
    /// As [`TorchScript::forward`].
    pub fn forward(&self, inputs: &[&Tensor]) -> Result<Tensor, Error> {
        check_inputs(&self.path, &self.inputs, inputs)?;
        self.module
            .forward_ts(inputs)
            .map_err(|e| ts_error(&self.path, script_problem(&e)))
    }
}
