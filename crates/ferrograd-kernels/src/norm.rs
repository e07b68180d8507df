//! Layer normalisation over the last axis with an affine transform.

use crate::error::{check_adj, check_len, check_positive, size, KernelError};

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

/// Mean and `1/sqrt(var + eps)` (biased variance) of a row, accumulated in f64.
fn stats(row: &[f32], eps: f32) -> (f32, f32) {
    let n = row.len() as f64;
    let mean = row.iter().map(|&v| f64::from(v)).sum::<f64>() / n;
    let var = row
        .iter()
        .map(|&v| (f64::from(v) - mean).powi(2))
        .sum::<f64>()
        / n;
    (mean as f32, (1.0 / (var + f64::from(eps)).sqrt()) as f32)
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
    for (orow, xrow) in out.chunks_exact_mut(cols).zip(x.chunks_exact(cols)) {
        let (mean, rstd) = stats(xrow, eps);
        for (((o, &v), &g), &b) in orow.iter_mut().zip(xrow).zip(gamma).zip(beta) {
            *o = (v - mean) * rstd * g + b;
        }
    }
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
    let inv_n = 1.0 / cols as f32;
    for (r, (dyrow, xrow)) in d_out
        .chunks_exact(cols)
        .zip(x.chunks_exact(cols))
        .enumerate()
    {
        let (mean, rstd) = stats(xrow, eps);
        if need_gamma || need_beta {
            for (c, (&dy, &v)) in dyrow.iter().zip(xrow).enumerate() {
                if need_gamma {
                    d_gamma[c] += dy * (v - mean) * rstd;
                }
                if need_beta {
                    d_beta[c] += dy;
                }
            }
        }
        if !need_x {
            continue;
        }
        let mut mean_g = 0.0f32;
        let mut mean_gx = 0.0f32;
        for ((&dy, &v), &gm) in dyrow.iter().zip(xrow).zip(gamma) {
            let g = dy * gm;
            mean_g += g;
            mean_gx += g * (v - mean) * rstd;
        }
        mean_g *= inv_n;
        mean_gx *= inv_n;
        let dxrow = &mut d_x[r * cols..(r + 1) * cols];
        for (((dx, &dy), &v), &gm) in dxrow.iter_mut().zip(dyrow).zip(xrow).zip(gamma) {
            let xhat = (v - mean) * rstd;
            *dx += rstd * (dy * gm - mean_g - xhat * mean_gx);
        }
    }
    d_out.fill(0.0);
    Ok(())
}
