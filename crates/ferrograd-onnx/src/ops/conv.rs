//! Conv, MaxPool and AveragePool over 1-D (`[N, C, L]`) and 2-D (`[N, C, H, W]`) inputs, and
//! GlobalAveragePool over any spatial rank. 1-D runs as 2-D with `H = 1`.

use ferrograd_kernels::Conv1dDims;

use super::{f32_input, Attrs};
use crate::tensor::{Data, Tensor};

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum AutoPad {
    NotSet,
    Valid,
    SameUpper,
    SameLower,
}

fn auto_pad(a: &Attrs<'_>) -> Result<AutoPad, String> {
    Ok(match a.string("auto_pad", "NOTSET")?.as_str() {
        "NOTSET" => AutoPad::NotSet,
        "VALID" => AutoPad::Valid,
        "SAME_UPPER" => AutoPad::SameUpper,
        "SAME_LOWER" => AutoPad::SameLower,
        other => return Err(format!("auto_pad=\"{other}\" is not an ONNX padding mode")),
    })
}

#[derive(Debug, Clone)]
pub(crate) struct ConvAttrs {
    auto_pad: AutoPad,
    kernel_shape: Option<Vec<i64>>,
    strides: Option<Vec<i64>>,
    dilations: Option<Vec<i64>>,
    pads: Option<Vec<i64>>,
    group: i64,
}

impl ConvAttrs {
    pub(crate) fn parse(a: &Attrs<'_>) -> Result<Self, String> {
        Ok(Self {
            auto_pad: auto_pad(a)?,
            kernel_shape: a.ints("kernel_shape")?,
            strides: a.ints("strides")?,
            dilations: a.ints("dilations")?,
            pads: a.ints("pads")?,
            group: a.int("group", 1)?,
        })
    }
}

#[derive(Debug, Clone)]
pub(crate) struct PoolAttrs {
    auto_pad: AutoPad,
    kernel_shape: Option<Vec<i64>>,
    strides: Option<Vec<i64>>,
    dilations: Option<Vec<i64>>,
    pads: Option<Vec<i64>>,
    ceil_mode: bool,
    count_include_pad: bool,
}

impl PoolAttrs {
    pub(crate) fn parse(a: &Attrs<'_>) -> Result<Self, String> {
        let kernel_shape = a.ints("kernel_shape")?;
        if kernel_shape.is_none() {
            return Err("kernel_shape is required".into());
        }
        Ok(Self {
            auto_pad: auto_pad(a)?,
            kernel_shape,
            strides: a.ints("strides")?,
            dilations: a.ints("dilations")?,
            pads: a.ints("pads")?,
            ceil_mode: a.int("ceil_mode", 0)? != 0,
            count_include_pad: a.int("count_include_pad", 0)? != 0,
        })
    }
}

/// Geometry along one spatial axis.
#[derive(Debug, Clone, Copy)]
struct Axis {
    len: usize,
    k: usize,
    stride: usize,
    dil: usize,
    pad0: usize,
    pad1: usize,
    out: usize,
}

impl Axis {
    /// Input position of output `o`, tap `t` (may be outside `[0, len)`: padding).
    fn pos(&self, o: usize, t: usize) -> isize {
        (o * self.stride + t * self.dil) as isize - self.pad0 as isize
    }
    fn inside(&self, p: isize) -> bool {
        p >= 0 && (p as usize) < self.len
    }
}

/// Largest stride, dilation, pad or pooling kernel accepted: far beyond real models, small
/// enough that no index arithmetic can overflow.
const MAX_ATTR: usize = 1 << 20;

/// Per-axis settings from attributes: `get(v, i, default)` with checks.
fn setting(
    v: &Option<Vec<i64>>,
    i: usize,
    n: usize,
    default: usize,
    what: &str,
) -> Result<usize, String> {
    match v {
        None => Ok(default),
        Some(v) if v.len() != n => Err(format!("{what} has {} values, {n} expected", v.len())),
        Some(v) => usize::try_from(v[i])
            .ok()
            .filter(|&x| (x > 0 || what == "pads") && x <= MAX_ATTR)
            .ok_or_else(|| format!("{what} value {} is invalid", v[i])),
    }
}

