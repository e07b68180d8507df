//! Element-wise activations `out[n] = f(x[n])` (any shape, `n` elements) and their pullbacks
//! `d_x += f'(x)·d_out`, which use the forward's output where that is cheaper.

use crate::error::{check_adj, check_len, KernelError};
use crate::par;

/// Element-ops per element charged to the cheap maps when deciding to split (they are
/// memory-bound: a split pays once the arrays no longer fit one core's cache).
const CHEAP: usize = 8;
/// The same for maps that evaluate a transcendental function per element.
const TRANSCENDENTAL: usize = 16;

/// `out[i] = f(x[i])`, split across the kernel threads when large enough.
fn map_ew(out: &mut [f32], x: &[f32], cost: usize, f: impl Fn(f32) -> f32 + Sync) {
    let c = par::chunk_len(x.len(), cost);
    par::for_each_chunk((par::Mut(out, c), par::Ref(x, c)), |_, (o, x)| {
        map_chunk(o.0, x.0, &f)
    });
}

/// Cloned for AVX-512 / AVX2 and picked at run time, so that the loop vectorises with wide
/// vectors (the crate is built for baseline x86-64).
#[multiversion::multiversion(targets = "simd")]
fn map_chunk<F: Fn(f32) -> f32>(out: &mut [f32], x: &[f32], f: &F) {
    for (o, &v) in out.iter_mut().zip(x) {
        *o = f(v);
    }
}

/// `d_x += grad(x, out, d_out)`, then `d_out = 0`; runtime-dispatched like [`map_chunk`].
#[multiversion::multiversion(targets = "simd")]
fn pullback_chunk<F: Fn(f32, f32, f32) -> f32>(
    d_x: &mut [f32],
    x: &[f32],
    out: &[f32],
    d_out: &mut [f32],
    grad: &F,
) {
    for (((g, &v), &y), dy) in d_x.iter_mut().zip(x).zip(out).zip(d_out.iter_mut()) {
        *g += grad(v, y, *dy);
        *dy = 0.0;
    }
}

fn check2(kernel: &'static str, out: usize, x: usize) -> Result<(), KernelError> {
    check_len(kernel, "out", out, x, "[n] (same as x)")
}

/// Shared body of the element-wise pullbacks: checks the lengths (an empty `d_out` or `d_x`
/// means "not needed", see the crate docs), adds `grad(x, out, d_out)` into `d_x` and zeroes
/// `d_out`.
fn pullback_ew(
    kernel: &'static str,
    out: &[f32],
    x: &[f32],
    d_out: &mut [f32],
    d_x: &mut [f32],
    cost: usize,
    grad: impl Fn(f32, f32, f32) -> f32 + Sync,
) -> Result<(), KernelError> {
    check2(kernel, out.len(), x.len())?;
    let n = x.len();
    let need_out = check_adj(kernel, "d_out", d_out.len(), n, "[n] (same as x)")?;
    let need_x = check_adj(kernel, "d_x", d_x.len(), n, "[n] (same as x)")?;
    if !need_out {
        return Ok(());
    }
    let c = par::chunk_len(n, cost);
    if need_x {
        let chunks = (
            par::Mut(d_x, c),
            par::Ref(x, c),
            par::Ref(out, c),
            par::Mut(d_out, c),
        );
        par::for_each_chunk(chunks, |_, (g, x, y, dy)| {
            pullback_chunk(g.0, x.0, y.0, dy.0, &grad)
        });
    } else {
        par::for_each_chunk(par::Mut(d_out, c), |_, dy| dy.0.fill(0.0));
    }
    Ok(())
}

/// `out = max(x, 0)`, `out, x: [n]`.
pub fn relu(out: &mut [f32], x: &[f32]) -> Result<(), KernelError> {
    check2("relu", out.len(), x.len())?;
    map_ew(out, x, CHEAP, |v| v.max(0.0));
    Ok(())
}

/// Pullback of [`relu`]: `d_x += d_out·[x > 0]`; zeroes `d_out`.
pub fn relu_pullback(
    out: &mut [f32],
    x: &[f32],
    d_out: &mut [f32],
    d_x: &mut [f32],
) -> Result<(), KernelError> {
    pullback_ew("relu_pullback", out, x, d_out, d_x, CHEAP, |v, _, dy| {
        if v > 0.0 {
            dy
        } else {
            0.0
        }
    })
}

fn check_slope(kernel: &'static str, slope: f32) -> Result<(), KernelError> {
    if slope.is_finite() {
        Ok(())
    } else {
        Err(KernelError::param(kernel, "slope", slope, "finite"))
    }
}

/// `out = x` for `x > 0`, else `slope·x`; `out, x: [n]`.
pub fn leaky_relu(out: &mut [f32], x: &[f32], slope: f32) -> Result<(), KernelError> {
    check2("leaky_relu", out.len(), x.len())?;
    check_slope("leaky_relu", slope)?;
    map_ew(out, x, CHEAP, |v| if v > 0.0 { v } else { slope * v });
    Ok(())
}

