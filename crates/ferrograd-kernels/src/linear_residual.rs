//! A fully connected layer added onto a residual stream, fused: `out = res + x·wᵀ + b` — a
//! transformer block's two projections back into the stream (W4's attention output and MLP
//! projections).
//!
//! Why: unfused, `linear` copies the bias into its output, the product accumulates onto it,
//! and `add` then reads that output and the stream to write a third buffer; in the pullback
//! `add_pullback` copies the seed into the projection's adjoint, which `linear_pullback` reads
//! and zeroes. Fused, the pass that copied the bias writes `res + b` instead, the product
//! accumulates onto it, and the pullback reads the seed where it is: one pass over
//! `[batch, out_f]` and one buffer fewer each way.
//!
//! The adjoints have the bits of `add_pullback` then `linear_pullback`. `out` can differ from
//! the unfused `res + (x·wᵀ + b)` in the last bit (the stream is added before the product
//! here, after it there).

use faer::{MatMut, MatRef};

use crate::combine::accumulate;
use crate::error::{check_adj, check_len, KernelError};
use crate::gemm::gemm_view;
use crate::linear::{bias_rows_chunk, check, dense_pullback};
use crate::par;

/// `out[batch, out_f] = res[batch, out_f] + x[batch, in_f] · w[out_f, in_f]ᵀ + b[out_f]`.
#[allow(clippy::too_many_arguments)]
pub fn linear_residual(
    out: &mut [f32],
    x: &[f32],
    w: &[f32],
    b: &[f32],
    res: &[f32],
    batch: usize,
    in_f: usize,
    out_f: usize,
) -> Result<(), KernelError> {
    const K: &str = "linear_residual";
    check(K, out.len(), x.len(), w.len(), b.len(), batch, in_f, out_f)?;
    check_len(K, "res", res.len(), out.len(), "[batch, out_f]")?;
    if out_f == 0 || batch == 0 {
        return Ok(());
    }
    let rows = bias_rows_chunk(batch, out_f);
    par::for_each_chunk(
        (par::Mut(&mut *out, rows), par::Ref(res, rows)),
        |_, (o, r)| stream_plus_bias(o.0, r.0, b),
    );
    gemm_view(
        MatMut::from_row_major_slice_mut(out, batch, out_f),
        MatRef::from_row_major_slice(x, batch, in_f),
        MatRef::from_row_major_slice(w, out_f, in_f).transpose(),
        true,
    );
    Ok(())
}

/// `out = res + b` row by row; cloned for AVX-512 / AVX2.
#[multiversion::multiversion(targets = "simd")]
fn stream_plus_bias(out: &mut [f32], res: &[f32], b: &[f32]) {
    let n = b.len();
    for (orow, rrow) in out.chunks_exact_mut(n).zip(res.chunks_exact(n)) {
        for ((o, &r), &bj) in orow.iter_mut().zip(rrow).zip(b) {
            *o = r + bj;
        }
    }
}

/// Pullback of [`linear_residual`]: `d_res += d_out`, `d_x += d_out·w`, `d_w += d_outᵀ·x`,
/// `d_b += Σ_rows d_out`; zeroes `d_out`. An empty adjoint is not computed; an empty `d_out`
/// means a zero seed.
#[allow(clippy::too_many_arguments)]
pub fn linear_residual_pullback(
    out: &mut [f32],
    x: &[f32],
    w: &[f32],
    b: &[f32],
    res: &[f32],
    batch: usize,
    in_f: usize,
    out_f: usize,
    d_out: &mut [f32],
    d_x: &mut [f32],
    d_w: &mut [f32],
    d_b: &mut [f32],
    d_res: &mut [f32],
) -> Result<(), KernelError> {
    const K: &str = "linear_residual_pullback";
    check(K, out.len(), x.len(), w.len(), b.len(), batch, in_f, out_f)?;
    let shape = "[batch, out_f]";
    check_len(K, "res", res.len(), out.len(), shape)?;
    let need_out = check_adj(K, "d_out", d_out.len(), out.len(), shape)?;
    check_adj(K, "d_x", d_x.len(), x.len(), "[batch, in_f]")?;
    check_adj(K, "d_w", d_w.len(), w.len(), "[out_f, in_f]")?;
    check_adj(K, "d_b", d_b.len(), b.len(), "[out_f]")?;
    let need_res = check_adj(K, "d_res", d_res.len(), res.len(), shape)?;
    if !need_out || out_f == 0 || batch == 0 {
        return Ok(());
    }
    if need_res {
        let rows = bias_rows_chunk(batch, out_f);
        par::for_each_chunk(
            (par::Mut(d_res, rows), par::Ref(d_out, rows)),
            |_, (dr, dy)| accumulate(dr.0, dy.0),
        );
    }
    dense_pullback(x, w, batch, in_f, out_f, d_out, d_x, d_w, d_b);
    Ok(())
}
