//! Layer normalisation over the last axis with an affine transform.

use crate::combine::accumulate;
use crate::error::{check_adj, check_len, check_positive, size, KernelError};
use crate::lanes;
use crate::par;

fn check(
    kernel: &'static str,
    out: usize,
    x: usize,
    gamma: usize,
    beta: usize,
    rows: usize,
    cols: usize,
    eps: f32,
) -> Result<(), KernelError> {
    check_positive(kernel, "cols", cols)?;
    if !(eps.is_finite() && eps > 0.0) {
        return Err(KernelError::param(kernel, "eps", eps, "finite and > 0"));
    }
    let n = size(kernel, &[rows, cols])?;
    check_len(kernel, "out", out, n, "[rows, cols]")?;
    check_len(kernel, "x", x, n, "[rows, cols]")?;
    check_len(kernel, "gamma", gamma, cols, "[cols]")?;
    check_len(kernel, "beta", beta, cols, "[cols]")
}

/// Lanes of the f64 row statistics (one AVX-512 register): independent partial sums that
/// vectorise, where a plain `iter().sum()` is one serial chain of dependent additions
/// (~4 cycles each) and made layer norm ~3× slower (see [`crate::lanes`]).
const LANES: usize = 8;

/// Stack room, in floats, for the pullback's per-thread partial sums of `d_gamma` and `d_beta`
/// (16 KiB: two threads up to 1024 columns, eight up to 256).
const PARTIAL_FLOATS: usize = 4096;

/// Mean and `1/sqrt(var + eps)` (biased variance) of a row, accumulated in f64 lanes.
#[inline(always)]
fn stats(row: &[f32], eps: f32) -> (f32, f32) {
    let n = row.len() as f64;
    let (chunks, rest) = row.as_chunks::<LANES>();
    let mut acc = [0.0f64; LANES];
    for c in chunks {
        for (a, &v) in acc.iter_mut().zip(c) {
            *a += f64::from(v);
        }
    }
    let mean = (acc.iter().sum::<f64>() + rest.iter().map(|&v| f64::from(v)).sum::<f64>()) / n;
    let mut acc = [0.0f64; LANES];
    for c in chunks {
        for (a, &v) in acc.iter_mut().zip(c) {
            *a += (f64::from(v) - mean).powi(2);
        }
    }
    let rest_sq = rest
        .iter()
        .map(|&v| (f64::from(v) - mean).powi(2))
        .sum::<f64>();
    let var = (acc.iter().sum::<f64>() + rest_sq) / n;
    (mean as f32, (1.0 / (var + f64::from(eps)).sqrt()) as f32)
}

/// Normalises whole rows; cloned for AVX-512 / AVX2 and picked at run time.
#[multiversion::multiversion(targets = "simd")]
fn forward_rows(out: &mut [f32], x: &[f32], gamma: &[f32], beta: &[f32], cols: usize, eps: f32) {
    for (orow, xrow) in out.chunks_exact_mut(cols).zip(x.chunks_exact(cols)) {
        let (mean, rstd) = stats(xrow, eps);
        for (((o, &v), &g), &b) in orow.iter_mut().zip(xrow).zip(gamma).zip(beta) {
            *o = (v - mean) * rstd * g + b;
        }
    }
}

/// The pullback over whole rows (see [`layer_norm_pullback`]); an empty `d_x`, `d_gamma` or
/// `d_beta` is skipped. Runtime-dispatched like [`forward_rows`].
#[multiversion::multiversion(targets = "simd")]
#[allow(clippy::too_many_arguments)]
fn pullback_rows(
    x: &[f32],
    gamma: &[f32],
    cols: usize,
    eps: f32,
    d_out: &[f32],
    d_x: &mut [f32],
    d_gamma: &mut [f32],
    d_beta: &mut [f32],
) {
    let inv_n = 1.0 / cols as f32;
    for (r, (dyrow, xrow)) in d_out
        .chunks_exact(cols)
        .zip(x.chunks_exact(cols))
        .enumerate()
    {
        let (mean, rstd) = stats(xrow, eps);
        if !d_gamma.is_empty() {
            for ((dg, &dy), &v) in d_gamma.iter_mut().zip(dyrow).zip(xrow) {
                *dg += dy * (v - mean) * rstd;
            }
        }
        if !d_beta.is_empty() {
            for (db, &dy) in d_beta.iter_mut().zip(dyrow) {
                *db += dy;
            }
        }
        if d_x.is_empty() {
            continue;
        }
        // mean(g) and mean(g ⊙ x̂) with g = d_out ⊙ gamma.
        let mean_g = lanes::dot(dyrow, gamma) * inv_n;
        let mean_gx = lanes::dot_centered(dyrow, gamma, xrow, mean) * rstd * inv_n;
        let dxrow = &mut d_x[r * cols..(r + 1) * cols];
        for (((dx, &dy), &v), &gm) in dxrow.iter_mut().zip(dyrow).zip(xrow).zip(gamma) {
            let xhat = (v - mean) * rstd;
            *dx += rstd * (dy * gm - mean_g - xhat * mean_gx);
        }
    }
}

