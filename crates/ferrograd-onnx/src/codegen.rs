//! `onnx2rs`: a loaded [`Model`] as Rust source whose forward is a `#[differentiable]`
//! function, so the AD compiler writes its backward.
//!
//! Shapes are resolved here, for one batch size (every dynamic dimension takes it): the
//! graph runs once on zeros, every int64 value (shapes, `Reshape` targets, indices) and every
//! f32 value computed from constants alone is folded, and each remaining node becomes one call
//! of a [`crate::kernels`] kernel. The generated file holds, in this order:
//! - `Weights<S>`: one field per float initializer (and per folded f32 constant), with
//!   `Weights::load(path)` from the safetensors file written next to it, `zeros()` and views;
//! - `Acts<S>`: one buffer per node output, with `zeros()`, `as_view()` and `outputs()`;
//! - `plan()`: the nodes' attributes, folded int64 inputs and shapes (a [`crate::kernels::Plan`]);
//! - `forward(inputs…, seeds…, w, acts, plan) -> Result<f32, KernelError>`, which writes every
//!   output into `acts` and returns `Σ_outputs Σ output·seed`: its generated `forward_grad`
//!   gives the vector-Jacobian product of the outputs with the seeds w.r.t. the weights and
//!   every float input (ones as seeds: the gradient of the sum of the outputs).

use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;

use crate::error::{OnnxError, Result};
use crate::model::{Dim, ElemType, Model};
use crate::ops::{conv1d_dims, norm_axis, BinOp, Op, UnOp};
use crate::proto::AttributeProto;
use crate::tensor::{Data, Tensor};

/// What [`generate`] writes: the Rust source and the weights (by their names in the file).
#[derive(Debug, Clone)]
pub struct Generated {
    pub code: String,
    /// `(name, shape, elements)`: the float initializers and folded f32 constants.
    pub weights: Vec<(String, Vec<usize>, Vec<f32>)>,
}

impl Generated {
    /// The weights as a safetensors file (f32, little-endian), what `Weights::load` reads.
    pub fn weights_bytes(&self) -> Result<Vec<u8>> {
        let bytes: Vec<Vec<u8>> = self
            .weights
            .iter()
            .map(|(_, _, v)| v.iter().flat_map(|x| x.to_le_bytes()).collect())
            .collect();
        let views = self
            .weights
            .iter()
            .zip(&bytes)
            .map(|((n, s, _), b)| {
                safetensors::tensor::TensorView::new(safetensors::Dtype::F32, s.clone(), b)
                    .map(|v| (n.clone(), v))
            })
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(|e| OnnxError::Codegen(format!("weights: {e}")))?;
        safetensors::tensor::serialize(views, &None)
            .map_err(|e| OnnxError::Codegen(format!("weights: {e}")))
    }
}

const KEYWORDS: &[&str] = &[
    "as", "break", "const", "continue", "crate", "else", "enum", "extern", "false", "fn", "for",
    "if", "impl", "in", "let", "loop", "match", "mod", "move", "mut", "pub", "ref", "return",
    "self", "Self", "static", "struct", "super", "trait", "true", "type", "unsafe", "use", "where",
    "while", "async", "await", "dyn", "abstract", "become", "box", "do", "final", "macro",
    "override", "priv", "typeof", "unsized", "virtual", "yield", "try", "gen",
];

/// Names the generated function uses itself: inputs and seeds must not shadow them.
const RESERVED: &[&str] = &[
    "w",
    "acts",
    "plan",
    "loss",
    "op1",
    "op2",
    "op3",
    "op4",
    "op5",
    "seed_dot",
    "forward",
    "add",
    "conv1d",
    "gelu",
    "layer_norm",
    "linear",
    "relu",
    "sigmoid",
    "softmax",
    "tanh",
];

