//! Every supported op: its attributes parsed once at load ([`Op::parse`]), its forward and its
//! pullback next to each other, by family (one file each). A pullback reads the op's inputs and
//! output and **accumulates** into the adjoints of its f32 inputs; an empty adjoint slice means
//! "not needed" (i64 inputs, absent optional inputs).

mod attrs;
mod conv;
mod elementwise;
mod linalg;
mod norm;
mod shape;

use crate::proto::NodeProto;
use crate::tensor::Tensor;
pub(crate) use attrs::Attrs;
pub(crate) use conv::{ConvAttrs, PoolAttrs};
pub(crate) use elementwise::{BinOp, UnOp};

/// The op types the runtime executes (opsets 13–21 of the default domain).
pub const SUPPORTED: &[&str] = &[
    "Add",
    "AveragePool",
    "BatchNormalization",
    "Cast",
    "Concat",
    "Constant",
    "Conv",
    "Div",
    "Dropout",
    "Erf",
    "Exp",
    "Flatten",
    "Gather",
    "Gelu",
    "Gemm",
    "GlobalAveragePool",
    "Identity",
    "LayerNormalization",
    "LeakyRelu",
    "Log",
    "LogSoftmax",
    "MatMul",
    "MaxPool",
    "Mul",
    "Neg",
    "Pow",
    "ReduceMean",
    "ReduceSum",
    "Relu",
    "Reshape",
    "Shape",
    "Sigmoid",
    "Softmax",
    "Sqrt",
    "Squeeze",
    "Sub",
    "Tanh",
    "Transpose",
    "Unsqueeze",
];

/// An op with its attributes, as parsed from a node.
#[derive(Debug, Clone)]
pub(crate) enum Op {
    Gemm {
        alpha: f32,
        beta: f32,
        trans_a: bool,
        trans_b: bool,
    },
    MatMul,
    Binary(BinOp),
    Unary(UnOp),
    Softmax {
        axis: i64,
        log: bool,
    },
    Conv(ConvAttrs),
    MaxPool(PoolAttrs),
    AveragePool(PoolAttrs),
    GlobalAveragePool,
    BatchNorm {
        eps: f32,
    },
    LayerNorm {
        axis: i64,
        eps: f32,
    },
    Flatten {
        axis: i64,
    },
    Reshape {
        allowzero: bool,
    },
    Transpose {
        perm: Option<Vec<i64>>,
    },
    Concat {
        axis: i64,
    },
    Squeeze,
    Unsqueeze,
    Gather {
        axis: i64,
    },
    Constant(Tensor),
    /// Cast to float32 (`true`) or int64 (`false`); float64 and int32 map onto these.
    Cast {
        to_f32: bool,
    },
    /// Identity, and Dropout in inference.
    Identity,
    Reduce {
        mean: bool,
        /// From the attribute (ReduceMean before opset 18); else the optional second input.
        axes: Option<Vec<i64>>,
        keepdims: bool,
        noop_with_empty_axes: bool,
    },
    Shape {
        start: i64,
        end: Option<i64>,
    },
}

