//! Loading (decode → validate → sort → shape-check) and running a model forward and backward.

use std::collections::HashMap;
use std::fmt;
use std::path::Path;

use prost::Message;

use crate::error::{OnnxError, Result, UnsupportedOp};
use crate::ops::Op;
use crate::proto;
use crate::tensor::{Data, Tensor};

/// Opsets of the default domain the runtime implements.
pub const OPSETS: std::ops::RangeInclusive<i64> = 13..=21;

/// Largest input the load-time shape check feeds (dynamic dimensions at 1): 2²⁶ elements.
const MAX_CHECK_ELEMS: usize = 1 << 26;

/// One dimension of a declared input or output shape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Dim {
    Fixed(usize),
    /// A named (`"N"`) or unnamed dynamic dimension: any size is accepted.
    Dynamic(String),
}

impl fmt::Display for Dim {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Dim::Fixed(n) => write!(f, "{n}"),
            Dim::Dynamic(s) if s.is_empty() => write!(f, "?"),
            Dim::Dynamic(s) => write!(f, "{s}"),
        }
    }
}

/// Element types of graph inputs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ElemType {
    F32,
    I64,
}

impl ElemType {
    pub fn name(self) -> &'static str {
        match self {
            ElemType::F32 => "float32",
            ElemType::I64 => "int64",
        }
    }
}

/// A graph input or output as declared: name, element type, shape (`None`: not declared).
#[derive(Debug, Clone)]
pub struct ValueInfo {
    pub name: String,
    pub elem: ElemType,
    pub dims: Option<Vec<Dim>>,
}

