//! Element-wise ops: binary ones with numpy broadcasting (the adjoint of a broadcast input is
//! summed over the dimensions it was broadcast along), unary ones.

use super::f32_input;
use crate::tensor::{Data, Tensor};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BinOp {
    Add,
    Sub,
    Mul,
    Div,
    Pow,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum UnOp {
    Sqrt,
    Erf,
    Exp,
    Log,
    Neg,
    Relu,
    LeakyRelu(f32),
    Sigmoid,
    Tanh,
    /// Exact GELU, `x·Φ(x)`.
    Gelu,
    /// GELU's tanh approximation.
    GeluTanh,
}

/// The numpy broadcast of two shapes, or `Err` when they are incompatible.
pub(crate) fn broadcast_shape(a: &[usize], b: &[usize]) -> Result<Vec<usize>, String> {
    let r = a.len().max(b.len());
    let mut out = vec![0; r];
    for i in 0..r {
        let da = if i + a.len() >= r {
            a[i + a.len() - r]
        } else {
            1
        };
        let db = if i + b.len() >= r {
            b[i + b.len() - r]
        } else {
            1
        };
        out[i] = match (da, db) {
            (x, y) if x == y => x,
            (1, y) => y,
            (x, 1) => x,
            _ => return Err(format!("shapes {a:?} and {b:?} do not broadcast")),
        };
    }
    Ok(out)
}

/// For each element of `out_shape` (row-major), the flat index of the element of a tensor of
/// shape `in_shape` broadcast to it. `in_shape` must broadcast to `out_shape`.
pub(crate) fn broadcast_index(out_shape: &[usize], in_shape: &[usize]) -> Vec<usize> {
    let r = out_shape.len();
    let off = r - in_shape.len();
    // Stride of each output dimension in the input (0 where broadcast).
    let mut strides = vec![0usize; r];
    let mut s = 1;
    for i in (0..in_shape.len()).rev() {
        if in_shape[i] != 1 {
            strides[i + off] = s;
        }
        s *= in_shape[i];
    }
    let n: usize = out_shape.iter().product();
    let mut idx = Vec::with_capacity(n);
    let mut counter = vec![0usize; r];
    let mut cur = 0usize;
    for _ in 0..n {
        idx.push(cur);
        for d in (0..r).rev() {
            counter[d] += 1;
            cur += strides[d];
            if counter[d] < out_shape[d] {
                break;
            }
            cur -= strides[d] * counter[d];
            counter[d] = 0;
        }
    }
    idx
}

/// Both operands, the output shape, and each output element's source in `a` and in `b`.
type BinOperands<'a> = (&'a [f32], &'a [f32], Vec<usize>, Vec<usize>, Vec<usize>);

fn bin_operands<'a>(ins: &[Option<&'a Tensor>]) -> Result<BinOperands<'a>, String> {
    let (ta, a) = f32_input(ins, 0)?;
    let (tb, b) = f32_input(ins, 1)?;
    let shape = broadcast_shape(ta.shape(), tb.shape())?;
    let ia = broadcast_index(&shape, ta.shape());
    let ib = broadcast_index(&shape, tb.shape());
    Ok((a, b, shape, ia, ib))
}

pub(crate) fn binary(op: BinOp, ins: &[Option<&Tensor>]) -> Result<Tensor, String> {
    let (a, b, shape, ia, ib) = bin_operands(ins)?;
    let f: fn(f32, f32) -> f32 = match op {
        BinOp::Add => |x, y| x + y,
        BinOp::Sub => |x, y| x - y,
        BinOp::Mul => |x, y| x * y,
        BinOp::Div => |x, y| x / y,
        BinOp::Pow => pow,
    };
    let out = ia.iter().zip(&ib).map(|(&i, &j)| f(a[i], b[j])).collect();
    Ok(Tensor::from_parts(shape, Data::F32(out)))
}

/// `x^y` as ONNX and PyTorch define it for f32 (integral `y` exact for negative `x`).
fn pow(x: f32, y: f32) -> f32 {
    if y == 2.0 {
        x * x
    } else {
        x.powf(y)
    }
}

pub(crate) fn binary_pullback(
    op: BinOp,
    ins: &[Option<&Tensor>],
    y: &Tensor,
    d_y: &[f32],
    d_ins: &mut [Vec<f32>],
) -> Result<(), String> {
    let (a, b, _, ia, ib) = bin_operands(ins)?;
    let out = y.as_f32().ok_or("output is not float32")?;
    let (d_a, rest) = d_ins.split_at_mut(1);
    let (d_a, d_b) = (&mut d_a[0], &mut rest[0]);
    let (need_a, need_b) = (!d_a.is_empty(), !d_b.is_empty());
    for k in 0..d_y.len() {
        let (i, j, g) = (ia[k], ib[k], d_y[k]);
        let (x, w) = (a[i], b[j]);
        // (∂out/∂a, ∂out/∂b) at this element.
        let (ga, gb) = match op {
            BinOp::Add => (1.0, 1.0),
            BinOp::Sub => (1.0, -1.0),
            BinOp::Mul => (w, x),
            // out = x/w: ∂x = 1/w, ∂w = -x/w² = -out/w.
            BinOp::Div => (1.0 / w, -out[k] / w),
            // out = x^w: ∂x = w·x^(w-1), ∂w = out·ln x (0 where x = 0, as PyTorch).
            BinOp::Pow => (
                if w == 0.0 { 0.0 } else { w * pow(x, w - 1.0) },
                if x == 0.0 { 0.0 } else { out[k] * x.ln() },
            ),
        };
        if need_a {
            d_a[i] += g * ga;
        }
        if need_b {
            d_b[j] += g * gb;
        }
    }
    Ok(())
}