/// A `ferrograd_kernels` call for a node whose f32 inputs `ins` (all present, no int64 ones)
/// that kernel computes exactly: the kernel's name, its arguments after the slices, and an
/// item to define (a `Conv1dDims` constant, named `CONV<index>`).
fn direct_kernel(
    op: &Op,
    ins: &[&Tensor],
    y: &Tensor,
    index: usize,
) -> Option<(&'static str, Vec<String>, Option<String>)> {
    let s = |i: usize| ins.get(i).map(|t| t.shape());
    let rows_cols = |t: &Tensor| {
        let cols = *t.shape().last()?;
        (cols > 0).then(|| (t.len() / cols, cols))
    };
    let plain = |k: &'static str| Some((k, Vec::new(), None));
    match (op, ins.len()) {
        (Op::Unary(UnOp::Relu), 1) => plain("relu"),
        (Op::Unary(UnOp::Tanh), 1) => plain("tanh"),
        (Op::Unary(UnOp::Sigmoid), 1) => plain("sigmoid"),
        (Op::Unary(UnOp::GeluTanh), 1) => plain("gelu"),
        (Op::Unary(UnOp::LeakyRelu(slope)), 1) if slope.is_finite() => {
            let name = format!("SLOPE{index}");
            let item = format!("const {name}: f32 = {};\n", f32_lit(*slope));
            Some(("leaky_relu", vec![name], Some(item)))
        }
        (Op::Binary(BinOp::Add), 2) if s(0) == s(1) => plain("add"),
        (
            Op::Gemm {
                alpha,
                beta,
                trans_a: false,
                trans_b: true,
            },
            3,
        ) if *alpha == 1.0 && *beta == 1.0 => {
            let (&[b, i], &[o, i2], &[o2]) = (s(0)?, s(1)?, s(2)?) else {
                return None;
            };
            (i == i2 && o == o2 && b * i * o > 0).then(|| {
                (
                    "linear",
                    vec![b.to_string(), i.to_string(), o.to_string()],
                    None,
                )
            })
        }
        (Op::Conv(at), 3) => {
            let refs: Vec<Option<&Tensor>> = ins.iter().map(|t| Some(*t)).collect();
            let d = conv1d_dims(&refs, at)?;
            let name = format!("CONV{index}");
            let item = format!(
                "const {name}: Conv1dDims = Conv1dDims {{\n    batch: {},\n    c_in: {},\n    len_in: {},\n    c_out: {},\n    kernel: {},\n    stride: {},\n    padding: {},\n    dilation: {},\n}};\n",
                d.batch, d.c_in, d.len_in, d.c_out, d.kernel, d.stride, d.padding, d.dilation
            );
            Some(("conv1d", vec![name], Some(item)))
        }
        (Op::Softmax { axis, log: false }, 1)
            if norm_axis(*axis, y.shape().len()).ok()? + 1 == y.shape().len() =>
        {
            let (r, c) = rows_cols(y)?;
            Some(("softmax", vec![r.to_string(), c.to_string()], None))
        }
        (Op::LayerNorm { axis, eps }, 3) => {
            let (r, c) = rows_cols(ins[0])?;
            let last = norm_axis(*axis, ins[0].shape().len()).ok()? + 1 == ins[0].shape().len();
            // A named constant: the AD compiler gives a float literal argument an adjoint.
            let name = format!("EPS{index}");
            (last && s(1)? == [c] && s(2)? == [c]).then(|| {
                (
                    "layer_norm",
                    vec![r.to_string(), c.to_string(), name.clone()],
                    Some(format!("const {name}: f32 = {};\n", f32_lit(*eps))),
                )
            })
        }
        _ => None,
    }
}

/// A value name as a snake_case identifier (`/fc1/Gemm_output_0` → `fc1_gemm_output_0`).
pub(crate) fn ident(name: &str) -> String {
    let mut s = String::new();
    for c in name.chars() {
        if c.is_ascii_alphanumeric() {
            s.push(c.to_ascii_lowercase());
        } else if !s.ends_with('_') {
            s.push('_');
        }
    }
    let s = s.trim_matches('_').to_string();
    if s.is_empty() || s.starts_with(|c: char| c.is_ascii_digit()) || KEYWORDS.contains(&&*s) {
        format!("v_{s}")
    } else {
        s
    }
}

/// Unique identifiers: a repeated one gets `_2`, `_3`, ….
#[derive(Default)]
struct Names(HashSet<String>);

