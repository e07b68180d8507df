//! A fully connected layer followed by GELU, fused: `pre = x·wᵀ + b`, `out = gelu(pre)` —
//! a transformer MLP's first half (W4's `fc`).
//!
//! Why: GELU's gate `σ(2u)` (an exponential and a division per element) is the expensive part
//! of the pair, and the unfused pullback evaluates it a second time. The fused forward keeps
//! the gate in a stash, so its pullback is a few multiply-adds per element; the activations
//! are cache-resident at a transformer MLP's sizes, so the extra buffer costs less than the
//! exponential it saves. Beside that:
//!
//! - forward: the product writes `pre` (no bias copied in first for it to add onto), then one
//!   pass adds the bias and writes `out` and the gate;
//! - pullback: one pass turns `d_out` into the pre-activation's gradient in place (rows split
//!   across the threads as the products that read it next split them; the bias gradient's
//!   column sums in a pass of their own, whose order does not depend on the thread count),
//!   then it is zeroed.
//!
//! `pre` and `gate` are stashes (`ArgMode::Stash`): `#[differentiable]` call sites hand their
//! adjoints over empty, and nothing else there may read them. Called directly, a seed on them
//! is honoured; a zero one is found by a read and its arithmetic and zeroing skipped.
//!
//! The pullback's adjoints have the bits of `gelu_pullback` then `linear_pullback`; the
//! forward's `pre` can differ from `linear`'s in the last bit where the product's reduction
//! is cut into blocks (the bias is added after the product here, before it there).

use faer::{MatMut, MatRef};

use crate::activation::{gelu_du, gelu_gate, gelu_grad};
use crate::error::{check_adj, check_len, KernelError};
use crate::gemm::gemm_view;
use crate::linear::{check, dense_pullback};
use crate::par;

/// Element-ops per element charged to the forward's pass when deciding to split it (GELU's
/// gate: one exponential and a division per element).
const GELU_COST: usize = 16;
/// The same for the pullback's pass (a few multiply-adds per element).
const GRAD_COST: usize = 8;

/// `pre[batch, out_f] = x[batch, in_f] · w[out_f, in_f]ᵀ + b[out_f]`,
/// `gate = σ(2u(pre))` and `out = pre·gate = gelu(pre)` (tanh approximation, the bits of
/// [`crate::gelu`] on `pre`). `pre` and `gate` are what the pullback reads.
#[allow(clippy::too_many_arguments)]
pub fn linear_gelu(
    out: &mut [f32],
    pre: &mut [f32],
    gate: &mut [f32],
    x: &[f32],
    w: &[f32],
    b: &[f32],
    batch: usize,
    in_f: usize,
    out_f: usize,
) -> Result<(), KernelError> {
    const K: &str = "linear_gelu";
    check(K, out.len(), x.len(), w.len(), b.len(), batch, in_f, out_f)?;
    check_len(K, "pre", pre.len(), out.len(), "[batch, out_f]")?;
    check_len(K, "gate", gate.len(), out.len(), "[batch, out_f]")?;
    if out_f == 0 || batch == 0 {
        return Ok(());
    }
    gemm_view(
        MatMut::from_row_major_slice_mut(pre, batch, out_f),
        MatRef::from_row_major_slice(x, batch, in_f),
        MatRef::from_row_major_slice(w, out_f, in_f).transpose(),
        false,
    );
    let rows = par::units_per_piece(batch, out_f * GELU_COST) * out_f;
    par::for_each_chunk(
        (
            par::Mut(out, rows),
            par::Mut(pre, rows),
            par::Mut(gate, rows),
        ),
        |_, (o, p, s)| bias_gelu_rows(o.0, p.0, s.0, b),
    );
    Ok(())
}

/// `pre += b` row by row, `gate = σ(2u(pre))`, `out = pre·gate`; cloned for AVX-512 / AVX2.
#[multiversion::multiversion(targets = "simd")]
fn bias_gelu_rows(out: &mut [f32], pre: &mut [f32], gate: &mut [f32], b: &[f32]) {
    let n = b.len();
    let rows = out
        .chunks_exact_mut(n)
        .zip(pre.chunks_exact_mut(n))
        .zip(gate.chunks_exact_mut(n));
    for ((orow, prow), grow) in rows {
        for (((o, p), g), &bj) in orow.iter_mut().zip(prow).zip(grow).zip(b) {
            let v = *p + bj;
            let s = gelu_gate(v);
            *p = v;
            *g = s;
            *o = v * s;
        }
    }
}