impl ValueInfo {
    /// The shape as text, `[N, 1, 2048]`.
    pub fn shape_text(&self) -> String {
        match &self.dims {
            None => "[?]".into(),
            Some(d) => format!(
                "[{}]",
                d.iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        }
    }

    fn accepts(&self, shape: &[usize]) -> bool {
        self.dims.as_ref().is_none_or(|dims| {
            dims.len() == shape.len()
                && dims
                    .iter()
                    .zip(shape)
                    .all(|(d, &s)| matches!(d, Dim::Dynamic(_)) || *d == Dim::Fixed(s))
        })
    }
}

/// A node, with its op parsed and its inputs and outputs resolved to value slots.
#[derive(Debug, Clone)]
pub(crate) struct Node {
    pub name: String,
    pub op_type: String,
    pub op: Op,
    /// `None`: an absent optional input (empty name).
    pub inputs: Vec<Option<usize>>,
    pub output: usize,
}

/// A loaded, validated model: nodes in topological order over numbered value slots.
#[derive(Debug, Clone)]
pub struct Model {
    opset: i64,
    names: Vec<String>,
    nodes: Vec<Node>,
    inputs: Vec<(ValueInfo, usize)>,
    outputs: Vec<(ValueInfo, usize)>,
    /// Initializers by slot (`None` for the other slots).
    init: Vec<Option<Tensor>>,
}

/// The graph's ops in file order, each with `Ok(op)` or why it is unsupported: what
/// `ferrograd onnx ops` prints and what loading checks.
pub(crate) fn parse_nodes(
    g: &proto::GraphProto,
    opset: i64,
) -> Vec<(String, String, std::result::Result<Op, String>)> {
    g.node
        .iter()
        .enumerate()
        .map(|(i, n)| {
            let name = if n.name.is_empty() {
                format!("#{i}")
            } else {
                n.name.clone()
            };
            let op = if n.domain.is_empty() || n.domain == "ai.onnx" {
                Op::parse(n, opset)
            } else {
                Err(format!("domain `{}` is not supported", n.domain))
            };
            (name, n.op_type.clone(), op)
        })
        .collect()
}

/// Decodes the protobuf and finds the default-domain opset.
pub(crate) fn decode(bytes: &[u8]) -> Result<(proto::ModelProto, i64)> {
    let m = proto::ModelProto::decode(bytes)?;
    if m.graph.is_none() {
        return Err(OnnxError::NoGraph);
    }
    let opset = m
        .opset_import
        .iter()
        .find(|o| o.domain.is_empty() || o.domain == "ai.onnx")
        .map(|o| o.version)
        .ok_or(OnnxError::NoOpset)?;
    Ok((m, opset))
}

pub(crate) fn value_info(v: &proto::ValueInfoProto) -> Result<ValueInfo> {
    let err = |msg: String| OnnxError::Graph(format!("value `{}`: {msg}", v.name));
    let t = v
        .r#type
        .as_ref()
        .and_then(|t| t.tensor_type.as_ref())
        .ok_or_else(|| err("not a tensor".into()))?;
    let elem = match t.elem_type {
        proto::FLOAT => ElemType::F32,
        proto::INT64 => ElemType::I64,
        other => {
            return Err(err(format!(
                "element type {other} is not supported (float32 and int64 are)"
            )))
        }
    };
    let dims = match &t.shape {
        None => None,
        Some(s) => Some(
            s.dim
                .iter()
                .map(|d| match (d.dim_value, &d.dim_param) {
                    (Some(v), _) => usize::try_from(v)
                        .map(Dim::Fixed)
                        .map_err(|_| err(format!("negative dimension {v}"))),
                    (None, p) => Ok(Dim::Dynamic(p.clone().unwrap_or_default())),
                })
                .collect::<Result<Vec<_>>>()?,
        ),
    };
    Ok(ValueInfo {
        name: v.name.clone(),
        elem,
        dims,
    })
}

impl Model {
    /// Loads and checks a model file (see [`Model::from_bytes`]).
    pub fn load(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let bytes = std::fs::read(path).map_err(|source| OnnxError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Self::from_bytes(&bytes)
    }

    /// Decodes and validates a model: opset 13–21, every op supported (all unsupported ones
    /// reported together), every value defined once, nodes sorted topologically, and shapes
    /// checked by running the graph once on zeros with dynamic dimensions set to 1.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let (m, opset) = decode(bytes)?;
        if !OPSETS.contains(&opset) {
            return Err(OnnxError::Opset {
                domain: "ai.onnx".into(),
                version: opset,
            });
        }
        let g = m.graph.as_ref().ok_or(OnnxError::NoGraph)?;
        let parsed = parse_nodes(g, opset);
        let unsupported: Vec<UnsupportedOp> = parsed
            .iter()
            .filter_map(|(node, op_type, op)| {
                op.as_ref().err().map(|reason| UnsupportedOp {
                    node: node.clone(),
                    op_type: op_type.clone(),
                    reason: reason.clone(),
                })
            })
            .collect();
        if !unsupported.is_empty() {
            return Err(OnnxError::Unsupported(unsupported));
        }

        let mut slots: HashMap<String, usize> = HashMap::new();
        let mut names = Vec::new();
        let mut init = Vec::new();
        let mut define = |name: &str, what: &str, names: &mut Vec<String>| -> Result<usize> {
            if slots.contains_key(name) {
                return Err(OnnxError::Graph(format!(
                    "`{name}` is defined twice ({what})"
                )));
            }
            slots.insert(name.to_string(), names.len());
            names.push(name.to_string());
            Ok(names.len() - 1)
        };
        for t in &g.initializer {
            let tensor = Tensor::from_proto(t)?;
            let id = define(&t.name, "initializer", &mut names)?;
            init.resize(id, None);
            init.push(Some(tensor));
        }
        // Before IR v4 initializers are also listed as inputs: those are not inputs to feed.
        let mut inputs = Vec::new();
        for v in &g.input {
            if names.iter().any(|n| n == &v.name) {
                continue;
            }
            inputs.push((value_info(v)?, define(&v.name, "graph input", &mut names)?));
        }
        let mut nodes = Vec::new();
        for (n, (name, op_type, op)) in g.node.iter().zip(parsed) {
            let op = op.map_err(OnnxError::Graph)?;
            let Some(out) = n.output.first().filter(|o| !o.is_empty()) else {
                return Err(OnnxError::Graph(format!("node `{name}` has no output")));
            };
            nodes.push((name, op_type, op, n.input.clone(), out.clone()));
        }
        for (name, _, _, _, out) in &nodes {
            define(out, &format!("output of node `{name}`"), &mut names)?;
        }
        init.resize(names.len(), None);
        let slot = |name: &str, user: &str| {
            slots.get(name).copied().ok_or_else(|| {
                OnnxError::Graph(format!(
                    "{user} reads `{name}`, which no node, input or initializer provides"
                ))
            })
        };
        let mut resolved = Vec::with_capacity(nodes.len());
        for (name, op_type, op, ins, out) in nodes {
            let inputs = ins
                .iter()
                .map(|i| {
                    if i.is_empty() {
                        Ok(None)
                    } else {
                        slot(i, &format!("node `{name}`")).map(Some)
                    }
                })
                .collect::<Result<Vec<_>>>()?;
            let output = slot(&out, "")?;
            resolved.push(Node {
                name,
                op_type,
                op,
                inputs,
                output,
            });
        }
        let mut outputs = Vec::new();
        for v in &g.output {
            outputs.push((value_info(v)?, slot(&v.name, "the graph's outputs")?));
        }
        let nodes = toposort(resolved, &names, &init, &inputs)?;
        let model = Model {
            opset,
            names,
            nodes,
            inputs,
            outputs,
            init,
        };
        model.check_shapes()?;
        Ok(model)
    }