const FRAC_1_SQRT_2: f64 = std::f64::consts::FRAC_1_SQRT_2;
/// √(2/π), GELU's tanh approximation.
const SQRT_2_OVER_PI: f64 = 0.797_884_560_802_865_4;

fn unary_value(op: UnOp, x: f32) -> f32 {
    let xd = f64::from(x);
    match op {
        UnOp::Sqrt => x.sqrt(),
        UnOp::Erf => libm::erf(xd) as f32,
        UnOp::Exp => x.exp(),
        UnOp::Log => x.ln(),
        UnOp::Neg => -x,
        UnOp::Relu => x.max(0.0),
        UnOp::LeakyRelu(alpha) => {
            if x >= 0.0 {
                x
            } else {
                alpha * x
            }
        }
        UnOp::Sigmoid => (1.0 / (1.0 + (-xd).exp())) as f32,
        UnOp::Tanh => x.tanh(),
        UnOp::Gelu => (0.5 * xd * (1.0 + libm::erf(xd * FRAC_1_SQRT_2))) as f32,
        UnOp::GeluTanh => {
            (0.5 * xd * (1.0 + (SQRT_2_OVER_PI * (xd + 0.044715 * xd * xd * xd)).tanh())) as f32
        }
    }
}

/// dy/dx at `x` with `y` the forward's output.
fn unary_derivative(op: UnOp, x: f32, y: f32) -> f32 {
    let xd = f64::from(x);
    match op {
        UnOp::Sqrt => 0.5 / y,
        // d erf(x) = 2/√π · e^(−x²)
        UnOp::Erf => (std::f64::consts::FRAC_2_SQRT_PI * (-xd * xd).exp()) as f32,
        UnOp::Exp => y,
        UnOp::Log => 1.0 / x,
        UnOp::Neg => -1.0,
        // 0 at x = 0, as PyTorch.
        UnOp::Relu => {
            if x > 0.0 {
                1.0
            } else {
                0.0
            }
        }
        UnOp::LeakyRelu(alpha) => {
            if x > 0.0 {
                1.0
            } else {
                alpha
            }
        }
        UnOp::Sigmoid => y * (1.0 - y),
        UnOp::Tanh => 1.0 - y * y,
        // d[x·Φ(x)] = Φ(x) + x·φ(x)
        UnOp::Gelu => {
            let cdf = 0.5 * (1.0 + libm::erf(xd * FRAC_1_SQRT_2));
            let pdf =
                (-0.5 * xd * xd).exp() * 0.5 * std::f64::consts::FRAC_2_SQRT_PI * FRAC_1_SQRT_2;
            (cdf + xd * pdf) as f32
        }
        UnOp::GeluTanh => {
            let inner = SQRT_2_OVER_PI * (xd + 0.044715 * xd * xd * xd);
            let t = inner.tanh();
            let d_inner = SQRT_2_OVER_PI * (1.0 + 3.0 * 0.044715 * xd * xd);
            (0.5 * (1.0 + t) + 0.5 * xd * (1.0 - t * t) * d_inner) as f32
        }
    }
}

pub(crate) fn unary(op: UnOp, ins: &[Option<&Tensor>]) -> Result<Tensor, String> {
    let (t, x) = f32_input(ins, 0)?;
    let out = x.iter().map(|&v| unary_value(op, v)).collect();
    Ok(Tensor::from_parts(t.shape().to_vec(), Data::F32(out)))
}

pub(crate) fn unary_pullback(
    op: UnOp,
    ins: &[Option<&Tensor>],
    y: &Tensor,
    d_y: &[f32],
    d_ins: &mut [Vec<f32>],
) -> Result<(), String> {
    let (_, x) = f32_input(ins, 0)?;
    let out = y.as_f32().ok_or("output is not float32")?;
    let d_x = &mut d_ins[0];
    if d_x.is_empty() {
        return Ok(());
    }
    for k in 0..x.len() {
        d_x[k] += d_y[k] * unary_derivative(op, x[k], out[k]);
    }
    Ok(())
}

/// Cast between float32 and int64 (float → int truncates toward zero, as ONNX).
pub(crate) fn cast(ins: &[Option<&Tensor>], to_f32: bool) -> Result<Tensor, String> {
    let x = super::input(ins, 0)?;
    let data = match (x.data(), to_f32) {
        (Data::F32(v), true) => Data::F32(v.clone()),
        (Data::I64(v), true) => Data::F32(v.iter().map(|&i| i as f32).collect()),
        (Data::F32(v), false) => Data::I64(v.iter().map(|&f| f as i64).collect()),
        (Data::I64(v), false) => Data::I64(v.clone()),
    };
    Ok(Tensor::from_parts(x.shape().to_vec(), data))
}