/// The spatial geometry (`[H, W]`; `H` is a unit axis for 1-D).
fn geometry(
    spatial: &[usize],
    kernel: &[usize],
    auto: &AutoPad,
    strides: &Option<Vec<i64>>,
    dilations: &Option<Vec<i64>>,
    pads: &Option<Vec<i64>>,
    ceil_mode: bool,
) -> Result<[Axis; 2], String> {
    let n = spatial.len();
    let mut axes = Vec::with_capacity(2);
    for i in 0..n {
        let stride = setting(strides, i, n, 1, "strides")?;
        let dil = setting(dilations, i, n, 1, "dilations")?;
        let (len, k) = (spatial[i], kernel[i]);
        let span = dil * (k.max(1) - 1) + 1;
        let (pad0, pad1) = match auto {
            AutoPad::NotSet => (
                setting(pads, i, 2 * n, 0, "pads")?,
                setting(pads, i + n, 2 * n, 0, "pads")?,
            ),
            AutoPad::Valid => (0, 0),
            AutoPad::SameUpper | AutoPad::SameLower => {
                let out = len.div_ceil(stride);
                let total = ((out.max(1) - 1) * stride + span).saturating_sub(len);
                let small = total / 2;
                if *auto == AutoPad::SameUpper {
                    (small, total - small)
                } else {
                    (total - small, small)
                }
            }
        };
        let padded = len + pad0 + pad1;
        if k == 0 || padded < span {
            return Err(format!(
                "kernel {k} (dilation {dil}) does not fit spatial size {len} with pads ({pad0}, {pad1})"
            ));
        }
        let mut out = if ceil_mode {
            (padded - span).div_ceil(stride) + 1
        } else {
            (padded - span) / stride + 1
        };
        // With ceil_mode the last window must start inside the input or its left padding.
        if ceil_mode && (out - 1) * stride >= len + pad0 {
            out -= 1;
        }
        axes.push(Axis {
            len,
            k,
            stride,
            dil,
            pad0,
            pad1,
            out,
        });
    }
    let unit = Axis {
        len: 1,
        k: 1,
        stride: 1,
        dil: 1,
        pad0: 0,
        pad1: 0,
        out: 1,
    };
    match axes[..] {
        [w] => Ok([unit, w]),
        [h, w] => Ok([h, w]),
        _ => Err(format!(
            "{n}-D spatial input: only 1-D and 2-D are supported"
        )),
    }
}

fn spatial_of(x: &Tensor) -> Result<(usize, usize, &[usize]), String> {
    match x.shape() {
        [n, c, rest @ ..] if (1..=2).contains(&rest.len()) => Ok((*n, *c, rest)),
        s => Err(format!(
            "input must be [N, C, L] or [N, C, H, W], got {s:?}"
        )),
    }
}

fn out_shape(n: usize, c: usize, g: &[Axis; 2], rank: usize) -> Vec<usize> {
    if rank == 1 {
        vec![n, c, g[1].out]
    } else {
        vec![n, c, g[0].out, g[1].out]
    }
}

struct ConvPlan {
    n: usize,
    c: usize,
    m: usize,
    group: usize,
    g: [Axis; 2],
    rank: usize,
}

