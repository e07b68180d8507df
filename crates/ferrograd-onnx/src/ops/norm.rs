//! Softmax / LogSoftmax along one axis, BatchNormalization (inference) and
//! LayerNormalization. Statistics are accumulated in f64.

use super::{f32_input, norm_axis};
use crate::tensor::{Data, Tensor};

/// `(outer, len, inner)` of `shape` split around `axis`.
fn split(shape: &[usize], axis: usize) -> (usize, usize, usize) {
    (
        shape[..axis].iter().product(),
        shape[axis],
        shape[axis + 1..].iter().product(),
    )
}

pub(crate) fn softmax(ins: &[Option<&Tensor>], axis: i64, log: bool) -> Result<Tensor, String> {
    let (t, x) = f32_input(ins, 0)?;
    let ax = norm_axis(axis, t.shape().len())?;
    let (outer, len, inner) = split(t.shape(), ax);
    let mut y = vec![0.0; x.len()];
    for o in 0..outer {
        for i in 0..inner {
            let at = |j: usize| (o * len + j) * inner + i;
            let max = (0..len).map(|j| x[at(j)]).fold(f32::NEG_INFINITY, f32::max);
            let sum: f64 = (0..len).map(|j| f64::from(x[at(j)] - max).exp()).sum();
            for j in 0..len {
                let z = f64::from(x[at(j)] - max);
                y[at(j)] = if log {
                    (z - sum.ln()) as f32
                } else {
                    (z.exp() / sum) as f32
                };
            }
        }
    }
    Ok(Tensor::from_parts(t.shape().to_vec(), Data::F32(y)))
}

/// Softmax: `dx = y ⊙ (dy − Σ dy·y)`; LogSoftmax: `dx = dy − softmax(x)·Σ dy`.
pub(crate) fn softmax_pullback(
    y: &Tensor,
    axis: i64,
    log: bool,
    d_y: &[f32],
    d_ins: &mut [Vec<f32>],
) -> Result<(), String> {
    let yv = y.as_f32().ok_or("output is not float32")?;
    let ax = norm_axis(axis, y.shape().len())?;
    let (outer, len, inner) = split(y.shape(), ax);
    let dx = &mut d_ins[0];
    if dx.is_empty() {
        return Ok(());
    }
    for o in 0..outer {
        for i in 0..inner {
            let at = |j: usize| (o * len + j) * inner + i;
            if log {
                let s: f32 = (0..len).map(|j| d_y[at(j)]).sum();
                for j in 0..len {
                    dx[at(j)] += d_y[at(j)] - yv[at(j)].exp() * s;
                }
            } else {
                let s: f32 = (0..len).map(|j| d_y[at(j)] * yv[at(j)]).sum();
                for j in 0..len {
                    dx[at(j)] += yv[at(j)] * (d_y[at(j)] - s);
                }
            }
        }
    }
    Ok(())
}

/// Inputs X `[N, C, …]`, scale, B, mean, var (each `[C]`); `(n·c planes, plane size)`.
fn bn_dims(ins: &[Option<&Tensor>]) -> Result<(usize, usize, usize), String> {
    let (x, _) = f32_input(ins, 0)?;
    let (n, c) = match x.shape() {
        [n, c, ..] => (*n, *c),
        s => return Err(format!("input must be [N, C, …], got {s:?}")),
    };
    for (i, name) in [(1, "scale"), (2, "B"), (3, "input_mean"), (4, "input_var")] {
        let (t, _) = f32_input(ins, i)?;
        if t.shape() != [c] {
            return Err(format!("{name} {:?} must be [{c}]", t.shape()));
        }
    }
    Ok((n, c, x.shape()[2..].iter().product()))
}

/// `y = (x − mean)/√(var + ε)·scale + B`, per channel.
pub(crate) fn batch_norm(ins: &[Option<&Tensor>], eps: f32) -> Result<Tensor, String> {
    let (n, c, size) = bn_dims(ins)?;
    let (t, x) = f32_input(ins, 0)?;
    let [s, b, m, v] = [1, 2, 3, 4].map(|i| f32_input(ins, i).map(|p| p.1).unwrap_or(&[]));
    let mut y = vec![0.0; x.len()];
    for p in 0..n * c {
        let ch = p % c;
        let rstd = 1.0 / (v[ch] + eps).sqrt();
        for k in p * size..(p + 1) * size {
            y[k] = (x[k] - m[ch]) * rstd * s[ch] + b[ch];
        }
    }
    Ok(Tensor::from_parts(t.shape().to_vec(), Data::F32(y)))
}

