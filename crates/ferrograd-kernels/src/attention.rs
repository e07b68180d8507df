//! Causal multi-head self-attention with the softmax fused in (GPT's attention core, after the
//! `qkv` projection and before the output projection), llm.c style: the forward keeps the
//! attention probabilities, so the pullback needs no other scratch.

use faer::{MatMut, MatRef};

use crate::conv::with_scratch;
use crate::error::{check_adj, check_len, check_positive, size, KernelError};
use crate::gemm::gemm_seq;
use crate::lanes;
use crate::par;
use crate::softmax::exp;

/// The sizes of one call: `batch` sequences of `seq` tokens, `dim = heads·head_dim`.
#[derive(Clone, Copy)]
struct Dims {
    seq: usize,
    heads: usize,
    dim: usize,
    head_dim: usize,
    scale: f32,
}

fn check(
    kernel: &'static str,
    out: usize,
    att: usize,
    qkv: usize,
    batch: usize,
    seq: usize,
    heads: usize,
    dim: usize,
) -> Result<Dims, KernelError> {
    check_positive(kernel, "heads", heads)?;
    if !dim.is_multiple_of(heads) {
        return Err(KernelError::Dim {
            kernel,
            arg: "dim",
            value: dim,
            requirement: "a multiple of heads",
        });
    }
    check_len(
        kernel,
        "out",
        out,
        size(kernel, &[batch, seq, dim])?,
        "[batch, seq, dim]",
    )?;
    check_len(
        kernel,
        "att",
        att,
        size(kernel, &[batch, heads, seq, seq])?,
        "[batch, heads, seq, seq]",
    )?;
    check_len(
        kernel,
        "qkv",
        qkv,
        size(kernel, &[batch, seq, 3, dim])?,
        "[batch, seq, 3·dim]",
    )?;
    let head_dim = dim / heads;
    Ok(Dims {
        seq,
        heads,
        dim,
        head_dim,
        scale: 1.0 / (head_dim.max(1) as f32).sqrt(),
    })
}

/// `qkv: [batch, seq, 3·dim]` holds, per token, the query, key and value vectors (`q | k | v`,
/// each `dim = heads·head_dim` wide, head `h` in columns `h·head_dim..`). For every sequence,
/// head and position `t`:
/// `att[b, h, t, j] = softmax_j(q_t·k_j / √head_dim)` over `j ≤ t` (0 for `j > t`), and
/// `out[b, t, h·head_dim..] = Σ_j att[b, h, t, j]·v_j`.
/// `out: [batch, seq, dim]`, `att: [batch, heads, seq, seq]` (kept for the pullback).
#[allow(clippy::too_many_arguments)]
pub fn causal_attention(
    out: &mut [f32],
    att: &mut [f32],
    qkv: &[f32],
    batch: usize,
    seq: usize,
    heads: usize,
    dim: usize,
) -> Result<(), KernelError> {
    let d = check(
        "causal_attention",
        out.len(),
        att.len(),
        qkv.len(),
        batch,
        seq,
        heads,
        dim,
    )?;
    if out.is_empty() {
        att.fill(0.0);
        return Ok(());
    }
    let chunks = (
        par::Mut(out, seq * dim),
        par::Mut(att, heads * seq * seq),
        par::Ref(qkv, seq * 3 * dim),
    );
    par::for_each_chunk(chunks, |_, (o, a, q)| sequence_forward(o.0, a.0, q.0, d));
    Ok(())
}

/// Head `h`'s `(seq, head_dim)` block of the `q`, `k` or `v` columns (`offset` = `0`, `dim` or
/// `2·dim`) of one sequence's `qkv` rows: a strided view, no copy.
fn head_view(qkv: &[f32], d: Dims, offset: usize, h: usize) -> MatRef<'_, f32> {
    MatRef::from_row_major_slice_with_stride(
        &qkv[offset + h * d.head_dim..],
        d.seq,
        d.head_dim,
        3 * d.dim,
    )
}

/// [`head_view`] of a mutable buffer (`d_qkv`).
fn head_view_mut(qkv: &mut [f32], d: Dims, offset: usize, h: usize) -> MatMut<'_, f32> {
    row_major_mut(
        &mut qkv[offset + h * d.head_dim..],
        d.seq,
        d.head_dim,
        3 * d.dim,
    )
}

/// A row-major `(rows, cols)` view whose rows start `row_stride` elements apart. Built as the
/// transpose of a column-major view: faer 0.24.4's `from_row_major_slice_with_stride_mut`
/// gives the strides the wrong way round (a column-major view; its `MatRef` twin is right),
/// which `tests` below pins down.
fn row_major_mut(s: &mut [f32], rows: usize, cols: usize, row_stride: usize) -> MatMut<'_, f32> {
    MatMut::from_column_major_slice_with_stride_mut(s, cols, rows, row_stride).transpose_mut()
}