fn conv_plan(ins: &[Option<&Tensor>], at: &ConvAttrs) -> Result<ConvPlan, String> {
    let (x, _) = f32_input(ins, 0)?;
    let (w, _) = f32_input(ins, 1)?;
    let (n, c, spatial) = spatial_of(x)?;
    let ws = w.shape();
    if ws.len() != spatial.len() + 2 {
        return Err(format!(
            "weight {ws:?} does not match input {:?}",
            x.shape()
        ));
    }
    let group = usize::try_from(at.group)
        .ok()
        .filter(|&g| g > 0)
        .ok_or("group must be positive")?;
    let m = ws[0];
    if c % group != 0 || m % group != 0 || ws[1] * group != c {
        return Err(format!(
            "weight {ws:?} (group {group}) does not match {c} input channels"
        ));
    }
    let kernel: Vec<usize> = ws[2..].to_vec();
    if let Some(ks) = &at.kernel_shape {
        if ks.iter().map(|&k| k as usize).ne(kernel.iter().copied()) {
            return Err(format!("kernel_shape {ks:?} does not match weight {ws:?}"));
        }
    }
    if let Some(Some(b)) = ins.get(2) {
        if b.shape() != [m] {
            return Err(format!("bias {:?} must be [{m}]", b.shape()));
        }
    }
    let g = geometry(
        spatial,
        &kernel,
        &at.auto_pad,
        &at.strides,
        &at.dilations,
        &at.pads,
        false,
    )?;
    Ok(ConvPlan {
        n,
        c,
        m,
        group,
        g,
        rank: spatial.len(),
    })
}

/// Visits the in-bounds entries of the im2col matrix of batch element `b`, group `grp`:
/// `f(col_idx, x_idx)` where the matrix is `[cg·kh·kw, oh·ow]` (row `(ci, th, tw)`, column
/// `(oh, ow)`) and its entry is `x[b, grp·cg + ci, oh·s + th·d − p, …]`; padding stays 0.
fn cols_visit(p: &ConvPlan, b: usize, grp: usize, mut f: impl FnMut(usize, usize)) {
    let [gh, gw] = p.g;
    let cg = p.c / p.group;
    let l = gh.out * gw.out;
    let mut row = 0;
    for ci in 0..cg {
        let plane = (b * p.c + grp * cg + ci) * gh.len;
        for th in 0..gh.k {
            for tw in 0..gw.k {
                for oh in 0..gh.out {
                    let ih = gh.pos(oh, th);
                    if !gh.inside(ih) {
                        continue;
                    }
                    let xrow = (plane + ih as usize) * gw.len;
                    for ow in 0..gw.out {
                        let iw = gw.pos(ow, tw);
                        if gw.inside(iw) {
                            f(row * l + oh * gw.out + ow, xrow + iw as usize);
                        }
                    }
                }
                row += 1;
            }
        }
    }
}

/// Per group: `(K = cg·kh·kw, L = oh·ow, mg)`.
fn gemm_dims(p: &ConvPlan) -> (usize, usize, usize) {
    let [gh, gw] = p.g;
    (p.c / p.group * gh.k * gw.k, gh.out * gw.out, p.m / p.group)
}

/// The convolutions `ferrograd_kernels::conv1d` (im2col + GEMM) covers: 1-D, one group,
/// symmetric padding, no zero dimension. The others take the direct loops below.
fn kernel_dims(p: &ConvPlan) -> Option<Conv1dDims> {
    let g = p.g[1];
    let d = Conv1dDims {
        batch: p.n,
        c_in: p.c,
        len_in: g.len,
        c_out: p.m,
        kernel: g.k,
        stride: g.stride,
        padding: g.pad0,
        dilation: g.dil,
    };
    let positive = [d.batch, d.c_in, d.len_in, d.c_out, d.kernel]
        .iter()
        .all(|&v| v > 0);
    (p.rank == 1 && p.group == 1 && g.pad0 == g.pad1 && positive).then_some(d)
}

/// The bias, or zeros of length `m` when the node has none.
fn bias_or_zeros<'a>(
    ins: &[Option<&'a Tensor>],
    m: usize,
) -> Result<std::borrow::Cow<'a, [f32]>, String> {
    match ins.get(2) {
        Some(Some(_)) => Ok(std::borrow::Cow::Borrowed(f32_input(ins, 2)?.1)),
        _ => Ok(std::borrow::Cow::Owned(vec![0.0; m])),
    }
}