    /// Runs the graph once on zeros, dynamic dimensions set to 1, and compares the outputs'
    /// fixed dimensions with the declared ones.
    fn check_shapes(&self) -> Result<()> {
        let feed: Vec<(String, Tensor)> = self
            .inputs
            .iter()
            .map(|(v, _)| {
                let shape: Vec<usize> = v
                    .dims
                    .iter()
                    .flatten()
                    .map(|d| match d {
                        Dim::Fixed(n) => *n,
                        Dim::Dynamic(_) => 1,
                    })
                    .collect();
                let n = crate::tensor::numel(&shape)
                    .filter(|&n| n <= MAX_CHECK_ELEMS)
                    .ok_or_else(|| {
                        OnnxError::Graph(format!(
                            "input `{}` declares shape {} (over {MAX_CHECK_ELEMS} elements)",
                            v.name,
                            v.shape_text()
                        ))
                    })?;
                let data = match v.elem {
                    ElemType::F32 => Data::F32(vec![0.0; n]),
                    ElemType::I64 => Data::I64(vec![0; n]),
                };
                Ok((v.name.clone(), Tensor::from_parts(shape, data)))
            })
            .collect::<Result<_>>()?;
        let fwd = self.forward(feed)?;
        for ((v, _), (_, t)) in self.outputs.iter().zip(fwd.outputs()) {
            if !v.accepts(t.shape()) {
                return Err(OnnxError::Graph(format!(
                    "output `{}` is declared {} but computes {:?}",
                    v.name,
                    v.shape_text(),
                    t.shape()
                )));
            }
        }
        Ok(())
    }

    /// The output shapes for the given input shapes (checked against the declared ones), by
    /// running the graph once on zeros: the load-time check for other input shapes.
    pub fn infer_shapes(&self, shapes: &[(&str, Vec<usize>)]) -> Result<Vec<(String, Vec<usize>)>> {
        let mut feed = Vec::with_capacity(shapes.len());
        for (name, shape) in shapes {
            let v = self
                .inputs
                .iter()
                .find(|(v, _)| v.name == *name)
                .map(|(v, _)| v);
            let n = crate::tensor::numel(shape)
                .filter(|&n| n <= MAX_CHECK_ELEMS)
                .ok_or_else(|| OnnxError::InputShape {
                    name: name.to_string(),
                    expected: format!("at most {MAX_CHECK_ELEMS} elements"),
                    got: shape.clone(),
                })?;
            let data = match v.map(|v| v.elem) {
                Some(ElemType::I64) => Data::I64(vec![0; n]),
                _ => Data::F32(vec![0.0; n]),
            };
            feed.push((name.to_string(), Tensor::from_parts(shape.clone(), data)));
        }
        let fwd = self.forward(feed)?;
        Ok(fwd
            .outputs()
            .into_iter()
            .map(|(n, t)| (n.to_string(), t.shape().to_vec()))
            .collect())
    }

    pub fn opset(&self) -> i64 {
        self.opset
    }

    /// The inputs to feed (initializers excluded).
    pub fn inputs(&self) -> impl Iterator<Item = &ValueInfo> {
        self.inputs.iter().map(|(v, _)| v)
    }

    pub fn outputs(&self) -> impl Iterator<Item = &ValueInfo> {
        self.outputs.iter().map(|(v, _)| v)
    }

    /// The initializers (weights), by name.
    pub fn initializers(&self) -> impl Iterator<Item = (&str, &Tensor)> {
        self.init
            .iter()
            .enumerate()
            .filter_map(|(i, t)| t.as_ref().map(|t| (self.names[i].as_str(), t)))
    }

    /// Replaces an initializer (fine-tuning: new weights of the same shape and type).
    pub fn set_initializer(&mut self, name: &str, value: Tensor) -> Result<()> {
        let err = |msg: String| OnnxError::Tensor {
            name: name.to_string(),
            msg,
        };
        let i = self
            .names
            .iter()
            .position(|n| n == name)
            .filter(|&i| self.init[i].is_some())
            .ok_or_else(|| err("no initializer has this name".into()))?;
        let old = self.init[i]
            .as_ref()
            .ok_or_else(|| err("not an initializer".into()))?;
        if old.shape() != value.shape() || old.is_f32() != value.is_f32() {
            return Err(err(format!(
                "expected {:?} {}, got {:?} {}",
                old.shape(),
                old.dtype_name(),
                value.shape(),
                value.dtype_name()
            )));
        }
        self.init[i] = Some(value);
        Ok(())
    }