/// With `r = (var + ε)^(−1/2)`: `dx = dy·s·r`, `ds = Σ dy·(x − mean)·r`, `dB = Σ dy`,
/// `dmean = −Σ dy·s·r`, `dvar = Σ dy·s·(x − mean)·(−r³/2)`.
pub(crate) fn batch_norm_pullback(
    ins: &[Option<&Tensor>],
    eps: f32,
    d_y: &[f32],
    d_ins: &mut [Vec<f32>],
) -> Result<(), String> {
    let (n, c, size) = bn_dims(ins)?;
    let (_, x) = f32_input(ins, 0)?;
    let [s, _, m, v] = [1, 2, 3, 4].map(|i| f32_input(ins, i).map(|p| p.1).unwrap_or(&[]));
    let mut acc = vec![[0f64; 4]; c]; // Σ dy·xc, Σ dy, per channel (and spare)
    for p in 0..n * c {
        let ch = p % c;
        let rstd = 1.0 / (v[ch] + eps).sqrt();
        for k in p * size..(p + 1) * size {
            if !d_ins[0].is_empty() {
                d_ins[0][k] += d_y[k] * s[ch] * rstd;
            }
            acc[ch][0] += f64::from(d_y[k]) * f64::from(x[k] - m[ch]);
            acc[ch][1] += f64::from(d_y[k]);
        }
    }
    for ch in 0..c {
        let r = 1.0 / (f64::from(v[ch]) + f64::from(eps)).sqrt();
        let (sum_dy_xc, sum_dy) = (acc[ch][0], acc[ch][1]);
        let s = f64::from(s[ch]);
        let grads = [
            (1, sum_dy_xc * r),
            (2, sum_dy),
            (3, -sum_dy * s * r),
            (4, -0.5 * sum_dy_xc * s * r * r * r),
        ];
        for (i, g) in grads {
            if let Some(d) = d_ins.get_mut(i).filter(|d| !d.is_empty()) {
                d[ch] += g as f32;
            }
        }
    }
    Ok(())
}

/// `(rows, row length)` of LayerNormalization over dimensions `axis..`.
fn ln_dims(ins: &[Option<&Tensor>], axis: i64) -> Result<(usize, usize), String> {
    let (x, _) = f32_input(ins, 0)?;
    let ax = norm_axis(axis, x.shape().len())?;
    let norm = &x.shape()[ax..];
    let d: usize = norm.iter().product();
    for i in 1..3 {
        if let Some(Some(p)) = ins.get(i) {
            let ok = p.len() == d
                && p.shape()
                    .iter()
                    .rev()
                    .zip(norm.iter().rev())
                    .all(|(a, b)| a == b);
            if !ok {
                return Err(format!(
                    "{} {:?} does not match the normalized shape {norm:?}",
                    if i == 1 { "Scale" } else { "B" },
                    p.shape()
                ));
            }
        }
    }
    Ok((x.len() / d.max(1), d))
}

/// Mean and 1/√(var + ε) of one row (f64 accumulation).
fn row_stats(row: &[f32], eps: f32) -> (f64, f64) {
    let n = row.len() as f64;
    let mean = row.iter().map(|&v| f64::from(v)).sum::<f64>() / n;
    let var = row
        .iter()
        .map(|&v| (f64::from(v) - mean).powi(2))
        .sum::<f64>()
        / n;
    (mean, 1.0 / (var + f64::from(eps)).sqrt())
}

/// `y = (x − mean)·r·scale + B` over each row of the normalized dimensions.
pub(crate) fn layer_norm(ins: &[Option<&Tensor>], axis: i64, eps: f32) -> Result<Tensor, String> {
    let (rows, d) = ln_dims(ins, axis)?;
    let (t, x) = f32_input(ins, 0)?;
    let (_, s) = f32_input(ins, 1)?;
    let b = match ins.get(2) {
        Some(Some(_)) => Some(f32_input(ins, 2)?.1),
        _ => None,
    };
    let mut y = vec![0.0; x.len()];
    for r in 0..rows {
        let row = &x[r * d..(r + 1) * d];
        let (mean, rstd) = row_stats(row, eps);
        for j in 0..d {
            let xhat = ((f64::from(row[j]) - mean) * rstd) as f32;
            y[r * d + j] = xhat * s[j] + b.map_or(0.0, |b| b[j]);
        }
    }
    Ok(Tensor::from_parts(t.shape().to_vec(), Data::F32(y)))
}

/// With `x̂ = (x − mean)·r`, `g = dy·scale`:
/// `dx = r·(g − mean(g) − x̂·mean(g·x̂))`, `dscale += Σ dy·x̂`, `dB += Σ dy` (over rows).
pub(crate) fn layer_norm_pullback(
    ins: &[Option<&Tensor>],
    axis: i64,
    eps: f32,
    d_y: &[f32],
    d_ins: &mut [Vec<f32>],
) -> Result<(), String> {
    let (rows, d) = ln_dims(ins, axis)?;
    let (_, x) = f32_input(ins, 0)?;
    let (_, s) = f32_input(ins, 1)?;
    let mut xhat = vec![0f64; d];
    for r in 0..rows {
        let row = &x[r * d..(r + 1) * d];
        let dy = &d_y[r * d..(r + 1) * d];
        let (mean, rstd) = row_stats(row, eps);
        let (mut mg, mut mgx) = (0f64, 0f64);
        for j in 0..d {
            xhat[j] = (f64::from(row[j]) - mean) * rstd;
            let g = f64::from(dy[j]) * f64::from(s[j]);
            mg += g;
            mgx += g * xhat[j];
        }
        mg /= d as f64;
        mgx /= d as f64;
        if !d_ins[0].is_empty() {
            for j in 0..d {
                let g = f64::from(dy[j]) * f64::from(s[j]);
                d_ins[0][r * d + j] += (rstd * (g - mg - xhat[j] * mgx)) as f32;
            }
        }
        if !d_ins[1].is_empty() {
            for j in 0..d {
                d_ins[1][j] += (f64::from(dy[j]) * xhat[j]) as f32;
            }
        }
        if let Some(db) = d_ins.get_mut(2).filter(|v| !v.is_empty()) {
            for j in 0..d {
                db[j] += dy[j];
            }
        }
    }
    Ok(())
}