impl Op {
    /// Parses a default-domain node; `Err(reason)` when the op or one of its forms is not
    /// supported (the loader collects these for every node before reporting).
    pub(crate) fn parse(node: &NodeProto, opset: i64) -> Result<Op, String> {
        let a = Attrs(&node.attribute);
        let op = match node.op_type.as_str() {
            "Gemm" => Op::Gemm {
                alpha: a.float("alpha", 1.0)?,
                beta: a.float("beta", 1.0)?,
                trans_a: a.int("transA", 0)? != 0,
                trans_b: a.int("transB", 0)? != 0,
            },
            "MatMul" => Op::MatMul,
            "Add" => Op::Binary(BinOp::Add),
            "Sub" => Op::Binary(BinOp::Sub),
            "Mul" => Op::Binary(BinOp::Mul),
            "Div" => Op::Binary(BinOp::Div),
            "Pow" => Op::Binary(BinOp::Pow),
            "Sqrt" => Op::Unary(UnOp::Sqrt),
            "Erf" => Op::Unary(UnOp::Erf),
            "Exp" => Op::Unary(UnOp::Exp),
            "Log" => Op::Unary(UnOp::Log),
            "Neg" => Op::Unary(UnOp::Neg),
            "Relu" => Op::Unary(UnOp::Relu),
            "LeakyRelu" => Op::Unary(UnOp::LeakyRelu(a.float("alpha", 0.01)?)),
            "Sigmoid" => Op::Unary(UnOp::Sigmoid),
            "Tanh" => Op::Unary(UnOp::Tanh),
            "Gelu" => match a.string("approximate", "none")?.as_str() {
                "none" => Op::Unary(UnOp::Gelu),
                "tanh" => Op::Unary(UnOp::GeluTanh),
                other => return Err(format!("approximate=\"{other}\" is not a GELU form")),
            },
            "Softmax" | "LogSoftmax" => Op::Softmax {
                axis: a.int("axis", -1)?,
                log: node.op_type == "LogSoftmax",
            },
            "Conv" => Op::Conv(ConvAttrs::parse(&a)?),
            "MaxPool" => {
                if a.int("storage_order", 0)? != 0 {
                    return Err("storage_order=1 is not supported".into());
                }
                Op::MaxPool(PoolAttrs::parse(&a)?)
            }
            "AveragePool" => Op::AveragePool(PoolAttrs::parse(&a)?),
            "GlobalAveragePool" => Op::GlobalAveragePool,
            "BatchNormalization" => {
                if a.int("training_mode", 0)? != 0 {
                    return Err("training_mode=1 is not supported (inference only)".into());
                }
                Op::BatchNorm {
                    eps: a.float("epsilon", 1e-5)?,
                }
            }
            "LayerNormalization" => Op::LayerNorm {
                axis: a.int("axis", -1)?,
                eps: a.float("epsilon", 1e-5)?,
            },
            "Flatten" => Op::Flatten {
                axis: a.int("axis", 1)?,
            },
            "Reshape" => Op::Reshape {
                allowzero: a.int("allowzero", 0)? != 0,
            },
            "Transpose" => Op::Transpose {
                perm: a.ints("perm")?,
            },
            "Concat" => Op::Concat {
                axis: a
                    .opt_int("axis")?
                    .ok_or("the `axis` attribute is required")?,
            },
            "Squeeze" => Op::Squeeze,
            "Unsqueeze" => Op::Unsqueeze,
            "Gather" => Op::Gather {
                axis: a.int("axis", 0)?,
            },
            "Constant" => Op::Constant(a.constant_value()?),
            "Cast" => Op::Cast {
                to_f32: match a.opt_int("to")? {
                    Some(1 | 11) => true,
                    Some(6 | 7) => false,
                    Some(t) => return Err(format!("casting to element type {t} is not supported (float, double, int32, int64 are)")),
                    None => return Err("the `to` attribute is required".into()),
                },
            },
            "Identity" => Op::Identity,
            "Dropout" => Op::Identity,
            "ReduceMean" | "ReduceSum" => {
                let mean = node.op_type == "ReduceMean";
                // ReduceSum takes axes as an input from opset 13, ReduceMean from opset 18.
                let axes = if mean && opset < 18 {
                    a.ints("axes")?
                } else {
                    None
                };
                Op::Reduce {
                    mean,
                    axes,
                    keepdims: a.int("keepdims", 1)? != 0,
                    noop_with_empty_axes: a.int("noop_with_empty_axes", 0)? != 0,
                }
            }
            "Shape" => Op::Shape {
                start: a.int("start", 0)?,
                end: a.opt_int("end")?,
            },
            other => return Err(format!("`{other}` is not supported")),
        };
        // Dropout's mask, MaxPool's indices, LayerNormalization's statistics, training-mode
        // BatchNormalization's running statistics: not computed.
        if node.output.iter().skip(1).any(|o| !o.is_empty()) {
            return Err("only its first output is supported (inference form)".into());
        }
        Ok(op)
    }

    /// Whether the op's output is differentiable (f32 from f32 inputs); `Shape` and
    /// `Constant` are not.
    pub(crate) fn has_pullback(&self) -> bool {
        !matches!(self, Op::Shape { .. } | Op::Constant(_))
    }

    /// Computes the op's single output from its inputs (`None` for an absent optional input).
    pub(crate) fn forward(&self, ins: &[Option<&Tensor>]) -> Result<Tensor, String> {
        match self {
            Op::Gemm {
                alpha,
                beta,
                trans_a,
                trans_b,
            } => linalg::gemm(ins, *alpha, *beta, *trans_a, *trans_b),
            Op::MatMul => linalg::matmul(ins),
            Op::Binary(op) => elementwise::binary(*op, ins),
            Op::Unary(op) => elementwise::unary(*op, ins),
            Op::Softmax { axis, log } => norm::softmax(ins, *axis, *log),
            Op::Conv(c) => conv::conv(ins, c),
            Op::MaxPool(p) => conv::max_pool(ins, p),
            Op::AveragePool(p) => conv::avg_pool(ins, p),
            Op::GlobalAveragePool => conv::global_avg_pool(ins),
            Op::BatchNorm { eps } => norm::batch_norm(ins, *eps),
            Op::LayerNorm { axis, eps } => norm::layer_norm(ins, *axis, *eps),
            Op::Flatten { axis } => shape::flatten(ins, *axis),
            Op::Reshape { allowzero } => shape::reshape(ins, *allowzero),
            Op::Transpose { perm } => shape::transpose(ins, perm.as_deref()),
            Op::Concat { axis } => shape::concat(ins, *axis),
            Op::Squeeze => shape::squeeze(ins),
            Op::Unsqueeze => shape::unsqueeze(ins),
            Op::Gather { axis } => shape::gather(ins, *axis),
            Op::Constant(t) => Ok(t.clone()),
            Op::Cast { to_f32 } => elementwise::cast(ins, *to_f32),
            Op::Identity => Ok(input(ins, 0)?.clone()),
            Op::Reduce {
                mean,
                axes,
                keepdims,
                noop_with_empty_axes,
            } => shape::reduce(
                ins,
                *mean,
                axes.as_deref(),
                *keepdims,
                *noop_with_empty_axes,
            ),
            Op::Shape { start, end } => shape::shape(ins, *start, *end),
        }
    }

