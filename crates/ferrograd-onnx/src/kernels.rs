//! The ONNX ops as `#[differentiable]` kernels, for the Rust that `onnx2rs` generates
//! ([`crate::codegen`]): the generated function imports this module with a glob (kernels are
//! found with their `_pullback` by name) and calls one kernel per node.
//!
//! Relu, LeakyRelu, Tanh, Sigmoid, tanh-GELU, Gemm as a linear layer, 1-D Conv, last-axis Softmax and
//! LayerNormalization, same-shape Add, and the ops that only reshape (`flatten`) call the `ferrograd_kernels` kernel (re-exported
//! here). Every other op goes through the same run-time implementation as [`crate::Model::forward`] and
//! [`crate::Forward::backward`], so the build-time and run-time paths compute the same numbers.
//! A node's attributes, its int64 inputs (folded at generation time) and its shapes live in
//! a [`Plan`], built once by the generated `plan()`; the kernels `op1`…`op5` (by the number of
//! f32 inputs) take the plan and the node's index. They follow the kernel contract of
//! `ferrograd_kernels` (output first, pullbacks accumulate, an empty adjoint is "not needed",
//! the output's adjoint is zeroed on exit) except that they allocate: the op implementations
//! work on owned tensors.

use std::collections::HashMap;
use std::path::Path;

pub use ferrograd_kernels::{ArgMode, KernelError};
// The ferrograd kernels the generated code calls where one computes exactly what the op does.
pub use ferrograd_kernels::{
    add, add_ARG_MODES, add_pullback, conv1d, conv1d_ARG_MODES, conv1d_pullback, flatten,
    flatten_ARG_MODES, flatten_pullback, gelu, gelu_ARG_MODES, gelu_pullback, layer_norm,
    layer_norm_ARG_MODES, layer_norm_pullback, leaky_relu, leaky_relu_ARG_MODES,
    leaky_relu_pullback, linear, linear_ARG_MODES, linear_pullback, relu, relu_ARG_MODES,
    relu_pullback, sigmoid, sigmoid_ARG_MODES, sigmoid_pullback, softmax, softmax_ARG_MODES,
    softmax_pullback, tanh, tanh_ARG_MODES, tanh_pullback, Conv1dDims,
};

use crate::error::{OnnxError, Result};
use crate::ops::Op;
use crate::proto::{AttributeProto, NodeProto};
use crate::tensor::{numel, Data, Tensor};

