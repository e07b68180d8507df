//! Ops that move elements without arithmetic (Flatten, Reshape, Squeeze, Unsqueeze,
//! Transpose, Concat, Gather, Shape) and the reductions. They work on f32 and i64 tensors (the
//! shape arithmetic of exported graphs); only f32 ones carry adjoints.

use super::{f32_input, i64_input, input, norm_axis};
use crate::tensor::{numel, Data, Tensor};

/// `out[i] = data[idx[i]]`, for either element type.
fn take(data: &Data, idx: &[usize]) -> Data {
    match data {
        Data::F32(v) => Data::F32(idx.iter().map(|&i| v[i]).collect()),
        Data::I64(v) => Data::I64(idx.iter().map(|&i| v[i]).collect()),
    }
}

/// `d[idx[i]] += g[i]`: the pullback of [`take`].
fn scatter_add(d: &mut [f32], idx: &[usize], g: &[f32]) {
    if !d.is_empty() {
        for (&i, &g) in idx.iter().zip(g) {
            d[i] += g;
        }
    }
}

fn strides(shape: &[usize]) -> Vec<usize> {
    let mut s = vec![1; shape.len()];
    for i in (0..shape.len().saturating_sub(1)).rev() {
        s[i] = s[i + 1] * shape[i + 1];
    }
    s
}

pub(crate) fn flatten(ins: &[Option<&Tensor>], axis: i64) -> Result<Tensor, String> {
    let x = input(ins, 0)?;
    let r = x.shape().len();
    // Flatten's axis may equal the rank.
    let ax = if axis == r as i64 || axis == 0 && r == 0 {
        r
    } else {
        norm_axis(axis, r)?
    };
    let outer = x.shape()[..ax].iter().product();
    let inner = x.shape()[ax..].iter().product();
    Ok(x.reshaped(vec![outer, inner]))
}

pub(crate) fn reshape(ins: &[Option<&Tensor>], allowzero: bool) -> Result<Tensor, String> {
    let x = input(ins, 0)?;
    let spec = i64_input(ins, 1)?;
    let mut shape = Vec::with_capacity(spec.len());
    let mut infer = None;
    for (i, &d) in spec.iter().enumerate() {
        shape.push(match d {
            -1 if infer.is_none() => {
                infer = Some(i);
                1
            }
            0 if !allowzero => *x.shape().get(i).ok_or_else(|| {
                format!(
                    "shape {spec:?}: 0 at {i} copies a dimension the input {:?} lacks",
                    x.shape()
                )
            })?,
            d if d >= 0 => d as usize,
            _ => return Err(format!("shape {spec:?} is invalid")),
        });
    }
    let known = numel(&shape).ok_or("shape overflows")?;
    if let Some(i) = infer {
        if known == 0 || x.len() % known != 0 {
            return Err(format!("cannot reshape {:?} into {spec:?}", x.shape()));
        }
        shape[i] = x.len() / known;
    }
    if numel(&shape) != Some(x.len()) {
        return Err(format!("cannot reshape {:?} into {spec:?}", x.shape()));
    }
    Ok(x.reshaped(shape))
}

/// The permutation (default: reversed axes), checked.
fn perm_of(perm: Option<&[i64]>, rank: usize) -> Result<Vec<usize>, String> {
    let p: Vec<usize> = match perm {
        None => (0..rank).rev().collect(),
        Some(p) => p
            .iter()
            .map(|&a| norm_axis(a, rank))
            .collect::<Result<_, _>>()?,
    };
    let mut seen = vec![false; rank];
    if p.len() != rank || p.iter().any(|&a| std::mem::replace(&mut seen[a], true)) {
        return Err(format!("perm {perm:?} is not a permutation of {rank} axes"));
    }
    Ok(p)
}

/// Output shape and, per output element, its source element.
fn transpose_index(shape: &[usize], perm: &[usize]) -> (Vec<usize>, Vec<usize>) {
    let st = strides(shape);
    let out: Vec<usize> = perm.iter().map(|&a| shape[a]).collect();
    let ost: Vec<usize> = perm.iter().map(|&a| st[a]).collect();
    let n: usize = out.iter().product();
    let mut idx = Vec::with_capacity(n);
    let mut counter = vec![0usize; out.len()];
    let mut cur = 0;
    for _ in 0..n {
        idx.push(cur);
        for d in (0..out.len()).rev() {
            counter[d] += 1;
            cur += ost[d];
            if counter[d] < out[d] {
                break;
            }
            cur -= ost[d] * counter[d];
            counter[d] = 0;
        }
    }
    (out, idx)
}