/// `y[b, m, o] = bias[m] + Σ_{c, t} w[m, c, t]·x[b, c, o·s + t·d − p]`.
pub(crate) fn conv(ins: &[Option<&Tensor>], at: &ConvAttrs) -> Result<Tensor, String> {
    let p = conv_plan(ins, at)?;
    let (_, x) = f32_input(ins, 0)?;
    let (_, w) = f32_input(ins, 1)?;
    let shape = out_shape(p.n, p.m, &p.g, p.rank);
    let plane = p.g[0].out * p.g[1].out;
    let mut y = vec![0.0f32; p.n * p.m * plane];
    if let Some(d) = kernel_dims(&p) {
        let b = bias_or_zeros(ins, p.m)?;
        ferrograd_kernels::conv1d(&mut y, x, w, &b, d).map_err(|e| e.to_string())?;
        return Ok(Tensor::from_parts(shape, Data::F32(y)));
    }
    // im2col + GEMM per batch element and group: Y_bg [mg, L] = W_g [mg, K] · cols [K, L].
    let (k, l, mg) = gemm_dims(&p);
    let mut cols = vec![0.0f32; k * l];
    for b in 0..p.n {
        for grp in 0..p.group {
            cols.fill(0.0);
            cols_visit(&p, b, grp, |ci, xi| cols[ci] = x[xi]);
            let y0 = (b * p.m + grp * mg) * l;
            let wg = &w[grp * mg * k..(grp + 1) * mg * k];
            ferrograd_kernels::matmul(&mut y[y0..y0 + mg * l], wg, &cols, mg, k, l)
                .map_err(|e| e.to_string())?;
        }
    }
    if let Some(Some(b)) = ins.get(2) {
        let b = b.as_f32().ok_or("bias must be float32")?;
        for (i, v) in y.iter_mut().enumerate() {
            *v += b[(i / plane) % p.m];
        }
    }
    Ok(Tensor::from_parts(shape, Data::F32(y)))
}

/// `dx[xi] += w[wi]·dy[o]`, `dw[wi] += x[xi]·dy[o]`, `db[m] += Σ dy[b, m, ·]`.
pub(crate) fn conv_pullback(
    ins: &[Option<&Tensor>],
    at: &ConvAttrs,
    d_y: &[f32],
    d_ins: &mut [Vec<f32>],
) -> Result<(), String> {
    let p = conv_plan(ins, at)?;
    let (_, x) = f32_input(ins, 0)?;
    let (_, w) = f32_input(ins, 1)?;
    let (dx, rest) = d_ins.split_at_mut(1);
    let (dw, db) = rest.split_at_mut(1);
    let (dx, dw) = (&mut dx[0], &mut dw[0]);
    if let Some(d) = kernel_dims(&p) {
        let b = bias_or_zeros(ins, p.m)?;
        // The kernel reads the forward's output buffer only for its length, and zeroes its seed.
        let (mut out, mut seed) = (vec![0.0; d_y.len()], d_y.to_vec());
        let db: &mut [f32] = match db.first_mut() {
            Some(db) => db,
            None => &mut [],
        };
        return ferrograd_kernels::conv1d_pullback(&mut out, x, w, &b, d, &mut seed, dx, dw, db)
            .map_err(|e| e.to_string());
    }
    // dW_g += dY_bg · colsᵀ, dcols = W_gᵀ · dY_bg scattered back into dx (col2im).
    let (k, l, mg) = gemm_dims(&p);
    let mut cols = vec![0.0f32; k * l];
    let mut tmp = vec![0.0f32; if dw.is_empty() { 0 } else { mg * k }];
    for b in 0..p.n {
        for grp in 0..p.group {
            let dy = &d_y[(b * p.m + grp * mg) * l..][..mg * l];
            let wg = &w[grp * mg * k..(grp + 1) * mg * k];
            if !dw.is_empty() {
                cols.fill(0.0);
                cols_visit(&p, b, grp, |ci, xi| cols[ci] = x[xi]);
                ferrograd_kernels::matmul_nt(&mut tmp, dy, &cols, mg, l, k)
                    .map_err(|e| e.to_string())?;
                super::add_into(&mut dw[grp * mg * k..(grp + 1) * mg * k], &tmp);
            }
            if !dx.is_empty() {
                ferrograd_kernels::matmul_tn(&mut cols, wg, dy, k, mg, l)
                    .map_err(|e| e.to_string())?;
                cols_visit(&p, b, grp, |ci, xi| dx[xi] += cols[ci]);
            }
        }
    }
    if let Some(db) = db.first_mut().filter(|d| !d.is_empty()) {
        let plane = p.g[0].out * p.g[1].out;
        for (i, g) in d_y.iter().enumerate() {
            db[(i / plane) % p.m] += g;
        }
    }
    Ok(())
}