/// An attribute of a node in a [`Plan`], as the generated code writes it.
#[derive(Debug, Clone, Copy)]
pub enum Attr<'a> {
    Int(i64),
    Float(f32),
    Ints(&'a [i64]),
    Floats(&'a [f32]),
    Str(&'a str),
}

/// One input of a node in a [`Plan`]: a run-time f32 slice of this shape, an int64 tensor
/// known at generation time (shape, elements), or an absent optional input.
#[derive(Debug, Clone, Copy)]
pub enum Input<'a> {
    F32(&'a [usize]),
    I64(&'a [usize], &'a [i64]),
    Absent,
}

#[derive(Debug, Clone)]
enum SpecInput {
    F32(Vec<usize>),
    I64(Tensor),
    Absent,
}

/// One node: its parsed op, inputs and output shape.
#[derive(Debug, Clone)]
struct Spec {
    op: Op,
    inputs: Vec<SpecInput>,
    out_shape: Vec<usize>,
}

/// The nodes of a generated model: what the kernels `op1`…`op5` look up by index.
#[derive(Debug, Clone)]
pub struct Plan {
    opset: i64,
    nodes: Vec<Spec>,
}

fn attr_proto(name: &str, a: Attr<'_>) -> AttributeProto {
    let mut p = AttributeProto {
        name: name.to_string(),
        ..Default::default()
    };
    match a {
        Attr::Float(f) => (p.r#type, p.f) = (1, f),
        Attr::Int(i) => (p.r#type, p.i) = (2, i),
        Attr::Str(s) => (p.r#type, p.s) = (3, s.as_bytes().to_vec()),
        Attr::Floats(v) => (p.r#type, p.floats) = (6, v.to_vec()),
        Attr::Ints(v) => (p.r#type, p.ints) = (7, v.to_vec()),
    }
    p
}

impl Plan {
    /// An empty plan for a model of this default-domain opset.
    pub fn new(opset: i64) -> Self {
        Plan {
            opset,
            nodes: Vec::new(),
        }
    }

    /// Appends a node (its index is the number of nodes before it); `Err` when the op or its
    /// attributes are not supported, or a shape overflows.
    pub fn push(
        &mut self,
        op_type: &str,
        attrs: &[(&str, Attr<'_>)],
        inputs: &[Input<'_>],
        out_shape: &[usize],
    ) -> Result<()> {
        let node = NodeProto {
            op_type: op_type.to_string(),
            output: vec!["y".into()],
            attribute: attrs.iter().map(|(n, a)| attr_proto(n, *a)).collect(),
            ..Default::default()
        };
        let err = |msg: String| OnnxError::Node {
            node: format!("#{}", self.nodes.len()),
            op: op_type.to_string(),
            msg,
        };
        let op = Op::parse(&node, self.opset).map_err(err)?;
        numel(out_shape).ok_or_else(|| err(format!("output shape {out_shape:?} overflows")))?;
        let inputs = inputs
            .iter()
            .map(|i| match i {
                Input::F32(s) => numel(s)
                    .map(|_| SpecInput::F32(s.to_vec()))
                    .ok_or_else(|| err(format!("input shape {s:?} overflows"))),
                Input::I64(s, v) => Tensor::i64(s.to_vec(), v.to_vec())
                    .map(SpecInput::I64)
                    .map_err(|e| err(e.to_string())),
                Input::Absent => Ok(SpecInput::Absent),
            })
            .collect::<Result<Vec<_>>>()?;
        self.nodes.push(Spec {
            op,
            inputs,
            out_shape: out_shape.to_vec(),
        });
        Ok(())
    }

    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    fn spec(&self, kernel: &'static str, node: usize) -> Result<&Spec, KernelError> {
        self.nodes.get(node).ok_or(KernelError::Index {
            kernel,
            arg: "node",
            position: 0,
            value: node,
            bound: self.nodes.len(),
        })
    }
}

const ARGS: [&str; 5] = ["x0", "x1", "x2", "x3", "x4"];
const D_ARGS: [&str; 5] = ["d_x0", "d_x1", "d_x2", "d_x3", "d_x4"];

fn len_err(kernel: &'static str, arg: &'static str, actual: usize, expected: usize) -> KernelError {
    KernelError::Length {
        kernel,
        arg,
        expected,
        actual,
        shape: "the node's shape in the plan",
    }
}

/// An op that fails on inputs of the planned lengths: the plan does not describe this model.
fn op_err(kernel: &'static str) -> KernelError {
    KernelError::Dim {
        kernel,
        arg: "node",
        value: 0,
        requirement: "a node whose planned shapes the op accepts",
    }
}

impl Spec {
    /// Checks the slices against the planned shapes and builds the op's input tensors.
    fn tensors(
        &self,
        kernel: &'static str,
        out: usize,
        xs: &[&[f32]],
    ) -> Result<Vec<Option<Tensor>>, KernelError> {
        let n_out = numel(&self.out_shape).unwrap_or(0);
        if out != n_out {
            return Err(len_err(kernel, "out", out, n_out));
        }
        let n_f32 = self
            .inputs
            .iter()
            .filter(|i| matches!(i, SpecInput::F32(_)))
            .count();
        if n_f32 != xs.len() {
            return Err(KernelError::Dim {
                kernel,
                arg: "node",
                value: n_f32,
                requirement: "a node with as many f32 inputs as the kernel takes",
            });
        }
        let mut k = 0;
        let mut ts = Vec::with_capacity(self.inputs.len());
        for i in &self.inputs {
            ts.push(match i {
                SpecInput::F32(shape) => {
                    let x = xs[k];
                    let n = numel(shape).unwrap_or(0);
                    if x.len() != n {
                        return Err(len_err(kernel, ARGS[k], x.len(), n));
                    }
                    k += 1;
                    Some(Tensor::from_parts(shape.clone(), Data::F32(x.to_vec())))
                }
                SpecInput::I64(t) => Some(t.clone()),
                SpecInput::Absent => None,
            });
        }
        Ok(ts)
    }
}

fn run(
    kernel: &'static str,
    out: &mut [f32],
    xs: &[&[f32]],
    plan: &Plan,
    node: usize,
) -> Result<(), KernelError> {
    let spec = plan.spec(kernel, node)?;
    let ts = spec.tensors(kernel, out.len(), xs)?;
    let refs: Vec<Option<&Tensor>> = ts.iter().map(Option::as_ref).collect();
    let y = spec.op.forward(&refs).map_err(|_| op_err(kernel))?;
    match y.as_f32() {
        Some(v) if v.len() == out.len() => {
            out.copy_from_slice(v);
            Ok(())
        }
        _ => Err(op_err(kernel)),
    }
}

fn run_pullback(
    kernel: &'static str,
    out: &mut [f32],
    xs: &[&[f32]],
    plan: &Plan,
    node: usize,
    d_out: &mut [f32],
    d_xs: &mut [&mut [f32]],
) -> Result<(), KernelError> {
    let spec = plan.spec(kernel, node)?;
    let ts = spec.tensors(kernel, out.len(), xs)?;
    for (k, (x, d)) in xs.iter().zip(d_xs.iter()).enumerate() {
        if !d.is_empty() && d.len() != x.len() {
            return Err(len_err(kernel, D_ARGS[k], d.len(), x.len()));
        }
    }
    // An empty output adjoint is a zero seed.
    if d_out.is_empty() {
        return Ok(());
    }
    if d_out.len() != out.len() {
        return Err(len_err(kernel, "d_out", d_out.len(), out.len()));
    }
    let refs: Vec<Option<&Tensor>> = ts.iter().map(Option::as_ref).collect();
    let y = Tensor::from_parts(spec.out_shape.clone(), Data::F32(out.to_vec()));
    let mut slot_of = Vec::with_capacity(spec.inputs.len());
    let mut k = 0;
    let mut d_ins: Vec<Vec<f32>> = spec
        .inputs
        .iter()
        .map(|i| match i {
            SpecInput::F32(_) => {
                let need = !d_xs[k].is_empty();
                let n = xs[k].len();
                slot_of.push(Some(k));
                k += 1;
                if need {
                    vec![0.0; n]
                } else {
                    Vec::new()
                }
            }
            _ => {
                slot_of.push(None);
                Vec::new()
            }
        })
        .collect();
    spec.op
        .pullback(&refs, &y, d_out, &mut d_ins)
        .map_err(|_| op_err(kernel))?;
    for (k, g) in slot_of.iter().zip(&d_ins) {
        if let Some(k) = k {
            crate::ops::add_into(d_xs[*k], g);
        }
    }
    d_out.fill(0.0);
    Ok(())
}

macro_rules! op_kernels {
    ($($name:ident, $pullback:ident, $modes:ident, $n:literal: $($x:ident $d:ident),+;)*) => {$(
        #[doc = concat!("Node `node` of `plan` with ", stringify!($n), " f32 input(s): `out = op(", $(stringify!($x), " ",)+ ")`, shapes as planned.")]
        #[allow(clippy::too_many_arguments, reason = "the kernel contract: one slice per input")]
        pub fn $name(
            out: &mut [f32],
            $($x: &[f32],)+
            plan: &Plan,
            node: usize,
        ) -> Result<(), KernelError> {
            run(stringify!($name), out, &[$($x),+], plan, node)
        }

        #[doc = concat!("Pullback of [`", stringify!($name), "`]: accumulates into the inputs' adjoints, zeroes `d_out`.")]
        #[allow(clippy::too_many_arguments, reason = "the kernel contract: one adjoint per slice")]
        pub fn $pullback(
            out: &mut [f32],
            $($x: &[f32],)+
            plan: &Plan,
            node: usize,
            d_out: &mut [f32],
            $($d: &mut [f32],)+
        ) -> Result<(), KernelError> {
            run_pullback(stringify!($pullback), out, &[$($x),+], plan, node, d_out, &mut [$($d),+])
        }

        #[doc = concat!("Parameter modes of [`", stringify!($name), "`]: output first.")]
        #[expect(non_upper_case_globals, reason = "named after the kernel, by the macro's convention")]
        pub const $modes: &[ArgMode] = &ArgMode::output_first::<{ $n + 3 }>();
    )*};
}

op_kernels! {
    op1, op1_pullback, op1_ARG_MODES, 1: x0 d_x0;
    op2, op2_pullback, op2_ARG_MODES, 2: x0 d_x0, x1 d_x1;
    op3, op3_pullback, op3_ARG_MODES, 3: x0 d_x0, x1 d_x1, x2 d_x2;
    op4, op4_pullback, op4_ARG_MODES, 4: x0 d_x0, x1 d_x1, x2 d_x2, x3 d_x3;
    op5, op5_pullback, op5_ARG_MODES, 5: x0 d_x0, x1 d_x1, x2 d_x2, x3 d_x3, x4 d_x4;
}

/// `Σ y·seed`: the scalar whose gradient is the vector-Jacobian product of an output with its
/// seed (ones: the gradient of the output's sum). `y, seed: [n]`.
pub fn seed_dot(y: &[f32], seed: &[f32]) -> Result<f32, KernelError> {
    if seed.len() != y.len() {
        return Err(len_err("seed_dot", "seed", seed.len(), y.len()));
    }
    Ok(y.iter().zip(seed).map(|(a, b)| a * b).sum())
}

/// Pullback of [`seed_dot`]: `d_y += d_ret·seed`, `d_seed += d_ret·y`.
pub fn seed_dot_pullback(
    y: &[f32],
    seed: &[f32],
    d_ret: f32,
    d_y: &mut [f32],
    d_seed: &mut [f32],
) -> Result<(), KernelError> {
    const K: &str = "seed_dot_pullback";
    if seed.len() != y.len() {
        return Err(len_err(K, "seed", seed.len(), y.len()));
    }
    for (d, (name, other)) in [(d_y, ("d_y", seed)), (d_seed, ("d_seed", y))] {
        if d.is_empty() {
            continue;
        }
        if d.len() != other.len() {
            return Err(len_err(K, name, d.len(), other.len()));
        }
        for (d, o) in d.iter_mut().zip(other) {
            *d += d_ret * o;
        }
    }
    Ok(())
}

/// Parameter modes of [`seed_dot`]: inputs only.
#[expect(
    non_upper_case_globals,
    reason = "named after the kernel, by the macro's convention"
)]
pub const seed_dot_ARG_MODES: &[ArgMode] = &[ArgMode::In; 2];

/// Reads a safetensors file of f32 tensors, checking each expected name and shape
/// (`expected`: name → shape); what the generated `Weights::load` calls.
pub fn load_weights(
    path: impl AsRef<Path>,
    expected: &[(&str, &[usize])],
) -> Result<HashMap<String, Vec<f32>>> {
    let path = path.as_ref();
    let err = |msg: String| OnnxError::Weights {
        path: path.to_path_buf(),
        msg,
    };
    let bytes = std::fs::read(path).map_err(|source| OnnxError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let st = safetensors::SafeTensors::deserialize(&bytes).map_err(|e| err(e.to_string()))?;
    let mut out = HashMap::new();
    for (name, shape) in expected {
        let t = st
            .tensor(name)
            .map_err(|_| err(format!("no tensor `{name}`")))?;
        if t.dtype() != safetensors::Dtype::F32 {
            return Err(err(format!("`{name}` is {:?}, F32 expected", t.dtype())));
        }
        if t.shape() != *shape {
            return Err(err(format!(
                "`{name}` has shape {:?}, {shape:?} expected",
                t.shape()
            )));
        }
        let v: Vec<f32> = t
            .data()
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        out.insert(name.to_string(), v);
    }
    Ok(out)
}
