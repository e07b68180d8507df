use std::path::PathBuf;

/// An op the runtime cannot execute, as found in the graph.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnsupportedOp {
    pub node: String,
    pub op_type: String,
    /// Why: an unknown op, a non-default domain, or an attribute/form we do not implement.
    pub reason: String,
}

impl std::fmt::Display for UnsupportedOp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "node `{}` ({}): {}",
            self.node, self.op_type, self.reason
        )
    }
}

/// Everything that can go wrong loading or running a model; never a panic.
#[derive(Debug, thiserror::Error)]
pub enum OnnxError {
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("not a valid ONNX model: protobuf decoding failed ({0}); is the file complete and an .onnx model?")]
    Decode(#[from] prost::DecodeError),
    #[error("the model has no graph: an empty file, or not an ONNX model")]
    NoGraph,
    #[error("the model imports no opset of the default ONNX domain")]
    NoOpset,
    #[error("unsupported opset {version} of domain `{domain}`: ferrograd-onnx runs opsets 13 to 21; re-export the model with opset_version in that range")]
    Opset { domain: String, version: i64 },
    #[error("{} unsupported op(s):\n  {}", .0.len(), .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n  "))]
    Unsupported(Vec<UnsupportedOp>),
    #[error("tensor `{name}`: {msg}")]
    Tensor { name: String, msg: String },
    #[error("a tensor of shape {shape:?} cannot hold {len} elements")]
    Shape { shape: Vec<usize>, len: usize },
    #[error("invalid graph: {0}")]
    Graph(String),
    #[error("input `{name}`: expected shape {expected}, got {got:?}")]
    InputShape {
        name: String,
        expected: String,
        got: Vec<usize>,
    },
    #[error("missing input `{name}` (the model's inputs: {known})")]
    MissingInput { name: String, known: String },
    #[error("unknown input `{name}` (the model's inputs: {known})")]
    UnknownInput { name: String, known: String },
    #[error("node `{node}` ({op}): {msg}")]
    Node {
        node: String,
        op: String,
        msg: String,
    },
    #[error("{path}: {msg}")]
    Npy { path: PathBuf, msg: String },
    #[error("seed for output `{name}`: {msg}")]
    Seed { name: String, msg: String },
}

pub type Result<T, E = OnnxError> = std::result::Result<T, E>;