/// `out[r, c] = (x[r,c] − μ_r)·rstd_r·gamma[c] + beta[c]`, `rstd_r = 1/√(var_r + eps)` with
/// the biased variance (PyTorch `LayerNorm`). `out, x: [rows, cols]`, `gamma, beta: [cols]`.
/// The pullback recomputes μ and rstd (one pass over a row), so no statistics buffer is needed.
pub fn layer_norm(
    out: &mut [f32],
    x: &[f32],
    gamma: &[f32],
    beta: &[f32],
    rows: usize,
    cols: usize,
    eps: f32,
) -> Result<(), KernelError> {
    check(
        "layer_norm",
        out.len(),
        x.len(),
        gamma.len(),
        beta.len(),
        rows,
        cols,
        eps,
    )?;
    // Rows are independent: split them across the kernel threads (~8 element-ops each).
    let rows_per_piece = par::units_per_piece(rows, cols * 8);
    let c = rows_per_piece * cols;
    par::for_each_chunk((par::Mut(out, c), par::Ref(x, c)), |_, (o, x)| {
        forward_rows(o.0, x.0, gamma, beta, cols, eps)
    });
    Ok(())
}

/// Pullback of [`layer_norm`], with `x̂ = (x − μ)·rstd` and `g = d_out ⊙ gamma`:
/// `d_gamma += Σ_r d_out ⊙ x̂`, `d_beta += Σ_r d_out`,
/// `d_x += rstd·(g − mean(g) − x̂·mean(g ⊙ x̂))`; zeroes `d_out`. An empty `d_x`, `d_gamma`
/// or `d_beta` is not computed; an empty `d_out` means a zero seed.
pub fn layer_norm_pullback(
    out: &mut [f32],
    x: &[f32],
    gamma: &[f32],
    beta: &[f32],
    rows: usize,
    cols: usize,
    eps: f32,
    d_out: &mut [f32],
    d_x: &mut [f32],
    d_gamma: &mut [f32],
    d_beta: &mut [f32],
) -> Result<(), KernelError> {
    const K: &str = "layer_norm_pullback";
    check(
        K,
        out.len(),
        x.len(),
        gamma.len(),
        beta.len(),
        rows,
        cols,
        eps,
    )?;
    let need_out = check_adj(K, "d_out", d_out.len(), x.len(), "[rows, cols]")?;
    let need_x = check_adj(K, "d_x", d_x.len(), x.len(), "[rows, cols]")?;
    let need_gamma = check_adj(K, "d_gamma", d_gamma.len(), cols, "[cols]")?;
    let need_beta = check_adj(K, "d_beta", d_beta.len(), cols, "[cols]")?;
    if !need_out {
        return Ok(());
    }
    let d_gamma = if need_gamma { d_gamma } else { &mut [] };
    let d_beta = if need_beta { d_beta } else { &mut [] };
    let d_x = if need_x { d_x } else { &mut [] };
    // Rows are split across the threads; each piece sums its rows' `d_gamma` and `d_beta`
    // into its own partial on the stack, added in piece order afterwards (deterministic for a
    // given thread count). Without room for the partials the pullback runs on one thread.
    let sums = usize::from(need_gamma || need_beta) * 2 * cols;
    let pieces = par::pieces(rows, cols * 16).min(PARTIAL_FLOATS / sums.max(1));
    if pieces <= 1 {
        pullback_rows(x, gamma, cols, eps, d_out, d_x, d_gamma, d_beta);
        d_out.fill(0.0);
    } else {
        let c = rows.div_ceil(pieces) * cols;
        let mut partial = [0.0f32; PARTIAL_FLOATS];
        let partial = &mut partial[..pieces * sums];
        par::for_each_chunk(
            (
                par::Mut(&mut *d_out, c),
                par::Ref(x, c),
                par::Mut(&mut *d_x, c),
                par::Mut(&mut *partial, sums),
            ),
            |_, (dy, x, dx, part)| {
                let (pg, pb) = part.0.split_at_mut(part.0.len() / 2);
                let pg = if need_gamma { pg } else { &mut [] };
                let pb = if need_beta { pb } else { &mut [] };
                pullback_rows(x.0, gamma, cols, eps, dy.0, dx.0, pg, pb);
                dy.0.fill(0.0);
            },
        );
        for part in partial.chunks_exact(sums.max(1)) {
            let (pg, pb) = part.split_at(cols);
            if need_gamma {
                accumulate(d_gamma, pg);
            }
            if need_beta {
                accumulate(d_beta, pb);
            }
        }
    }
    Ok(())
}