    fn known_inputs(&self) -> String {
        self.inputs
            .iter()
            .map(|(v, _)| format!("{} {}", v.name, v.shape_text()))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// Runs the graph on named inputs (every input, each with its declared type and a shape
    /// that matches the declared one; dynamic dimensions take any size).
    pub fn forward<S: AsRef<str>>(
        &self,
        inputs: impl IntoIterator<Item = (S, Tensor)>,
    ) -> Result<Forward<'_>> {
        let mut values: Vec<Option<Tensor>> = vec![None; self.names.len()];
        for (name, t) in inputs {
            let name = name.as_ref();
            let (v, slot) = self
                .inputs
                .iter()
                .find(|(v, _)| v.name == name)
                .ok_or_else(|| OnnxError::UnknownInput {
                    name: name.to_string(),
                    known: self.known_inputs(),
                })?;
            if !v.accepts(t.shape()) || t.is_f32() != (v.elem == ElemType::F32) {
                return Err(OnnxError::InputShape {
                    name: name.to_string(),
                    expected: format!(
                        "{} {}",
                        v.shape_text(),
                        if v.elem == ElemType::F32 {
                            "float32"
                        } else {
                            "int64"
                        }
                    ),
                    got: t.shape().to_vec(),
                });
            }
            values[*slot] = Some(t);
        }
        if let Some((v, _)) = self.inputs.iter().find(|(_, s)| values[*s].is_none()) {
            return Err(OnnxError::MissingInput {
                name: v.name.clone(),
                known: self.known_inputs(),
            });
        }
        for node in &self.nodes {
            let ins: Vec<Option<&Tensor>> = node
                .inputs
                .iter()
                .map(|i| i.and_then(|i| self.init[i].as_ref().or(values[i].as_ref())))
                .collect();
            let y = node
                .op
                .forward(&ins)
                .map_err(|msg| self.node_error(node, msg))?;
            values[node.output] = Some(y);
        }
        Ok(Forward {
            model: self,
            values,
        })
    }

    fn node_error(&self, node: &Node, msg: String) -> OnnxError {
        OnnxError::Node {
            node: node.name.clone(),
            op: node.op_type.clone(),
            msg,
        }
    }

    fn value<'a>(&'a self, values: &'a [Option<Tensor>], i: usize) -> Option<&'a Tensor> {
        self.init[i].as_ref().or(values[i].as_ref())
    }
}

/// Kahn's algorithm: nodes in an order where every input is computed before it is read.
fn toposort(
    nodes: Vec<Node>,
    names: &[String],
    init: &[Option<Tensor>],
    inputs: &[(ValueInfo, usize)],
) -> Result<Vec<Node>> {
    let mut ready = vec![false; names.len()];
    for (i, t) in init.iter().enumerate() {
        ready[i] = t.is_some();
    }
    for (_, s) in inputs {
        ready[*s] = true;
    }
    let mut pending: Vec<Option<Node>> = nodes.into_iter().map(Some).collect();
    let mut sorted = Vec::with_capacity(pending.len());
    loop {
        let before = sorted.len();
        for slot in pending.iter_mut() {
            let runnable = slot
                .as_ref()
                .is_some_and(|n| n.inputs.iter().flatten().all(|&i| ready[i]));
            if runnable {
                if let Some(n) = slot.take() {
                    ready[n.output] = true;
                    sorted.push(n);
                }
            }
        }
        if sorted.len() == before {
            break;
        }
    }
    let stuck: Vec<&str> = pending.iter().flatten().map(|n| n.name.as_str()).collect();
    if !stuck.is_empty() {
        return Err(OnnxError::Graph(format!(
            "the graph has a cycle through node(s) {}",
            stuck.join(", ")
        )));
    }
    Ok(sorted)
}

/// A forward pass: every intermediate value, kept for [`Forward::backward`].
pub struct Forward<'m> {
    model: &'m Model,
    values: Vec<Option<Tensor>>,
}

/// Gradients by name: every float graph input, then every float initializer.
#[derive(Debug, Clone)]
pub struct Gradients {
    pub inputs: Vec<(String, Tensor)>,
    pub initializers: Vec<(String, Tensor)>,
}