pub(crate) fn transpose(ins: &[Option<&Tensor>], perm: Option<&[i64]>) -> Result<Tensor, String> {
    let x = input(ins, 0)?;
    let p = perm_of(perm, x.shape().len())?;
    let (shape, idx) = transpose_index(x.shape(), &p);
    Ok(Tensor::from_parts(shape, take(x.data(), &idx)))
}

pub(crate) fn transpose_pullback(
    ins: &[Option<&Tensor>],
    perm: Option<&[i64]>,
    d_y: &[f32],
    d_ins: &mut [Vec<f32>],
) -> Result<(), String> {
    let x = input(ins, 0)?;
    let p = perm_of(perm, x.shape().len())?;
    let (_, idx) = transpose_index(x.shape(), &p);
    scatter_add(&mut d_ins[0], &idx, d_y);
    Ok(())
}

/// Output shape, concatenation axis, and `(outer, per-input block length)`.
fn concat_plan(
    ins: &[Option<&Tensor>],
    axis: i64,
) -> Result<(Vec<usize>, usize, Vec<usize>), String> {
    let first = input(ins, 0)?;
    let ax = norm_axis(axis, first.shape().len())?;
    let mut shape = first.shape().to_vec();
    shape[ax] = 0;
    let mut blocks = Vec::with_capacity(ins.len());
    for i in 0..ins.len() {
        let t = input(ins, i)?;
        let s = t.shape();
        let same = s.len() == shape.len()
            && s.iter()
                .zip(&shape)
                .enumerate()
                .all(|(j, (a, b))| j == ax || a == b);
        if !same || t.is_f32() != first.is_f32() {
            return Err(format!(
                "input {i} {:?} ({}) does not match input 0 {:?} ({}) outside axis {ax}",
                s,
                t.dtype_name(),
                first.shape(),
                first.dtype_name()
            ));
        }
        shape[ax] += s[ax];
        blocks.push(s[ax..].iter().product());
    }
    Ok((shape, ax, blocks))
}

pub(crate) fn concat(ins: &[Option<&Tensor>], axis: i64) -> Result<Tensor, String> {
    let (shape, ax, blocks) = concat_plan(ins, axis)?;
    let outer: usize = shape[..ax].iter().product();
    let n = numel(&shape).ok_or("shape overflows")?;
    let data = match input(ins, 0)?.data() {
        Data::F32(_) => {
            let mut out = Vec::with_capacity(n);
            for o in 0..outer {
                for (i, &b) in blocks.iter().enumerate() {
                    let (_, v) = f32_input(ins, i)?;
                    out.extend_from_slice(&v[o * b..(o + 1) * b]);
                }
            }
            Data::F32(out)
        }
        Data::I64(_) => {
            let mut out = Vec::with_capacity(n);
            for o in 0..outer {
                for (i, &b) in blocks.iter().enumerate() {
                    let v = i64_input(ins, i)?;
                    out.extend_from_slice(&v[o * b..(o + 1) * b]);
                }
            }
            Data::I64(out)
        }
    };
    Ok(Tensor::from_parts(shape, data))
}

/// Each input's adjoint is its block of `dy`.
pub(crate) fn concat_pullback(
    ins: &[Option<&Tensor>],
    axis: i64,
    d_y: &[f32],
    d_ins: &mut [Vec<f32>],
) -> Result<(), String> {
    let (shape, ax, blocks) = concat_plan(ins, axis)?;
    let outer: usize = shape[..ax].iter().product();
    let row: usize = blocks.iter().sum();
    for o in 0..outer {
        let mut start = o * row;
        for (i, &b) in blocks.iter().enumerate() {
            if !d_ins[i].is_empty() {
                super::add_into(&mut d_ins[i][o * b..(o + 1) * b], &d_y[start..start + b]);
            }
            start += b;
        }
    }
    Ok(())
}