    /// Pullback: given the inputs, the output `y` and its adjoint `d_y`, adds each f32 input's
    /// contribution into `d_ins[i]` (skipped where `d_ins[i]` is empty).
    pub(crate) fn pullback(
        &self,
        ins: &[Option<&Tensor>],
        y: &Tensor,
        d_y: &[f32],
        d_ins: &mut [Vec<f32>],
    ) -> Result<(), String> {
        match self {
            Op::Gemm {
                alpha,
                beta,
                trans_a,
                trans_b,
            } => linalg::gemm_pullback(ins, d_y, d_ins, *alpha, *beta, *trans_a, *trans_b),
            Op::MatMul => linalg::matmul_pullback(ins, d_y, d_ins),
            Op::Binary(op) => elementwise::binary_pullback(*op, ins, y, d_y, d_ins),
            Op::Unary(op) => elementwise::unary_pullback(*op, ins, y, d_y, d_ins),
            Op::Softmax { axis, log } => norm::softmax_pullback(y, *axis, *log, d_y, d_ins),
            Op::Conv(c) => conv::conv_pullback(ins, c, d_y, d_ins),
            Op::MaxPool(p) => conv::max_pool_pullback(ins, p, d_y, d_ins),
            Op::AveragePool(p) => conv::avg_pool_pullback(ins, p, d_y, d_ins),
            Op::GlobalAveragePool => conv::global_avg_pool_pullback(ins, d_y, d_ins),
            Op::BatchNorm { eps } => norm::batch_norm_pullback(ins, *eps, d_y, d_ins),
            Op::LayerNorm { axis, eps } => norm::layer_norm_pullback(ins, *axis, *eps, d_y, d_ins),
            // Same elements in another shape (or a float-to-float Cast): d_x += d_y; an int64
            // input has an empty adjoint and gets nothing.
            Op::Flatten { .. }
            | Op::Reshape { .. }
            | Op::Squeeze
            | Op::Unsqueeze
            | Op::Identity
            | Op::Cast { to_f32: true } => {
                add_into(&mut d_ins[0], d_y);
                Ok(())
            }
            Op::Transpose { perm } => shape::transpose_pullback(ins, perm.as_deref(), d_y, d_ins),
            Op::Concat { axis } => shape::concat_pullback(ins, *axis, d_y, d_ins),
            Op::Gather { axis } => shape::gather_pullback(ins, *axis, d_y, d_ins),
            Op::Reduce {
                mean,
                axes,
                keepdims,
                noop_with_empty_axes,
            } => shape::reduce_pullback(
                ins,
                *mean,
                axes.as_deref(),
                *keepdims,
                *noop_with_empty_axes,
                d_y,
                d_ins,
            ),
            Op::Constant(_) | Op::Shape { .. } | Op::Cast { to_f32: false } => Ok(()),
        }
    }
}

/// `d += g`, element-wise; an empty `d` is "not needed".
pub(crate) fn add_into(d: &mut [f32], g: &[f32]) {
    if d.len() == g.len() {
        for (d, g) in d.iter_mut().zip(g) {
            *d += g;
        }
    }
}

/// Input `i`, which must be present.
pub(crate) fn input<'a>(ins: &[Option<&'a Tensor>], i: usize) -> Result<&'a Tensor, String> {
    ins.get(i)
        .copied()
        .flatten()
        .ok_or_else(|| format!("input {i} is missing"))
}

/// Input `i` as f32 elements.
pub(crate) fn f32_input<'a>(
    ins: &[Option<&'a Tensor>],
    i: usize,
) -> Result<(&'a Tensor, &'a [f32]), String> {
    let t = input(ins, i)?;
    let v = t
        .as_f32()
        .ok_or_else(|| format!("input {i} must be float32, it is {}", t.dtype_name()))?;
    Ok((t, v))
}

/// Input `i` as i64 elements (shapes, axes, indices).
pub(crate) fn i64_input<'a>(ins: &[Option<&'a Tensor>], i: usize) -> Result<&'a [i64], String> {
    let t = input(ins, i)?;
    t.as_i64()
        .ok_or_else(|| format!("input {i} must be int64, it is {}", t.dtype_name()))
}

/// A possibly negative axis of a rank-`rank` tensor, checked.
pub(crate) fn norm_axis(axis: i64, rank: usize) -> Result<usize, String> {
    let r = rank as i64;
    let a = if axis < 0 { axis + r } else { axis };
    if (0..r).contains(&a) {
        Ok(a as usize)
    } else {
        Err(format!("axis {axis} is out of range for rank {rank}"))
    }
}

#[cfg(test)]
mod tests;
