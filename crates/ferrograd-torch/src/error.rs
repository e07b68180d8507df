//! The crate's error type.

use tch::Kind;

use crate::gradcheck::report::GradcheckReport;

/// Everything that can go wrong in this crate. Messages name the function or
/// tensor involved and, where there is one, the fix.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A custom function got the wrong number of tensor inputs.
    #[error("`{function}` expects {expected} tensor inputs, got {got}")]
    InputCount {
        function: String,
        expected: usize,
        got: usize,
    },

    /// A tensor has the wrong dtype.
    #[error("{what}: expected dtype {expected:?}, got {got}")]
    Dtype {
        what: String,
        expected: Kind,
        got: String,
    },

    /// A tensor has the wrong shape.
    #[error("{what}: expected shape {expected:?}, got {got:?}")]
    Shape {
        what: String,
        expected: Vec<i64>,
        got: Vec<i64>,
    },

    /// Zero-copy access to a tensor that is not contiguous (nothing is copied implicitly).
    #[error(
        "{what}: tensor is not contiguous; call `.contiguous()` first (zero-copy views never copy)"
    )]
    NotContiguous { what: String },

    /// Zero-copy access to a tensor that does not live in CPU memory.
    #[error("{what}: tensor is on the {device} device; only CPU tensors can be viewed as slices")]
    Device { what: String, device: &'static str },

    /// A tensor that is not a dense strided tensor (sparse, mkldnn, ...).
    #[error("{what}: only dense (strided) tensors are supported")]
    Layout { what: String },

    /// A tensor without elements, where at least one is needed.
    #[error(
        "{what}: tensor has no elements (shape {shape:?}); pass a tensor with at least one element"
    )]
    Empty { what: String, shape: Vec<i64> },

    /// An undefined tensor (e.g. `Tensor::new()` or a missing gradient).
    #[error("{what}: tensor is undefined")]
    Undefined { what: String },

    /// A view (read-only or mutable) was requested for a tensor whose storage is shared:
    /// another handle could write it while the view lives.
    #[error(
        "{what}: a view needs exclusive storage, but {handles} handle(s) share the tensor and \
         {storages} tensor(s) share its storage; use `to_vec` or a fresh tensor (e.g. `.copy()`)"
    )]
    SharedStorage {
        what: String,
        handles: i64,
        storages: i64,
    },

    /// A mutable view was requested for a tensor that requires grad.
    #[error("{what}: tensor requires grad; writing through a raw slice would bypass autograd")]
    RequiresGrad { what: String },

    /// `backward` returned the wrong number of gradients.
    #[error("`{function}` backward returned {got} gradients for {expected} inputs (use `None` for inputs without gradient)")]
    GradCount {
        function: String,
        expected: usize,
        got: usize,
    },

    /// `mark_non_differentiable` named an output that does not exist.
    #[error("`{function}` marked output {index} non-differentiable but forward returned {outputs} outputs")]
    OutputIndex {
        function: String,
        index: usize,
        outputs: usize,
    },

    /// A value saved with `save_value` is missing or has another type.
    #[error("`{function}`: saved value `{key}` {problem}")]
    SavedValue {
        function: String,
        key: String,
        problem: &'static str,
    },

    /// User code in forward/backward panicked; the panic was caught at the FFI boundary.
    #[error("`{function}` panicked in {phase}: {message}")]
    Panic {
        function: String,
        phase: &'static str,
        message: String,
    },

    /// A derivative rule in [`crate::rules`] got arguments that do not fit its op (shape,
    /// dtype, device); `problem` names the argument and the shapes.
    #[error("`rules::{rule}`: {problem}")]
    Rule { rule: &'static str, problem: String },

    /// An error reported by LibTorch (including errors raised by Rust backward
    /// code while LibTorch's engine ran it).
    #[error("LibTorch: {0}")]
    Torch(String),

    /// An error from a tch `f_*` call. Shown as LibTorch's one-line message (the C++
    /// stack trace LibTorch appends is left out; the value keeps it).
    #[error("LibTorch: {}", one_line(.0))]
    Tch(#[from] tch::TchError),

    /// A TorchScript file that is missing, unreadable, or whose script failed; `problem` is
    /// the one informative line of LibTorch's message (see [`crate::torchscript`]).
    #[error("TorchScript `{path}`: {problem}")]
    TorchScript { path: String, problem: String },

    /// An error raised by user code, e.g. `Error::msg("x must be positive")`.
    #[error("{0}")]
    Msg(String),

    /// gradcheck found gradients that disagree beyond the tolerance.
    #[error("gradcheck failed: {0}")]
    GradcheckMismatch(Box<GradcheckReport>),
}

/// The first line of a tch error, without tch's "Internal torch error: " prefix.
fn one_line(e: &tch::TchError) -> String {
    let full = match e {
        tch::TchError::Torch(m) => m.clone(),
        other => other.to_string(),
    };
    full.lines().next().unwrap_or_default().to_owned()
}

impl Error {
    /// An error with a free-form message, for use in custom forward/backward code.
    pub fn msg(message: impl Into<String>) -> Self {
        Error::Msg(message.into())
    }
}