/// Axes from the optional second input (opset 13+), normalized and sorted.
fn axes_input(ins: &[Option<&Tensor>], rank: usize) -> Result<Option<Vec<usize>>, String> {
    match ins.get(1) {
        Some(Some(_)) => {
            let mut a: Vec<usize> = i64_input(ins, 1)?
                .iter()
                .map(|&a| norm_axis(a, rank))
                .collect::<Result<_, _>>()?;
            a.sort_unstable();
            a.dedup();
            Ok(Some(a))
        }
        _ => Ok(None),
    }
}

pub(crate) fn squeeze(ins: &[Option<&Tensor>]) -> Result<Tensor, String> {
    let x = input(ins, 0)?;
    let s = x.shape();
    let axes = axes_input(ins, s.len())?;
    let mut shape = Vec::with_capacity(s.len());
    for (i, &d) in s.iter().enumerate() {
        let listed = axes.as_ref().is_none_or(|a| a.contains(&i));
        if listed && d == 1 {
            continue;
        }
        if listed && axes.is_some() {
            return Err(format!("cannot squeeze axis {i} of size {d}"));
        }
        shape.push(d);
    }
    Ok(x.reshaped(shape))
}

pub(crate) fn unsqueeze(ins: &[Option<&Tensor>]) -> Result<Tensor, String> {
    let x = input(ins, 0)?;
    let raw = i64_input(ins, 1)?;
    let rank = x.shape().len() + raw.len();
    let mut axes: Vec<usize> = raw
        .iter()
        .map(|&a| norm_axis(a, rank))
        .collect::<Result<_, _>>()?;
    axes.sort_unstable();
    if axes.windows(2).any(|w| w[0] == w[1]) {
        return Err(format!("axes {raw:?} repeat an axis"));
    }
    let mut dims = x.shape().iter();
    let shape = (0..rank)
        .map(|i| {
            if axes.contains(&i) {
                1
            } else {
                dims.next().copied().unwrap_or(1)
            }
        })
        .collect();
    Ok(x.reshaped(shape))
}

/// Output shape and, per output element, its source element of `data`.
fn gather_index(
    data: &Tensor,
    idx: &Tensor,
    axis: i64,
) -> Result<(Vec<usize>, Vec<usize>), String> {
    let s = data.shape();
    let ax = norm_axis(axis, s.len())?;
    let ind = idx.as_i64().ok_or("indices must be int64")?;
    let n = s[ax] as i64;
    let ind: Vec<usize> = ind
        .iter()
        .map(|&i| {
            let j = if i < 0 { i + n } else { i };
            if (0..n).contains(&j) {
                Ok(j as usize)
            } else {
                Err(format!(
                    "index {i} is out of range for axis {ax} of size {n}"
                ))
            }
        })
        .collect::<Result<_, _>>()?;
    let outer: usize = s[..ax].iter().product();
    let inner: usize = s[ax + 1..].iter().product();
    let mut shape = s[..ax].to_vec();
    shape.extend_from_slice(idx.shape());
    shape.extend_from_slice(&s[ax + 1..]);
    let mut out = Vec::with_capacity(outer * ind.len() * inner);
    for o in 0..outer {
        for &j in &ind {
            out.extend((0..inner).map(|k| (o * s[ax] + j) * inner + k));
        }
    }
    Ok((shape, out))
}

pub(crate) fn gather(ins: &[Option<&Tensor>], axis: i64) -> Result<Tensor, String> {
    let (data, idx) = (input(ins, 0)?, input(ins, 1)?);
    let (shape, src) = gather_index(data, idx, axis)?;
    Ok(Tensor::from_parts(shape, take(data.data(), &src)))
}

pub(crate) fn gather_pullback(
    ins: &[Option<&Tensor>],
    axis: i64,
    d_y: &[f32],
    d_ins: &mut [Vec<f32>],
) -> Result<(), String> {
    let (data, idx) = (input(ins, 0)?, input(ins, 1)?);
    let (_, src) = gather_index(data, idx, axis)?;
    scatter_add(&mut d_ins[0], &src, d_y);
    Ok(())
}

/// Per input element its output element, and the number reduced into each output.
type ReduceMap = (Vec<usize>, usize);