/// Pullback of [`linear_gelu`]: with
/// `g = d_out·gelu'(pre) + d_pre + d_gate·∂gate/∂pre`,
/// `d_x += g·w`, `d_w += gᵀ·x`, `d_b += Σ_rows g`; zeroes `d_out`, `d_pre` and `d_gate`.
/// Any adjoint may be empty: not wanted (`d_x`, `d_w`, `d_b`), or a zero seed (`d_out`,
/// `d_pre`, `d_gate`).
#[allow(clippy::too_many_arguments)]
pub fn linear_gelu_pullback(
    out: &mut [f32],
    pre: &mut [f32],
    gate: &mut [f32],
    x: &[f32],
    w: &[f32],
    b: &[f32],
    batch: usize,
    in_f: usize,
    out_f: usize,
    d_out: &mut [f32],
    d_pre: &mut [f32],
    d_gate: &mut [f32],
    d_x: &mut [f32],
    d_w: &mut [f32],
    d_b: &mut [f32],
) -> Result<(), KernelError> {
    const K: &str = "linear_gelu_pullback";
    check(K, out.len(), x.len(), w.len(), b.len(), batch, in_f, out_f)?;
    let shape = "[batch, out_f]";
    check_len(K, "pre", pre.len(), out.len(), shape)?;
    check_len(K, "gate", gate.len(), out.len(), shape)?;
    let need_out = check_adj(K, "d_out", d_out.len(), out.len(), shape)?;
    let need_pre = check_adj(K, "d_pre", d_pre.len(), out.len(), shape)?;
    let need_gate = check_adj(K, "d_gate", d_gate.len(), out.len(), shape)?;
    check_adj(K, "d_x", d_x.len(), x.len(), "[batch, in_f]")?;
    check_adj(K, "d_w", d_w.len(), w.len(), "[out_f, in_f]")?;
    check_adj(K, "d_b", d_b.len(), b.len(), "[out_f]")?;
    if out_f == 0 || batch == 0 || !(need_out || need_pre || need_gate) {
        return Ok(());
    }
    if !need_out && !need_gate {
        // Only the pre-activation's adjoint flows: `linear`'s pullback on it.
        dense_pullback(x, w, batch, in_f, out_f, d_pre, d_x, d_w, d_b);
        return Ok(());
    }
    // The gradient is formed in place in `d_out` (or, without a seed there, in `d_gate`),
    // rows split across the threads as the products that read it next split them.
    let seeded = need_out;
    let (g, d_gate): (&mut [f32], &mut [f32]) = if seeded {
        (d_out, d_gate)
    } else {
        (d_gate, &mut [])
    };
    let rows = par::units_per_piece(batch, out_f * GRAD_COST) * out_f;
    // An empty `d_pre`/`d_gate` splits into empty pieces.
    let chunks = (
        par::Mut(&mut *g, rows),
        par::Ref(pre, rows),
        par::Ref(gate, rows),
        par::Mut(d_pre, rows),
        par::Mut(d_gate, rows),
    );
    par::for_each_chunk(chunks, |_, (g, pre, gate, dp, dg)| {
        let dp = (!dp.0.is_empty()).then_some(dp.0);
        let dg = (!dg.0.is_empty()).then_some(dg.0);
        grad_row(g.0, pre.0, gate.0, dp, dg, seeded);
    });
    dense_pullback(x, w, batch, in_f, out_f, g, d_x, d_w, d_b);
    Ok(())
}

/// Cloned for AVX-512 / AVX2. With `seeded`, `g` holds `d_out`:
/// `g = d_out·gelu'(pre) (+ d_gate·∂gate/∂pre) (+ d_pre)`; without, `g` holds `d_gate`:
/// `g = d_gate·∂gate/∂pre (+ d_pre)`; `d_pre` and `d_gate` are zeroed. The order of
/// operations is the unfused pullbacks' (`d_pre + …`, as `gelu_pullback` adds into the
/// adjoint of its input).
#[multiversion::multiversion(targets = "simd")]
fn grad_row(
    g: &mut [f32],
    pre: &[f32],
    gate: &[f32],
    d_pre: Option<&mut [f32]>,
    d_gate: Option<&mut [f32]>,
    seeded: bool,
) {
    let dgate = |v: f32, s: f32| 2.0 * s * (1.0 - s) * gelu_du(v);
    // `pre`'s and `gate`'s adjoints are zero in every step of a model (nothing else reads
    // them): a read of them costs less than the general loop's read-modify-write.
    let d_pre = d_pre.filter(|d| !all_zero(d));
    let mut d_gate = d_gate.filter(|d| !all_zero(d));
    if seeded && d_pre.is_none() && d_gate.is_none() {
        for ((gj, &v), &s) in g.iter_mut().zip(pre).zip(gate) {
            *gj = gelu_grad(v, s, *gj);
        }
    } else {
        let mut d_pre = d_pre;
        for j in 0..g.len() {
            let (v, s) = (pre[j], gate[j]);
            let mut t = if seeded {
                gelu_grad(v, s, g[j])
            } else {
                g[j] * dgate(v, s)
            };
            if let Some(dg) = d_gate.as_deref_mut() {
                t += dg[j] * dgate(v, s);
                dg[j] = 0.0;
            }
            if let Some(dp) = d_pre.as_deref_mut() {
                t += dp[j];
                dp[j] = 0.0;
            }
            g[j] = t;
        }
    }
}

/// Whether every element is ±0 (in 16 lanes: `iter().all` stops early, so it stays scalar).
#[inline(always)]
fn all_zero(x: &[f32]) -> bool {
    let (chunks, rest) = x.as_chunks::<16>();
    let mut acc = [0u32; 16];
    for c in chunks {
        for (a, &v) in acc.iter_mut().zip(c) {
            *a |= v.to_bits() & 0x7fff_ffff;
        }
    }
    acc.iter().all(|&a| a == 0) && rest.iter().all(|&v| v == 0.0)
}