struct PoolPlan {
    n: usize,
    c: usize,
    g: [Axis; 2],
    rank: usize,
}

fn pool_plan(x: &Tensor, at: &PoolAttrs) -> Result<PoolPlan, String> {
    let (n, c, spatial) = spatial_of(x)?;
    let ks = at.kernel_shape.as_deref().unwrap_or(&[]);
    if ks.len() != spatial.len() {
        return Err(format!(
            "kernel_shape {ks:?} does not match input {:?}",
            x.shape()
        ));
    }
    let kernel: Vec<usize> = ks
        .iter()
        .map(|&k| {
            usize::try_from(k)
                .ok()
                .filter(|&k| k <= MAX_ATTR)
                .ok_or_else(|| format!("kernel size {k} is invalid"))
        })
        .collect::<Result<_, _>>()?;
    let g = geometry(
        spatial,
        &kernel,
        &at.auto_pad,
        &at.strides,
        &at.dilations,
        &at.pads,
        at.ceil_mode,
    )?;
    Ok(PoolPlan {
        n,
        c,
        g,
        rank: spatial.len(),
    })
}

/// Visits every pooling window: `f(out_idx, window input indices)`, padding skipped.
fn pool_visit(p: &PoolPlan, mut f: impl FnMut(usize, &[usize], usize)) {
    let [gh, gw] = p.g;
    let mut window = Vec::new();
    for plane in 0..p.n * p.c {
        for oh in 0..gh.out {
            for ow in 0..gw.out {
                window.clear();
                // Taps inside the padded extent, for count_include_pad.
                let mut padded_count = 0;
                for th in 0..gh.k {
                    let ih = gh.pos(oh, th);
                    let h_in_pad = ih >= -(gh.pad0 as isize) && ih < (gh.len + gh.pad1) as isize;
                    for tw in 0..gw.k {
                        let iw = gw.pos(ow, tw);
                        let w_in_pad =
                            iw >= -(gw.pad0 as isize) && iw < (gw.len + gw.pad1) as isize;
                        if h_in_pad && w_in_pad {
                            padded_count += 1;
                        }
                        if gh.inside(ih) && gw.inside(iw) {
                            window.push((plane * gh.len + ih as usize) * gw.len + iw as usize);
                        }
                    }
                }
                let o = (plane * gh.out + oh) * gw.out + ow;
                f(o, &window, padded_count);
            }
        }
    }
}

/// The first maximum of the window (PyTorch's choice on ties), or `None` for an empty window.
fn argmax(x: &[f32], window: &[usize]) -> Option<usize> {
    let mut best: Option<usize> = None;
    for &i in window {
        match best {
            Some(b) if !(x[i] > x[b] || x[i].is_nan()) => {}
            _ => best = Some(i),
        }
    }
    best
}

pub(crate) fn max_pool(ins: &[Option<&Tensor>], at: &PoolAttrs) -> Result<Tensor, String> {
    let (t, x) = f32_input(ins, 0)?;
    let p = pool_plan(t, at)?;
    let mut y = vec![0.0; p.n * p.c * p.g[0].out * p.g[1].out];
    pool_visit(&p, |o, win, _| {
        y[o] = argmax(x, win).map_or(f32::NEG_INFINITY, |i| x[i]);
    });
    Ok(Tensor::from_parts(
        out_shape(p.n, p.c, &p.g, p.rank),
        Data::F32(y),
    ))
}