/// Pullback of [`leaky_relu`]: `d_x += d_out·(x > 0 ? 1 : slope)`; zeroes `d_out`.
pub fn leaky_relu_pullback(
    out: &mut [f32],
    x: &[f32],
    slope: f32,
    d_out: &mut [f32],
    d_x: &mut [f32],
) -> Result<(), KernelError> {
    check_slope("leaky_relu_pullback", slope)?;
    pullback_ew(
        "leaky_relu_pullback",
        out,
        x,
        d_out,
        d_x,
        CHEAP,
        |v, _, dy| {
            if v > 0.0 {
                dy
            } else {
                slope * dy
            }
        },
    )
}

const SQRT_2_OVER_PI: f32 = 0.797_884_6;
const GELU_C: f32 = 0.044_715;

/// `σ(2u)` with `u = √(2/π)(x + 0.044715x³)` (GELU's gate). GELU's `½(1 + tanh u)` is exactly
/// `σ(2u)`; computed with the crate's branch-free `exp`, the element loop vectorises and calls
/// no libm function. (Scalar libm `tanhf` made GELU the GPT's most expensive kernel: 55 ms per
/// 262k elements after a GEMM had left the upper vector registers dirty, against 3 ms on its
/// own, and a few ms more for the call per element even then.)
#[inline(always)]
pub(crate) fn gelu_gate(v: f32) -> f32 {
    let u = SQRT_2_OVER_PI * (v + GELU_C * v * v * v);
    1.0 / (1.0 + crate::softmax::exp(-2.0 * u))
}

/// `du/dx = √(2/π)(1 + 3·0.044715x²)` of [`gelu_gate`].
#[inline(always)]
pub(crate) fn gelu_du(v: f32) -> f32 {
    SQRT_2_OVER_PI * (1.0 + 3.0 * GELU_C * v * v)
}

/// GELU's derivative times `dy` from the gate `s = σ(2u)` and `v`:
/// `dy·(s + 2v·s(1 − s)·du/dx)`, the expression [`gelu_pullback`] evaluates.
#[inline(always)]
pub(crate) fn gelu_grad(v: f32, s: f32, dy: f32) -> f32 {
    dy * (s + 2.0 * v * s * (1.0 - s) * gelu_du(v))
}

/// GELU, tanh approximation (PyTorch `approximate="tanh"`):
/// `out = ½x(1 + tanh(√(2/π)(x + 0.044715x³)))`, computed as `x·σ(2u)`; `out, x: [n]`.
pub fn gelu(out: &mut [f32], x: &[f32]) -> Result<(), KernelError> {
    check2("gelu", out.len(), x.len())?;
    map_ew(out, x, CHEAP, |v| v * gelu_gate(v));
    Ok(())
}

/// Pullback of [`gelu`]: with `s = σ(2u) = ½(1 + tanh u)`,
/// `d_x += d_out·(s + 2x·s(1 − s)·du/dx)`; zeroes `d_out`.
pub fn gelu_pullback(
    out: &mut [f32],
    x: &[f32],
    d_out: &mut [f32],
    d_x: &mut [f32],
) -> Result<(), KernelError> {
    pullback_ew("gelu_pullback", out, x, d_out, d_x, CHEAP, |v, _, dy| {
        gelu_grad(v, gelu_gate(v), dy)
    })
}

/// `out = tanh(x)`; `out, x: [n]`.
pub fn tanh(out: &mut [f32], x: &[f32]) -> Result<(), KernelError> {
    check2("tanh", out.len(), x.len())?;
    map_ew(out, x, TRANSCENDENTAL, f32::tanh);
    Ok(())
}

/// Pullback of [`tanh`]: `d_x += d_out·(1 − out²)`; zeroes `d_out`.
pub fn tanh_pullback(
    out: &mut [f32],
    x: &[f32],
    d_out: &mut [f32],
    d_x: &mut [f32],
) -> Result<(), KernelError> {
    pullback_ew("tanh_pullback", out, x, d_out, d_x, CHEAP, |_, y, dy| {
        dy * (1.0 - y * y)
    })
}

/// `out = 1 / (1 + e^(−x))`; `out, x: [n]`.
pub fn sigmoid(out: &mut [f32], x: &[f32]) -> Result<(), KernelError> {
    check2("sigmoid", out.len(), x.len())?;
    map_ew(out, x, TRANSCENDENTAL, sigmoid_scalar);
    Ok(())
}

/// Overflow-free logistic function, with the crate's vectorisable `exp` (no libm call per
/// element, see [`gelu_gate`]).
#[inline(always)]
fn sigmoid_scalar(v: f32) -> f32 {
    let e = crate::softmax::exp(-v.abs());
    if v >= 0.0 {
        1.0 / (1.0 + e)
    } else {
        e / (1.0 + e)
    }
}

/// Pullback of [`sigmoid`]: `d_x += d_out·out(1 − out)`; zeroes `d_out`.
pub fn sigmoid_pullback(
    out: &mut [f32],
    x: &[f32],
    d_out: &mut [f32],
    d_x: &mut [f32],
) -> Result<(), KernelError> {
    pullback_ew("sigmoid_pullback", out, x, d_out, d_x, CHEAP, |_, y, dy| {
        dy * y * (1.0 - y)
    })
}