/// Output shape, per-input-element output index, and the number of elements reduced into
/// each output (`None`: the reduction is the identity).
fn reduce_plan(
    ins: &[Option<&Tensor>],
    attr_axes: Option<&[i64]>,
    keepdims: bool,
    noop_with_empty_axes: bool,
) -> Result<(Vec<usize>, Option<ReduceMap>), String> {
    let (x, _) = f32_input(ins, 0)?;
    let s = x.shape();
    let axes = match attr_axes {
        Some(a) => Some(
            a.iter()
                .map(|&a| norm_axis(a, s.len()))
                .collect::<Result<Vec<_>, _>>()?,
        ),
        None => axes_input(ins, s.len())?,
    };
    let axes = match axes {
        Some(a) if !a.is_empty() => a,
        _ if noop_with_empty_axes => return Ok((s.to_vec(), None)),
        _ => (0..s.len()).collect(),
    };
    let mut out_shape = Vec::new();
    let mut kept = vec![1usize; s.len()];
    for (i, &d) in s.iter().enumerate() {
        if axes.contains(&i) {
            if keepdims {
                out_shape.push(1);
            }
        } else {
            kept[i] = d;
            out_shape.push(d);
        }
    }
    let count = s
        .iter()
        .enumerate()
        .filter(|(i, _)| axes.contains(i))
        .map(|(_, &d)| d)
        .product();
    // Index of each input element in the output: broadcast of the kept shape, inverted.
    let ks = strides(&kept);
    let st = strides(s);
    let map = (0..x.len())
        .map(|flat| {
            (0..s.len())
                .map(|d| {
                    if kept[d] == 1 {
                        0
                    } else {
                        (flat / st[d]) % s[d] * ks[d]
                    }
                })
                .sum()
        })
        .collect();
    Ok((out_shape, Some((map, count))))
}

pub(crate) fn reduce(
    ins: &[Option<&Tensor>],
    mean: bool,
    axes: Option<&[i64]>,
    keepdims: bool,
    noop: bool,
) -> Result<Tensor, String> {
    let (x, xv) = f32_input(ins, 0)?;
    let (shape, plan) = reduce_plan(ins, axes, keepdims, noop)?;
    let Some((map, count)) = plan else {
        return Ok(x.clone());
    };
    let n = numel(&shape).ok_or("shape overflows")?;
    let mut acc = vec![0f64; n];
    for (&o, &v) in map.iter().zip(xv) {
        acc[o] += f64::from(v);
    }
    let scale = if mean { 1.0 / count.max(1) as f64 } else { 1.0 };
    let out = acc.into_iter().map(|v| (v * scale) as f32).collect();
    Ok(Tensor::from_parts(shape, Data::F32(out)))
}

/// `dx[i] += dy[out(i)]` (divided by the count for the mean).
pub(crate) fn reduce_pullback(
    ins: &[Option<&Tensor>],
    mean: bool,
    axes: Option<&[i64]>,
    keepdims: bool,
    noop: bool,
    d_y: &[f32],
    d_ins: &mut [Vec<f32>],
) -> Result<(), String> {
    let (_, plan) = reduce_plan(ins, axes, keepdims, noop)?;
    let dx = &mut d_ins[0];
    match plan {
        None => super::add_into(dx, d_y),
        Some((map, count)) if !dx.is_empty() => {
            let scale = if mean { 1.0 / count.max(1) as f32 } else { 1.0 };
            for (d, &o) in dx.iter_mut().zip(&map) {
                *d += d_y[o] * scale;
            }
        }
        Some(_) => {}
    }
    Ok(())
}

/// The input's shape as an int64 tensor, sliced by `start`/`end` (opset 15).
pub(crate) fn shape(
    ins: &[Option<&Tensor>],
    start: i64,
    end: Option<i64>,
) -> Result<Tensor, String> {
    let x = input(ins, 0)?;
    let r = x.shape().len() as i64;
    let clamp = |v: i64| (if v < 0 { v + r } else { v }).clamp(0, r) as usize;
    let (a, b) = (clamp(start), clamp(end.unwrap_or(r)));
    let dims: Vec<i64> = x.shape()[a..b.max(a)].iter().map(|&d| d as i64).collect();
    Ok(Tensor::from_parts(vec![dims.len()], Data::I64(dims)))
}