/// The adjoint goes to each window's maximum.
pub(crate) fn max_pool_pullback(
    ins: &[Option<&Tensor>],
    at: &PoolAttrs,
    d_y: &[f32],
    d_ins: &mut [Vec<f32>],
) -> Result<(), String> {
    let (t, x) = f32_input(ins, 0)?;
    let p = pool_plan(t, at)?;
    let dx = &mut d_ins[0];
    if dx.is_empty() {
        return Ok(());
    }
    pool_visit(&p, |o, win, _| {
        if let Some(i) = argmax(x, win) {
            dx[i] += d_y[o];
        }
    });
    Ok(())
}

fn divisor(at: &PoolAttrs, window: &[usize], padded_count: usize) -> f32 {
    let n = if at.count_include_pad {
        padded_count
    } else {
        window.len()
    };
    n.max(1) as f32
}

pub(crate) fn avg_pool(ins: &[Option<&Tensor>], at: &PoolAttrs) -> Result<Tensor, String> {
    let (t, x) = f32_input(ins, 0)?;
    let p = pool_plan(t, at)?;
    let mut y = vec![0.0; p.n * p.c * p.g[0].out * p.g[1].out];
    pool_visit(&p, |o, win, pc| {
        y[o] = win.iter().map(|&i| x[i]).sum::<f32>() / divisor(at, win, pc);
    });
    Ok(Tensor::from_parts(
        out_shape(p.n, p.c, &p.g, p.rank),
        Data::F32(y),
    ))
}

/// `dx[i] += dy[o] / count` for every `i` of window `o`.
pub(crate) fn avg_pool_pullback(
    ins: &[Option<&Tensor>],
    at: &PoolAttrs,
    d_y: &[f32],
    d_ins: &mut [Vec<f32>],
) -> Result<(), String> {
    let (t, _) = f32_input(ins, 0)?;
    let p = pool_plan(t, at)?;
    let dx = &mut d_ins[0];
    if dx.is_empty() {
        return Ok(());
    }
    pool_visit(&p, |o, win, pc| {
        let g = d_y[o] / divisor(at, win, pc);
        for &i in win {
            dx[i] += g;
        }
    });
    Ok(())
}

fn global_dims(t: &Tensor) -> Result<(usize, usize, Vec<usize>), String> {
    match t.shape() {
        [n, c, rest @ ..] if !rest.is_empty() => {
            let mut shape = vec![*n, *c];
            shape.extend(std::iter::repeat_n(1, rest.len()));
            Ok((n * c, rest.iter().product(), shape))
        }
        s => Err(format!("input must be [N, C, spatial…], got {s:?}")),
    }
}

/// `y[b, c] = mean over the spatial dimensions of x[b, c, …]` (kept as size-1 dimensions).
pub(crate) fn global_avg_pool(ins: &[Option<&Tensor>]) -> Result<Tensor, String> {
    let (t, x) = f32_input(ins, 0)?;
    let (planes, size, shape) = global_dims(t)?;
    let y = (0..planes)
        .map(|i| x[i * size..(i + 1) * size].iter().sum::<f32>() / size.max(1) as f32)
        .collect();
    Ok(Tensor::from_parts(shape, Data::F32(y)))
}

pub(crate) fn global_avg_pool_pullback(
    ins: &[Option<&Tensor>],
    d_y: &[f32],
    d_ins: &mut [Vec<f32>],
) -> Result<(), String> {
    let (t, _) = f32_input(ins, 0)?;
    let (_, size, _) = global_dims(t)?;
    let dx = &mut d_ins[0];
    if !dx.is_empty() {
        for (i, d) in dx.iter_mut().enumerate() {
            *d += d_y[i / size] / size as f32;
        }
    }
    Ok(())
}