/// One sequence of [`causal_attention`], per head: `S = Q·Kᵀ` and `O = P·V` as two small
/// matrix products over strided views of `qkv` (faer's microkernels; per-pair dot products
/// and axpys took a fifth of W4's step), with the scaling, the causal mask and the softmax
/// row by row in between. The products compute the masked upper triangle too (twice the
/// flops of the causal half, still far cheaper than the loops).
#[multiversion::multiversion(targets = "simd")]
fn sequence_forward(out: &mut [f32], att: &mut [f32], qkv: &[f32], d: Dims) {
    let seq = d.seq;
    for h in 0..d.heads {
        let p = &mut att[h * seq * seq..(h + 1) * seq * seq];
        gemm_seq(
            MatMut::from_row_major_slice_mut(p, seq, seq),
            head_view(qkv, d, 0, h),
            head_view(qkv, d, d.dim, h).transpose(),
            false,
        );
        // Each row up to the diagonal rounded up to whole lanes, the masked part of that set
        // to −∞ (whose `exp` is exactly 0): loops over whole lanes vectorise, where rows cut
        // at the diagonal left the exponentials scalar, and the rest of the row (all masked)
        // is only zeroed. The extra −∞ and 0 change neither the max nor the lane sums, so
        // the result has the bits of the whole-row softmax.
        for (t, row) in p.chunks_exact_mut(seq).enumerate() {
            let (live, masked) = row.split_at_mut((t + 1).next_multiple_of(lanes::LANES).min(seq));
            for (j, s) in live.iter_mut().enumerate() {
                *s = if j <= t {
                    *s * d.scale
                } else {
                    f32::NEG_INFINITY
                };
            }
            let max = lanes::max(live);
            for s in live.iter_mut() {
                *s = exp(*s - max);
            }
            let inv = 1.0 / lanes::sum(live);
            // Exact zeros past the diagonal even where a NaN row made `exp` NaN.
            for (j, s) in live.iter_mut().enumerate() {
                *s = if j <= t { *s * inv } else { 0.0 };
            }
            masked.fill(0.0);
        }
        gemm_seq(
            row_major_mut(&mut out[h * d.head_dim..], seq, d.head_dim, d.dim),
            MatRef::from_row_major_slice(p, seq, seq),
            head_view(qkv, d, 2 * d.dim, h),
            false,
        );
    }
}

/// Pullback of [`causal_attention`], with `p = att` and `dp_tj = d_out_t·v_j + d_att_tj`:
/// `d_v_j += Σ_t p_tj·d_out_t`, `ds_tj = p_tj·(dp_tj − Σ_j' p_tj'·dp_tj')`,
/// `d_q_t += Σ_j ds_tj·k_j/√hd`, `d_k_j += Σ_t ds_tj·q_t/√hd` (into `d_qkv`); zeroes `d_out`
/// and `d_att`. An empty `d_qkv` is not computed; an empty `d_out` or `d_att` is a zero seed.
#[allow(clippy::too_many_arguments)]
pub fn causal_attention_pullback(
    out: &mut [f32],
    att: &mut [f32],
    qkv: &[f32],
    batch: usize,
    seq: usize,
    heads: usize,
    dim: usize,
    d_out: &mut [f32],
    d_att: &mut [f32],
    d_qkv: &mut [f32],
) -> Result<(), KernelError> {
    const K: &str = "causal_attention_pullback";
    let d = check(K, out.len(), att.len(), qkv.len(), batch, seq, heads, dim)?;
    let need_out = check_adj(K, "d_out", d_out.len(), out.len(), "[batch, seq, dim]")?;
    let need_att = check_adj(
        K,
        "d_att",
        d_att.len(),
        att.len(),
        "[batch, heads, seq, seq]",
    )?;
    let need_qkv = check_adj(K, "d_qkv", d_qkv.len(), qkv.len(), "[batch, seq, 3·dim]")?;
    if need_qkv && (need_out || need_att) && !out.is_empty() {
        let chunks = (
            par::Mut(d_qkv, seq * 3 * dim),
            par::Ref(qkv, seq * 3 * dim),
            par::Ref(att, heads * seq * seq),
            par::Mut(&mut *d_out, seq * dim),
            par::Mut(&mut *d_att, heads * seq * seq),
        );
        // Each thread zeroes the seeds of its own sequences once it has read them: zeroed
        // afterwards by one thread, the other thread's half crossed cores line by line.
        par::for_each_chunk(chunks, |_, (g, q, a, dy, da)| {
            sequence_pullback(g.0, q.0, a.0, dy.0, da.0, d);
            dy.0.fill(0.0);
            da.0.fill(0.0);
        });
        return Ok(());
    }
    d_out.fill(0.0);
    d_att.fill(0.0);
    Ok(())
}