impl Gradients {
    pub fn get(&self, name: &str) -> Option<&Tensor> {
        self.inputs
            .iter()
            .chain(&self.initializers)
            .find(|(n, _)| n == name)
            .map(|(_, t)| t)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &Tensor)> {
        self.inputs
            .iter()
            .chain(&self.initializers)
            .map(|(n, t)| (n.as_str(), t))
    }
}

impl Forward<'_> {
    /// The graph outputs, in declaration order.
    pub fn outputs(&self) -> Vec<(&str, &Tensor)> {
        self.model
            .outputs
            .iter()
            .filter_map(|(v, s)| {
                self.model
                    .value(&self.values, *s)
                    .map(|t| (v.name.as_str(), t))
            })
            .collect()
    }

    /// Gradient of `sum(all outputs)` w.r.t. every float input and initializer.
    pub fn backward_sum(&self) -> Result<Gradients> {
        let seeds: Vec<(String, Tensor)> = self
            .outputs()
            .into_iter()
            .filter(|(_, t)| t.is_f32())
            .map(|(n, t)| {
                let ones = vec![1.0; t.len()];
                (
                    n.to_string(),
                    Tensor::from_parts(t.shape().to_vec(), Data::F32(ones)),
                )
            })
            .collect();
        self.backward(seeds)
    }

    /// Reverse pass from given output adjoints (seeds, named by output, shaped like it):
    /// each node's pullback in reverse order, adjoints accumulated.
    pub fn backward<S: AsRef<str>>(
        &self,
        seeds: impl IntoIterator<Item = (S, Tensor)>,
    ) -> Result<Gradients> {
        let m = self.model;
        let mut adj: Vec<Option<Vec<f32>>> = vec![None; m.names.len()];
        for (name, seed) in seeds {
            let name = name.as_ref();
            let err = |msg: String| OnnxError::Seed {
                name: name.to_string(),
                msg,
            };
            let (_, slot) = m
                .outputs
                .iter()
                .find(|(v, _)| v.name == name)
                .ok_or_else(|| err("not an output of the graph".into()))?;
            let y = m
                .value(&self.values, *slot)
                .ok_or_else(|| err("not computed".into()))?;
            if y.shape() != seed.shape() || !y.is_f32() {
                return Err(err(format!(
                    "the output is {:?} {}, the seed {:?} {}",
                    y.shape(),
                    y.dtype_name(),
                    seed.shape(),
                    seed.dtype_name()
                )));
            }
            let s = seed.into_f32().unwrap_or_default();
            accumulate(&mut adj[*slot], s);
        }
        for node in m.nodes.iter().rev() {
            let Some(d_y) = adj[node.output].take() else {
                continue;
            };
            if !node.op.has_pullback() {
                continue;
            }
            let ins: Vec<Option<&Tensor>> = node
                .inputs
                .iter()
                .map(|i| i.and_then(|i| m.value(&self.values, i)))
                .collect();
            let y = m
                .value(&self.values, node.output)
                .ok_or_else(|| m.node_error(node, "output not computed".into()))?;
            let mut d_ins: Vec<Vec<f32>> = ins
                .iter()
                .map(|t| match t {
                    Some(t) if t.is_f32() => vec![0.0; t.len()],
                    _ => Vec::new(),
                })
                .collect();
            node.op
                .pullback(&ins, y, &d_y, &mut d_ins)
                .map_err(|msg| m.node_error(node, msg))?;
            for (i, d) in node.inputs.iter().zip(d_ins) {
                if let (Some(i), false) = (i, d.is_empty()) {
                    accumulate(&mut adj[*i], d);
                }
            }
        }
        let grad = |slot: usize, t: &Tensor| {
            let d = adj[slot].clone().unwrap_or_else(|| vec![0.0; t.len()]);
            Tensor::from_parts(t.shape().to_vec(), Data::F32(d))
        };
        let inputs = m
            .inputs
            .iter()
            .filter_map(|(v, s)| {
                let t = self.values[*s].as_ref().filter(|t| t.is_f32())?;
                Some((v.name.clone(), grad(*s, t)))
            })
            .collect();
        let initializers = m
            .init
            .iter()
            .enumerate()
            .filter_map(|(s, t)| {
                let t = t.as_ref().filter(|t| t.is_f32())?;
                Some((m.names[s].clone(), grad(s, t)))
            })
            .collect();
        Ok(Gradients {
            inputs,
            initializers,
        })
    }
}

fn accumulate(slot: &mut Option<Vec<f32>>, d: Vec<f32>) {
    match slot {
        Some(acc) => crate::ops::add_into(acc, &d),
        None => *slot = Some(d),
    }
}
