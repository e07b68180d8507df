//! Fully connected layer `out = x·wᵀ + b` with PyTorch's weight layout `w: [out_f, in_f]`.

use crate::combine::accumulate;
use crate::conv::with_scratch;
use crate::error::{check_adj, check_len, size, KernelError};
use crate::gemm::{gemm_seq, gemm_view};
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
    check_adj(K, "d_b", d_b.len(), b.len(), "[out_f]")?;
    if !need_out || out_f == 0 {
        return Ok(());
    }
    dense_pullback(x, w, batch, in_f, out_f, d_out, d_x, d_w, d_b);
    Ok(())
}

thread_local! {
    /// The calling thread's per-piece partial sums `[d_w | d_b]` of [`dense_pullback`].
    static PARTIALS: std::cell::Cell<Vec<f32>> = const { std::cell::Cell::new(Vec::new()) };
}

/// How many pieces of the batch [`dense_pullback`] sums the weight gradient over; 1 when it
/// cuts the weight gradient's rows across the threads instead.
///
/// Cut by its rows, every thread reads a band of columns of *every* row of `dy` and `x`, rows
/// that another thread wrote and will write again: on the 2-vCPU hosts these lines then
/// cross between cores, and zeroing a seed whose lines the other core had read took 10× as
/// long as zeroing one that only its writer had read (56 against 5.7 µs for 1 MiB, measured).
/// Cut by batch rows, each thread reads only its own rows, and the partials it writes are
/// added up at the end. That costs a pass over the partials, so the batch is cut only when
/// the rows it saves from crossing (`batch·(in_f + out_f)` floats) outweigh twice the weight
/// gradient (`out_f·in_f`): GPT-sized layers (W4: 512 tokens of 128–512 features), not
/// MNIST-sized ones (W1: 64–256 rows of 784 inputs).
///
/// The count depends on the shape only, never on the thread count, so that the adjoints have
/// the same bits on any number of threads: a piece per [`PIECE_ROWS`] rows, at most
/// [`MAX_PIECES`] (more partials would cost more to add up than they save).
fn batch_pieces(batch: usize, in_f: usize, out_f: usize) -> usize {
    let weights = in_f.saturating_mul(out_f);
    let rows = batch.saturating_mul(in_f.saturating_add(out_f));
    if rows <= weights.saturating_mul(2) {
        return 1;
    }
    (batch / PIECE_ROWS).clamp(1, MAX_PIECES)
}

/// Batch rows per piece of [`batch_pieces`], at least: long enough an inner dimension for
/// the weight gradient's product to run near the peak.
const PIECE_ROWS: usize = 256;
/// Pieces of [`batch_pieces`], at most.
const MAX_PIECES: usize = 4;
/// Floats of `d_w` that [`dense_pullback`] adds the parts into at a time (4 KiB: with
/// [`MAX_PIECES`] parts, 20 KiB of L1).
const SUM_BLOCK: usize = 1024;

/// The pullback that every dense layer ends with once its seed `dy: [batch, out_f]` is
/// formed: `d_x += dy·w`, `d_w += dyᵀ·x`, `d_b += Σ_rows dy`, then `dy = 0` (consumed). An
/// empty `d_x`, `d_w` or `d_b` is not computed.
///
/// The weight and bias gradients are cut across threads by batch rows when
/// [`batch_pieces`] says so: each piece writes its rows' partial `[d_w | d_b]` (scratch of
/// the calling thread) and zeroes its rows of `dy`, then the partials are added in piece
/// order: the same bits on any number of threads.
#[allow(clippy::too_many_arguments)]
pub(crate) fn dense_pullback(
    x: &[f32],
    w: &[f32],
    batch: usize,
    in_f: usize,
    out_f: usize,
    dy: &mut [f32],
    d_x: &mut [f32],
    d_w: &mut [f32],
    d_b: &mut [f32],
) {
    let pieces = batch_pieces(batch, in_f, out_f);
    if d_w.is_empty() || pieces <= 1 || out_f == 0 || in_f == 0 {
        products_pullback(x, w, batch, in_f, out_f, dy, d_x, d_w);
        if !d_b.is_empty() {
            bias_grad(d_b, dy, batch, out_f);
        }
        zero_rows(dy, batch, out_f);
        return;
    }
    // d_x's rows are dy's rows: cut as the pieces below cut them.
    products_pullback(x, w, batch, in_f, out_f, dy, d_x, &mut []);
    let rows = batch.div_ceil(pieces);
    let n_pieces = batch.div_ceil(rows);
    let w_len = out_f * in_f;
    let part_len = w_len + out_f;
    let need_b = !d_b.is_empty();
    // The pieces in groups of consecutive ones, a group per kernel thread.
    let group = n_pieces.div_ceil(par::num_threads().clamp(1, n_pieces));
    with_scratch(&PARTIALS, n_pieces * part_len, |parts| {
        let chunks = (
            par::Mut(&mut *dy, group * rows * out_f),
            par::Ref(x, group * rows * in_f),
            par::Mut(&mut *parts, group * part_len),
        );
        par::for_each_chunk(chunks, |_, (dyg, xg, partg)| {
            let pieces = dyg
                .0
                .chunks_mut(rows * out_f)
                .zip(xg.0.chunks(rows * in_f))
                .zip(partg.0.chunks_exact_mut(part_len));
            for ((dyp, xp), part) in pieces {
                let (pw, pb) = part.split_at_mut(w_len);
                let r = dyp.len() / out_f;
                gemm_seq(
                    MatMut::from_row_major_slice_mut(pw, out_f, in_f),
                    MatRef::from_row_major_slice(dyp, r, out_f).transpose(),
                    MatRef::from_row_major_slice(xp, r, in_f),
                    false,
                );
                if need_b {
                    pb.fill(0.0);
                    for row in dyp.chunks_exact(out_f) {
                        accumulate(pb, row);
                    }
                }
                dyp.fill(0.0);
            }
        });
        let parts = &*parts;
        let c = par::chunk_len(w_len, n_pieces);
        par::for_each_chunk(par::Mut(d_w, c), |i, dw| {
            let at = i * c;
            // Block by block, so that a block of `d_w` stays in L1 across the parts: `d_w`
            // is read and written once instead of once per part (the same sums in the same
            // order, so the same bits).
            for (k, block) in dw.0.chunks_mut(SUM_BLOCK).enumerate() {
                let from = at + k * SUM_BLOCK;
                for part in parts.chunks_exact(part_len) {
                    accumulate(block, &part[from..from + block.len()]);
                }
            }
        });
        if need_b {
            for part in parts.chunks_exact(part_len) {
                accumulate(d_b, &part[w_len..]);
            }
        }
    });
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