thread_local! {
    /// Per-thread `dP`/`dS` block of one head (`seq × seq`) when the caller gives no `d_att`
    /// to work in.
    static DP: std::cell::Cell<Vec<f32>> = const { std::cell::Cell::new(Vec::new()) };
}

/// One sequence of [`causal_attention_pullback`], per head, as matrix products over strided
/// views (see [`sequence_forward`]): `dP = d_att + dO·Vᵀ`, `dV += Pᵀ·dO`,
/// `dS = P ⊙ (dP − rowsum(P ⊙ dP))/√hd` (in place), `dQ += dS·K`, `dK += dSᵀ·Q`. Above the
/// diagonal `P` is 0, so `dS` is too. `dP` is formed in `d_att` (zeroed by the caller
/// afterwards), or, for an empty `d_att` (a zero seed), in per-thread scratch: the same
/// products either way, where an empty seed used to take a loop of per-pair dot products and
/// axpys ~5× as slow. An empty `d_out` is a zero seed.
#[multiversion::multiversion(targets = "simd")]
fn sequence_pullback(
    d_qkv: &mut [f32],
    qkv: &[f32],
    att: &[f32],
    d_out: &[f32],
    d_att: &mut [f32],
    d: Dims,
) {
    let block = d.seq * d.seq;
    if d_att.is_empty() {
        with_scratch(&DP, block, |dp| {
            for h in 0..d.heads {
                dp.fill(0.0);
                head_pullback(d_qkv, qkv, att, d_out, dp, h, d);
            }
        });
    } else {
        for (h, dp) in d_att.chunks_exact_mut(block).enumerate() {
            head_pullback(d_qkv, qkv, att, d_out, dp, h, d);
        }
    }
}

/// Head `h` of [`sequence_pullback`]: `dp` holds the head's seed block (`d_att`'s, or zeros
/// from the scratch) and is left holding `dS`.
#[inline(always)]
fn head_pullback(
    d_qkv: &mut [f32],
    qkv: &[f32],
    att: &[f32],
    d_out: &[f32],
    dp: &mut [f32],
    h: usize,
    d: Dims,
) {
    let seq = d.seq;
    let p = &att[h * seq * seq..(h + 1) * seq * seq];
    if !d_out.is_empty() {
        let dy = MatRef::from_row_major_slice_with_stride(
            &d_out[h * d.head_dim..],
            seq,
            d.head_dim,
            d.dim,
        );
        gemm_seq(
            MatMut::from_row_major_slice_mut(dp, seq, seq),
            dy,
            head_view(qkv, d, 2 * d.dim, h).transpose(),
            true,
        );
        gemm_seq(
            head_view_mut(d_qkv, d, 2 * d.dim, h),
            MatRef::from_row_major_slice(p, seq, seq).transpose(),
            dy,
            true,
        );
    }
    for t in 0..seq {
        let (pr, dr) = (&p[t * seq..(t + 1) * seq], &mut dp[t * seq..(t + 1) * seq]);
        let mean = lanes::dot(&pr[..=t], &dr[..=t]);
        for (v, &pj) in dr[..=t].iter_mut().zip(&pr[..=t]) {
            *v = pj * (*v - mean) * d.scale;
        }
        dr[t + 1..].fill(0.0);
    }
    let ds = MatRef::from_row_major_slice(dp, seq, seq);
    gemm_seq(
        head_view_mut(d_qkv, d, 0, h),
        ds,
        head_view(qkv, d, d.dim, h),
        true,
    );
    gemm_seq(
        head_view_mut(d_qkv, d, d.dim, h),
        ds.transpose(),
        head_view(qkv, d, 0, h),
        true,
    );
}

#[cfg(test)]
mod tests {
    use super::row_major_mut;

    /// Element (i, j) of a strided row-major view is `s[i·stride + j]`.
    #[test]
    fn row_major_mut_is_row_major() {
        let mut s: Vec<f32> = (0..12).map(|i| i as f32).collect();
        let m = row_major_mut(&mut s[1..], 3, 2, 4);
        for i in 0..3 {
            for j in 0..2 {
                assert_eq!(m[(i, j)], (1 + i * 4 + j) as f32);
            }
        }
    }
}