impl Names {
    fn fresh(&mut self, base: String) -> String {
        let mut n = base.clone();
        let mut k = 2;
        while self.0.contains(&n) {
            n = format!("{base}_{k}");
            k += 1;
        }
        self.0.insert(n.clone());
        n
    }
}

fn shape_lit(s: &[usize]) -> String {
    format!(
        "&[{}]",
        s.iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    )
}

fn f32_lit(x: f32) -> String {
    if x.is_finite() {
        format!("{x:?}")
    } else if x.is_nan() {
        "f32::NAN".into()
    } else if x > 0.0 {
        "f32::INFINITY".into()
    } else {
        "f32::NEG_INFINITY".into()
    }
}

fn attr_lit(a: &AttributeProto) -> Result<String> {
    let err = || {
        OnnxError::Codegen(format!(
            "attribute `{}` has type {}, which onnx2rs cannot write",
            a.name, a.r#type
        ))
    };
    let v = match a.r#type {
        1 => format!("Attr::Float({})", f32_lit(a.f)),
        2 => format!("Attr::Int({})", a.i),
        3 => format!(
            "Attr::Str({:?})",
            String::from_utf8(a.s.clone()).map_err(|_| err())?
        ),
        6 => format!(
            "Attr::Floats(&[{}])",
            a.floats
                .iter()
                .map(|x| f32_lit(*x))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        7 => format!(
            "Attr::Ints(&[{}])",
            a.ints
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        ),
        _ => return Err(err()),
    };
    Ok(format!("({:?}, {v})", a.name))
}

/// Where the generated forward finds an f32 value.
#[derive(Clone)]
enum Place {
    Input(String),
    Weight(String),
    Act(String),
}

impl Place {
    fn expr(&self) -> String {
        match self {
            Place::Input(n) => n.clone(),
            Place::Weight(n) => format!("w.{n}"),
            Place::Act(n) => format!("acts.{n}"),
        }
    }
}

struct Call {
    comment: String,
    kernel: String,
    out: String,
    args: Vec<String>,
    /// The arguments after the slices: `plan, <index>` or a ferrograd kernel's sizes.
    rest: String,
}

