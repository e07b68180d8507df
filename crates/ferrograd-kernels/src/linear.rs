//! Fully connected layer `out = x·wᵀ + b` with PyTorch's weight layout `w: [out_f, in_f]`.

use crate::combine::accumulate;
use crate::error::{check_adj, check_len, size, KernelError};
use crate::gemm::gemm_view;
use crate::par;
use faer::{MatMut, MatRef};

/// Element-ops per element charged to the bias copy, the bias gradient's sum and the seed's
/// zeroing when deciding to split them (memory-bound, but long: a row per batch element).
const BIAS_COST: usize = 4;

/// Chunk length, in elements of `[batch, out_f]`, of the bias rows' split across threads.
pub(crate) fn bias_rows_chunk(batch: usize, out_f: usize) -> usize {
    par::units_per_piece(batch, out_f * BIAS_COST) * out_f
}

pub(crate) fn check(
    kernel: &'static str,
    out: usize,
    x: usize,
    w: usize,
    b: usize,
    batch: usize,
    in_f: usize,
    out_f: usize,
) -> Result<(), KernelError> {
    check_len(
        kernel,
        "out",
        out,
        size(kernel, &[batch, out_f])?,
        "[batch, out_f]",
    )?;
    check_len(
        kernel,
        "x",
        x,
        size(kernel, &[batch, in_f])?,
        "[batch, in_f]",
    )?;
    check_len(
        kernel,
        "w",
        w,
        size(kernel, &[out_f, in_f])?,
        "[out_f, in_f]",
    )?;
    check_len(kernel, "b", b, out_f, "[out_f]")
}

/// `out[batch, out_f] = x[batch, in_f] · w[out_f, in_f]ᵀ + b[out_f]`.
pub fn linear(
    out: &mut [f32],
    x: &[f32],
    w: &[f32],
    b: &[f32],
    batch: usize,
    in_f: usize,
    out_f: usize,
) -> Result<(), KernelError> {
    check(
        "linear",
        out.len(),
        x.len(),
        w.len(),
        b.len(),
        batch,
        in_f,
        out_f,
    )?;
    if out_f == 0 {
        return Ok(());
    }
    // The bias rows, split across the threads: as one serial copy this was ~5% of a GPT step.
    par::for_each_chunk(par::Mut(out, bias_rows_chunk(batch, out_f)), |_, o| {
        for row in o.0.chunks_exact_mut(out_f) {
            row.copy_from_slice(b);
        }
    });
    gemm_view(
        MatMut::from_row_major_slice_mut(out, batch, out_f),
        MatRef::from_row_major_slice(x, batch, in_f),
        MatRef::from_row_major_slice(w, out_f, in_f).transpose(),
        true,
    );
    Ok(())
}

/// Pullback of [`linear`]:
/// `d_x += d_out·w` (batch,in_f), `d_w += d_outᵀ·x` (out_f,in_f), `d_b += Σ_rows d_out`;
/// zeroes `d_out`. An empty `d_x`, `d_w` or `d_b` is not computed (e.g. `d_x` for the input
/// layer, which saves a GEMM); an empty `d_out` means a zero seed.
pub fn linear_pullback(
    out: &mut [f32],
    x: &[f32],
    w: &[f32],
    b: &[f32],
    batch: usize,
    in_f: usize,
    out_f: usize,
    d_out: &mut [f32],
    d_x: &mut [f32],
    d_w: &mut [f32],
    d_b: &mut [f32],
) -> Result<(), KernelError> {
    const K: &str = "linear_pullback";
    check(K, out.len(), x.len(), w.len(), b.len(), batch, in_f, out_f)?;
    let need_out = check_adj(K, "d_out", d_out.len(), out.len(), "[batch, out_f]")?;
    check_adj(K, "d_x", d_x.len(), x.len(), "[batch, in_f]")?;
    check_adj(K, "d_w", d_w.len(), w.len(), "[out_f, in_f]")?;
    let need_b = check_adj(K, "d_b", d_b.len(), b.len(), "[out_f]")?;
    if !need_out || out_f == 0 {
        return Ok(());
    }
    products_pullback(x, w, batch, in_f, out_f, d_out, d_x, d_w);
    if need_b {
        bias_grad(d_b, d_out, batch, out_f);
    }
    zero_rows(d_out, batch, out_f);
    Ok(())
}

/// The products of [`linear_pullback`] on checked slices: `d_x += dy·w` and `d_w += dyᵀ·x`,
/// each skipped when its adjoint is empty.
#[allow(clippy::too_many_arguments)]
pub(crate) fn products_pullback(
    x: &[f32],
    w: &[f32],
    batch: usize,
    in_f: usize,
    out_f: usize,
    dy: &[f32],
    d_x: &mut [f32],
    d_w: &mut [f32],
) {
    let dy = MatRef::from_row_major_slice(dy, batch, out_f);
    if !d_x.is_empty() {
        // dX (batch,in_f) = dY (batch,out_f) · W (out_f,in_f)
        gemm_view(
            MatMut::from_row_major_slice_mut(d_x, batch, in_f),
            dy,
            MatRef::from_row_major_slice(w, out_f, in_f),
            true,
        );
    }
    if !d_w.is_empty() {
        // dW (out_f,in_f) = dYᵀ · X (batch,in_f)
        gemm_view(
            MatMut::from_row_major_slice_mut(d_w, out_f, in_f),
            dy.transpose(),
            MatRef::from_row_major_slice(x, batch, in_f),
            true,
        );
    }
}

/// `d_b += Σ_rows dy`, each thread summing a band of columns over all rows (in row order, so
/// the result does not depend on the thread count).
pub(crate) fn bias_grad(d_b: &mut [f32], dy: &[f32], batch: usize, out_f: usize) {
    let cb = par::chunk_len(out_f, batch * BIAS_COST);
    par::for_each_chunk(par::Mut(d_b, cb), |i, db| {
        let c0 = i * cb;
        for row in dy.chunks_exact(out_f) {
            accumulate(db.0, &row[c0..c0 + db.0.len()]);
        }
    });
}

/// Zeroes `dy: [batch, out_f]`, the rows split across the threads.
pub(crate) fn zero_rows(dy: &mut [f32], batch: usize, out_f: usize) {
    par::for_each_chunk(par::Mut(dy, bias_rows_chunk(batch, out_f)), |_, dy| {
        dy.0.fill(0.0)
    });
}