/// Writes `model` as Rust for batch size `batch` (every dynamic dimension of the inputs;
/// default 1). `source` names the model in the file's header.
pub fn generate(model: &Model, batch: Option<usize>, source: &str) -> Result<Generated> {
    let batch = batch.unwrap_or(1);
    if batch == 0 {
        return Err(OnnxError::Codegen(
            "the batch size must be at least 1".into(),
        ));
    }
    let cg = |m: String| OnnxError::Codegen(m);
    // Input shapes and the dry run that resolves every shape and folds the constants.
    let mut in_shapes = Vec::new();
    for (v, _) in &model.inputs {
        if v.elem != ElemType::F32 {
            return Err(cg(format!(
                "input `{}` is int64; onnx2rs supports float32 inputs only (the run-time \
                 `Model` takes int64 inputs)",
                v.name
            )));
        }
        let dims = v
            .dims
            .as_ref()
            .ok_or_else(|| cg(format!("input `{}` declares no shape", v.name)))?;
        let shape: Vec<usize> = dims
            .iter()
            .map(|d| match d {
                Dim::Fixed(n) => *n,
                Dim::Dynamic(_) => batch,
            })
            .collect();
        in_shapes.push((v.name.clone(), shape));
    }
    let feed = in_shapes
        .iter()
        .map(|(n, s)| {
            let len = crate::tensor::numel(s)
                .filter(|&l| l <= crate::model::MAX_CHECK_ELEMS)
                .ok_or_else(|| {
                    cg(format!(
                        "input `{n}` would have shape {s:?} (over {} elements): choose a \
                         smaller --batch",
                        crate::model::MAX_CHECK_ELEMS
                    ))
                })?;
            Tensor::f32(s.clone(), vec![0.0; len]).map(|t| (n.clone(), t))
        })
        .collect::<Result<Vec<_>>>()?;
    let fwd = model.forward(feed)?;
    let value = |slot: usize| -> Result<&Tensor> {
        model.init[slot]
            .as_ref()
            .or(fwd.values[slot].as_ref())
            .ok_or_else(|| cg(format!("value `{}` is not computed", model.names[slot])))
    };

    // A value is dynamic when it depends on an input or a weight (Shape's output does not).
    let mut dynamic = vec![false; model.names.len()];
    for (_, s) in &model.inputs {
        dynamic[*s] = true;
    }
    for (s, t) in model.init.iter().enumerate() {
        if t.as_ref().is_some_and(Tensor::is_f32) {
            dynamic[s] = true;
        }
    }
    for n in &model.nodes {
        dynamic[n.output] =
            !matches!(n.op, Op::Shape { .. }) && n.inputs.iter().flatten().any(|&i| dynamic[i]);
    }

    let mut idents = Names::default();
    for r in RESERVED {
        idents.0.insert((*r).to_string());
    }
    let mut places: HashMap<usize, Place> = HashMap::new();
    let mut params = Vec::new();
    for (v, s) in &model.inputs {
        let n = idents.fresh(ident(&v.name));
        places.insert(*s, Place::Input(n.clone()));
        params.push(n);
    }
    // Weights: the float initializers, in file order.
    let mut field_names = Names::default();
    let mut weights: Vec<(String, String, Vec<usize>, Vec<f32>)> = Vec::new();
    for (s, t) in model.init.iter().enumerate() {
        if let Some(Data::F32(v)) = t.as_ref().map(Tensor::data) {
            let f = field_names.fresh(ident(&model.names[s]));
            places.insert(s, Place::Weight(f.clone()));
            let shape = t.as_ref().map(|t| t.shape().to_vec()).unwrap_or_default();
            weights.push((f, model.names[s].clone(), shape, v.clone()));
        }
    }

    let mut plan = Vec::new();
    let mut calls = Vec::new();
    let mut items: Vec<String> = Vec::new();
    let mut acts: Vec<(String, Vec<usize>)> = Vec::new();
    let mut act_names = Names::default();
    for node in &model.nodes {
        if !dynamic[node.output] {
            continue;
        }
        let y = value(node.output)?;
        if !y.is_f32() {
            return Err(cg(format!(
                "node `{}` ({}) computes an int64 value from run-time data",
                node.name, node.op_type
            )));
        }
        let mut inputs = Vec::new();
        let mut args: Vec<String> = Vec::new();
        for i in &node.inputs {
            let Some(i) = *i else {
                inputs.push("Input::Absent".to_string());
                continue;
            };
            let t = value(i)?;
            match t.data() {
                Data::I64(v) => inputs.push(format!(
                    "Input::I64({}, &[{}])",
                    shape_lit(t.shape()),
                    v.iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join(", ")
                )),
                Data::F32(v) => {
                    let place = match places.get(&i) {
                        Some(p) => p.clone(),
                        None => {
                            // An f32 constant folded at generation time.
                            let f = field_names.fresh(format!("const_{}", ident(&model.names[i])));
                            weights.push((
                                f.clone(),
                                model.names[i].clone(),
                                t.shape().to_vec(),
                                v.clone(),
                            ));
                            let p = Place::Weight(f);
                            places.insert(i, p.clone());
                            p
                        }
                    };
                    let mut e = place.expr();
                    if args.contains(&e) {
                        // The same slice twice in one call would alias its adjoint: copy it.
                        let copy = act_names.fresh(format!("{}_copy", ident(&model.names[i])));
                        acts.push((copy.clone(), t.shape().to_vec()));
                        calls.push(Call {
                            comment: format!(
                                "a copy of `{}` (read twice below)",
                                model.names[i].escape_debug()
                            ),
                            kernel: "op1".into(),
                            out: format!("acts.{copy}"),
                            args: vec![e.clone()],
                            rest: format!("plan, {}", plan.len()),
                        });
                        plan.push(format!(
                            "    // {}: a copy of `{}`\n    p.push(\"Identity\", &[], &[Input::F32({})], {})?;\n",
                            plan.len(),
                            model.names[i].escape_debug(),
                            shape_lit(t.shape()),
                            shape_lit(t.shape())
                        ));
                        e = format!("acts.{copy}");
                    }
                    inputs.push(format!("Input::F32({})", shape_lit(t.shape())));
                    args.push(e);
                }
            }
        }
        if args.is_empty() || args.len() > 5 {
            return Err(cg(format!(
                "node `{}` ({}) has {} float inputs; onnx2rs handles 1 to 5",
                node.name,
                node.op_type,
                args.len()
            )));
        }
        let out = act_names.fresh(ident(&model.names[node.output]));
        acts.push((out.clone(), y.shape().to_vec()));
        places.insert(node.output, Place::Act(out.clone()));
        let comment = format!(
            "{} `{}`: {} -> {:?}",
            node.op_type.escape_debug(),
            node.name.escape_debug(),
            node.inputs
                .iter()
                .flatten()
                .filter_map(|&i| value(i)
                    .ok()
                    .filter(|t| t.is_f32())
                    .map(|t| format!("{:?}", t.shape())))
                .collect::<Vec<_>>()
                .join(" "),
            y.shape()
        );
        // Every input present and f32: maybe a ferrograd kernel computes the node.
        let f32_ins: Vec<&Tensor> = node
            .inputs
            .iter()
            .filter_map(|i| i.and_then(|i| value(i).ok()))
            .filter(|t| t.is_f32())
            .collect();
        // Ops that only reshape (their int64 inputs folded) are a copy: `flatten`.
        let copy = matches!(
            node.op,
            Op::Flatten { .. }
                | Op::Reshape { .. }
                | Op::Squeeze
                | Op::Unsqueeze
                | Op::Identity
                | Op::Cast { to_f32: true }
        );
        let direct = if copy && args.len() == 1 {
            Some(("flatten", Vec::new(), None))
        } else if f32_ins.len() == node.inputs.len() {
            direct_kernel(&node.op, &f32_ins, y, calls.len())
        } else {
            None
        };
        if let Some((kernel, extra, item)) = direct {
            items.extend(item);
            calls.push(Call {
                comment,
                kernel: kernel.into(),
                out: format!("acts.{out}"),
                args,
                rest: extra.join(", "),
            });
            continue;
        }
        let attrs = node
            .attrs
            .iter()
            .map(attr_lit)
            .collect::<Result<Vec<_>>>()?;
        plan.push(format!(
            "    // {}: {} `{}`\n    p.push(\n        {:?},\n        &[{}],\n        &[{}],\n        {},\n    )?;\n",
            plan.len(),
            node.op_type.escape_debug(),
            node.name.escape_debug(),
            node.op_type,
            attrs.join(", "),
            inputs.join(", "),
            shape_lit(y.shape())
        ));
        calls.push(Call {
            comment,
            kernel: format!("op{}", args.len()),
            out: format!("acts.{out}"),
            args,
            rest: format!("plan, {}", plan.len() - 1),
        });
    }

    // Outputs and their seeds.
    let mut outs = Vec::new();
    for (v, s) in &model.outputs {
        let Some(Place::Act(field)) = places.get(s) else {
            return Err(cg(format!(
                "output `{}` is not computed from the inputs or weights (an input, a weight \
                 or a constant); onnx2rs needs every output to be a node's",
                v.name
            )));
        };
        let seed = idents.fresh(format!("seed_{}", ident(&v.name)));
        outs.push((
            v.name.clone(),
            field.clone(),
            seed,
            value(*s)?.shape().to_vec(),
        ));
    }

    let mut c = String::new();
    let w = &mut c;
    let _ = writeln!(
        w,
        "// Generated by ferrograd onnx2rs from {source} (opset {}, batch {batch}); do not edit.\n\
         // Include it in a module of its own (`mod model {{ include!(...); }}`); the crate needs\n\
         // the dependencies `ferrograd` and `ferrograd-onnx`.\n",
        model.opset(),
        source = source.escape_debug()
    );
    let _ = writeln!(
        w,
        "#[allow(unused_imports)]\nuse ferrograd_onnx::kernels::*;\n\n\
         /// The batch size every dynamic dimension was resolved to.\npub const BATCH: usize = {batch};"
    );
    let list = |items: &[(String, Vec<usize>)]| {
        items
            .iter()
            .map(|(n, s)| format!("({n:?}, {})", shape_lit(s)))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let _ = writeln!(
        w,
        "/// The inputs `forward` takes (ONNX name, shape), in order.\n\
         pub const INPUTS: &[(&str, &[usize])] = &[{}];",
        list(&in_shapes)
    );
    let out_list: Vec<(String, Vec<usize>)> = outs
        .iter()
        .map(|(n, _, _, s)| (n.clone(), s.clone()))
        .collect();
    let _ = writeln!(
        w,
        "/// The outputs (ONNX name, shape), in order: `forward` takes one seed of each shape.\n\
         pub const OUTPUTS: &[(&str, &[usize])] = &[{}];\n",
        list(&out_list)
    );

    // Weights.
    let _ = writeln!(
        w,
        "/// The model's weights over any storage (PyTorch layouts, as in the ONNX file); the\n\
         /// `const_` fields are constants of the graph (their gradients are not parameters').\n\
         #[derive(Debug, Clone)]\npub struct Weights<S> {{"
    );
    for (f, name, shape, _) in &weights {
        let _ = writeln!(
            w,
            "    /// `{}`: {shape:?}\n    pub {f}: S,",
            name.escape_debug()
        );
    }
    let _ = writeln!(w, "}}\n\nimpl Weights<Vec<f32>> {{");
    let _ = writeln!(
        w,
        "    /// Names in the weights file and shapes, in field order.\n    pub const SHAPES: &'static [(&'static str, &'static [usize])] = &[{}];\n",
        weights
            .iter()
            .map(|(_, n, s, _)| format!("({n:?}, {})", shape_lit(s)))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let _ = writeln!(
        w,
        "    /// Reads the safetensors file `onnx2rs` wrote (names and shapes checked).\n    pub fn load(path: impl AsRef<std::path::Path>) -> Result<Self, ferrograd_onnx::OnnxError> {{\n        let mut m = load_weights(path, Self::SHAPES)?;\n        let mut take = |n: &str| m.remove(n).unwrap_or_default();\n        Ok(Weights {{"
    );
    for (f, n, _, _) in &weights {
        let _ = writeln!(w, "            {f}: take({n:?}),");
    }
    let _ = writeln!(
        w,
        "        }})\n    }}\n\n    /// Zeroed weights (gradient buffers).\n    pub fn zeros() -> Self {{\n        Weights {{"
    );
    for (i, (f, _, _, _)) in weights.iter().enumerate() {
        let _ = writeln!(
            w,
            "            {f}: vec![0.0; Self::SHAPES[{i}].1.iter().product()],"
        );
    }
    let _ = writeln!(w, "        }}\n    }}\n}}\n");
    let _ = writeln!(
        w,
        "impl<S: AsRef<[f32]>> Weights<S> {{\n    pub fn as_view(&self) -> Weights<&[f32]> {{\n        Weights {{"
    );
    for (f, _, _, _) in &weights {
        let _ = writeln!(w, "            {f}: self.{f}.as_ref(),");
    }
    let _ = writeln!(
        w,
        "        }}\n    }}\n\n    /// `(name in the weights file, elements)`, in field order.\n    pub fn tensors(&self) -> Vec<(&'static str, &[f32])> {{\n        vec![{}]\n    }}\n}}\n",
        weights
            .iter()
            .map(|(f, n, _, _)| format!("({n:?}, self.{f}.as_ref())"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let _ = writeln!(
        w,
        "impl<S: AsMut<[f32]>> Weights<S> {{\n    pub fn as_mut_view(&mut self) -> Weights<&mut [f32]> {{\n        Weights {{"
    );
    for (f, _, _, _) in &weights {
        let _ = writeln!(w, "            {f}: self.{f}.as_mut(),");
    }
    let _ = writeln!(w, "        }}\n    }}\n}}\n");

    // Activations.
    let _ = writeln!(
        w,
        "/// One buffer per node output, sized for [`BATCH`]; the outputs are read from here.\n\
         #[derive(Debug, Clone)]\npub struct Acts<S> {{"
    );
    for (f, s) in &acts {
        let _ = writeln!(w, "    /// {s:?}\n    pub {f}: S,");
    }
    let _ = writeln!(
        w,
        "}}\n\nimpl Acts<Vec<f32>> {{\n    pub fn zeros() -> Self {{\n        Acts {{"
    );
    for (f, s) in &acts {
        let _ = writeln!(
            w,
            "            {f}: vec![0.0; {}],",
            s.iter().product::<usize>()
        );
    }
    let _ = writeln!(w, "        }}\n    }}\n}}\n");
    let _ = writeln!(
        w,
        "impl<S: AsRef<[f32]>> Acts<S> {{\n    /// The outputs (ONNX name, elements), in [`OUTPUTS`] order.\n    pub fn outputs(&self) -> Vec<(&'static str, &[f32])> {{\n        vec![{}]\n    }}\n}}\n",
        outs.iter()
            .map(|(n, f, _, _)| format!("({n:?}, self.{f}.as_ref())"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let _ = writeln!(
        w,
        "impl<S: AsMut<[f32]>> Acts<S> {{\n    pub fn as_view(&mut self) -> Acts<&mut [f32]> {{\n        Acts {{"
    );
    for (f, _) in &acts {
        let _ = writeln!(w, "            {f}: self.{f}.as_mut(),");
    }
    let _ = writeln!(w, "        }}\n    }}\n}}\n");

    // Plan.
    let _ = writeln!(
        w,
        "/// Every node's op, attributes, folded int64 inputs and shapes, by index.\npub fn plan() -> Result<Plan, ferrograd_onnx::OnnxError> {{\n    let {}p = Plan::new({});",
        if plan.is_empty() { "" } else { "mut " },
        model.opset()
    );
    for p in &plan {
        w.push_str(p);
    }
    let _ = writeln!(w, "    Ok(p)\n}}\n");

    for item in &items {
        let _ = writeln!(w, "{item}");
    }

    // Forward.
    let mut wrt = vec!["w".to_string()];
    wrt.extend(params.iter().cloned());
    let _ = writeln!(
        w,
        "/// The model on [`INPUTS`] (row-major), every node's output written into `acts`; returns\n\
         /// `Σ output·seed` over the outputs. `forward_grad` (generated) adds its gradient w.r.t.\n\
         /// the weights and inputs into `d_w` and the `d_` inputs (seeds of ones: the gradient\n\
         /// of the sum of the outputs).\n\
         #[ferrograd::differentiable(wrt({}), reverse_only)]\npub fn forward(",
        wrt.join(", ")
    );
    for p in &params {
        let _ = writeln!(w, "    {p}: &[f32],");
    }
    for (_, _, seed, _) in &outs {
        let _ = writeln!(w, "    {seed}: &[f32],");
    }
    let _ = writeln!(
        w,
        "    w: &Weights<&[f32]>,\n    acts: &mut Acts<&mut [f32]>,\n    {}plan: &Plan,\n) -> Result<f32, KernelError> {{",
        // Every node on a ferrograd kernel: the plan is empty, kept for one signature.
        if plan.is_empty() { "_" } else { "" }
    );
    for call in &calls {
        let mut args = vec![call.out.clone()];
        args.extend(call.args.iter().cloned());
        if !call.rest.is_empty() {
            args.push(call.rest.clone());
        }
        let _ = writeln!(
            w,
            "    // {}\n    {}({})?;",
            call.comment,
            call.kernel,
            args.join(", ")
        );
    }
    let mut terms = Vec::new();
    for (i, (_, f, seed, _)) in outs.iter().enumerate() {
        let _ = writeln!(w, "    let loss{i} = seed_dot(acts.{f}, {seed})?;");
        terms.push(format!("loss{i}"));
    }
    let _ = writeln!(w, "    Ok({})\n}}", terms.join(" + "));

    Ok(Generated {
        code: c,
        weights: weights.into_iter().map(|(_, n, s, v)| (n, s, v)).collect(),
    })
}
