//! 1-D convolution (cross-correlation, as PyTorch's `Conv1d`) with stride, zero padding and
//! dilation, and its pullback.
//!
//! Shapes: `x: [batch, c_in, len_in]`, `w: [c_out, c_in, kernel]`, `b: [c_out]`,
//! `out: [batch, c_out, len_out]`, `len_out = (len_in + 2·padding − dilation·(kernel−1) − 1) / stride + 1`.
//!
//! Layers with few taps per output (`c_in·K ≤ 32`) at stride 1 are computed directly: the
//! forward in register tiles of outputs, the weight gradient as dot products along the rows
//! (see [`DIRECT_TAPS`]). Every other layer, and every input gradient, by
//! im2col + GEMM, one batch element at a time: `cols_b[(ci,k), l] = x[b, ci, l·s + k·dil − pad]`
//! (`[c_in·K, len_out]`), forward `Y_b = W·cols_b + b`, `dW += dY_b·cols_bᵀ`,
//! `dcols_b = Wᵀ·dY_b` scattered back into `dX` (col2im). The im2col matrix lives in a
//! per-thread buffer ([`conv1d_scratch_len`] floats) that is allocated on a thread's first call
//! and reused, so it needs no f32 scratch parameter (which the AD contract would treat as
//! differentiable). Work is split over the batch everywhere; `d_w`
//! and `d_b` are summed per piece and the partial sums added at the end.
//!
//! (Overlapping "Toeplitz" views instead of im2col were tried and dropped: faer 0.24 accepts
//! such views from its safe constructors but its small-matrix path corrupted memory with them.)

use faer::{MatMut, MatRef};

use crate::error::{check_adj, check_len, check_positive, size, KernelError};

use crate::gemm::gemm_seq;
use crate::par;

/// Dimensions of a [`conv1d`] call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Conv1dDims {
    pub batch: usize,
    pub c_in: usize,
    pub len_in: usize,
    pub c_out: usize,
    pub kernel: usize,
    pub stride: usize,
    pub padding: usize,
    pub dilation: usize,
}

impl Conv1dDims {
    /// Output length, or an error when the (padded) input is shorter than the dilated kernel
    /// or a dimension is zero.
    pub fn len_out(&self) -> Result<usize, KernelError> {
        const K: &str = "conv1d";
        for (arg, v) in [
            ("batch", self.batch),
            ("c_in", self.c_in),
            ("len_in", self.len_in),
            ("c_out", self.c_out),
            ("kernel", self.kernel),
            ("stride", self.stride),
            ("dilation", self.dilation),
        ] {
            check_positive(K, arg, v)?;
        }
        let overflow = KernelError::Overflow {
            kernel: K,
            dims: [self.len_in, self.padding, self.kernel, self.dilation],
        };
        let padded = self
            .padding
            .checked_mul(2)
            .and_then(|p| p.checked_add(self.len_in))
            .ok_or(overflow.clone())?;
        let span = (self.kernel - 1)
            .checked_mul(self.dilation)
            .and_then(|s| s.checked_add(1))
            .ok_or(overflow)?;
        if padded < span {
            return Err(KernelError::Dim {
                kernel: K,
                arg: "len_in",
                value: self.len_in,
                requirement: "at least dilation·(kernel−1)+1 − 2·padding",
            });
        }
        Ok((padded - span) / self.stride + 1)
    }

    pub(crate) fn check(
        &self,
        kernel: &'static str,
        out: usize,
        x: usize,
        w: usize,
        b: usize,
    ) -> Result<usize, KernelError> {
        let len_out = self.len_out()?;
        let d = self;
        check_len(
            kernel,
            "out",
            out,
            size(kernel, &[d.batch, d.c_out, len_out])?,
            "[batch, c_out, len_out]",
        )?;
        check_len(
            kernel,
            "x",
            x,
            size(kernel, &[d.batch, d.c_in, d.len_in])?,
            "[batch, c_in, len_in]",
        )?;
        check_len(
            kernel,
            "w",
            w,
            size(kernel, &[d.c_out, d.c_in, d.kernel])?,
            "[c_out, c_in, kernel]",
        )?;
        check_len(kernel, "b", b, d.c_out, "[c_out]")?;
        // Every index below is < one of these lengths; make sure i64 arithmetic cannot overflow.
        let biggest = out
            .max(x)
            .max(w)
            .max(d.padding)
            .max(d.stride)
            .max(d.dilation.saturating_mul(d.kernel));
        if biggest > (i64::MAX / 4) as usize {
            return Err(KernelError::Overflow {
                kernel,
                dims: [d.len_in, d.padding, d.kernel, d.dilation],
            });
        }
        Ok(len_out)
    }
}

/// Number of f32s of per-thread scratch that [`conv1d`] / [`conv1d_pullback`] use for
/// the im2col matrix of one batch element: `c_in·kernel·len_out`.
pub fn conv1d_scratch_len(dims: Conv1dDims) -> Result<usize, KernelError> {
    let len_out = dims.len_out()?;
    size("conv1d", &[dims.c_in, dims.kernel, len_out])
}

pub(crate) type Scratch = std::thread::LocalKey<std::cell::Cell<Vec<f32>>>;

thread_local! {
    /// Per-thread im2col buffer, grown on first use and reused: steady-state calls do not
    /// allocate (rayon's workers are long-lived).
    static COLS: std::cell::Cell<Vec<f32>> = const { std::cell::Cell::new(Vec::new()) };
    /// The calling thread's buffer for the per-piece partial sums of `d_w` and `d_b`.
    static PARTIALS: std::cell::Cell<Vec<f32>> = const { std::cell::Cell::new(Vec::new()) };
    /// Per-thread copy of a group of examples' `d_out`, side by side (see `conv1d_pullback`).
    static DYS: std::cell::Cell<Vec<f32>> = const { std::cell::Cell::new(Vec::new()) };
}

/// Target size (floats) of the grouped im2col matrix in `conv1d_pullback`: about 1 MiB, half
/// of this machine's per-core L2.
const GROUP_FLOATS: usize = 1 << 18;

/// Runs `f` on this thread's scratch buffer `key` of `len` floats. The buffer is taken out of
/// the thread-local for the duration, so a re-entrant call (work stolen while waiting) simply
/// gets a fresh buffer instead of panicking.
pub(crate) fn with_scratch<R>(
    key: &'static Scratch,
    len: usize,
    f: impl FnOnce(&mut [f32]) -> R,
) -> R {
    let mut buf = key.with(|c| c.take());
    if buf.len() < len {
        buf.resize(len, 0.0);
    }
    let r = f(&mut buf[..len]);
    key.with(|c| {
        let other = c.take();
        c.set(if other.len() > buf.len() { other } else { buf });
    });
    r
}

fn with_cols<R>(len: usize, f: impl FnOnce(&mut [f32]) -> R) -> R {
    with_scratch(&COLS, len, f)
}

/// `cols[(ci·K + k), l] = x[ci, l·s + k·dil − pad]` (0 in the padding); `cols: [c_in·K, len_out]`
/// with rows `ld` apart (`ld = len_out` for one example; larger when several examples sit
/// side by side).
fn im2col(cols: &mut [f32], x: &[f32], d: &Conv1dDims, len_out: usize, ld: usize) {
    let s = d.stride as i64;
    for (ci, xrow) in x.chunks_exact(d.len_in).enumerate() {
        for k in 0..d.kernel {
            let r0 = (ci * d.kernel + k) * ld;
            let row = &mut cols[r0..r0 + len_out];
            let c = (k * d.dilation) as i64 - d.padding as i64;
            let r = tap_range(0, d.len_in as i64, c, s, 0, len_out);
            row[..r.start].fill(0.0);
            row[r.end..].fill(0.0);
            if d.stride == 1 {
                let j0 = (r.start as i64 + c) as usize;
                row[r.clone()].copy_from_slice(&xrow[j0..j0 + r.len()]);
            } else {
                for l in r {
                    row[l] = xrow[(l as i64 * s + c) as usize];
                }
            }
        }
    }
}

/// `dx[ci, l·s + k·dil − pad] += cols[(ci·K + k), l]` for in-range positions (rows of `cols`
/// `ld` apart, as in [`im2col`]). Cloned for
/// AVX-512 / AVX2 and picked at run time.
#[multiversion::multiversion(targets = "simd")]
fn col2im_add(dx: &mut [f32], cols: &[f32], d: &Conv1dDims, len_out: usize, ld: usize) {
    let s = d.stride as i64;
    for (ci, dxrow) in dx.chunks_exact_mut(d.len_in).enumerate() {
        for k in 0..d.kernel {
            let r0 = (ci * d.kernel + k) * ld;
            let row = &cols[r0..r0 + len_out];
            let c = (k * d.dilation) as i64 - d.padding as i64;
            let r = tap_range(0, d.len_in as i64, c, s, 0, len_out);
            if d.stride == 1 {
                let j0 = (r.start as i64 + c) as usize;
                for (g, &v) in dxrow[j0..j0 + r.len()].iter_mut().zip(&row[r]) {
                    *g += v;
                }
            } else {
                for l in r {
                    dxrow[(l as i64 * s + c) as usize] += row[l];
                }
            }
        }
    }
}

/// `l` in `[l_a, l_b)` with `lo <= l·s + c < hi`.
fn tap_range(lo: i64, hi: i64, c: i64, s: i64, l_a: usize, l_b: usize) -> std::ops::Range<usize> {
    let first = -((c - lo).div_euclid(s)); // ceil((lo − c) / s)
    let last = (hi - 1 - c).div_euclid(s); // floor((hi − 1 − c) / s)
    let a = first.max(l_a as i64);
    let b = (last + 1).min(l_b as i64);
    if b <= a {
        0..0
    } else {
        a as usize..b as usize
    }
}

/// Layers with at most this many taps per output (`c_in·K`) at stride 1 are computed directly,
/// without im2col. Why: their products have an inner dimension of `c_in·K` (forward) or an
/// output of `c_out × c_in·K` (weight gradient), too small for a GEMM to reach speed, while
/// the im2col matrix is `K` times the input. W2's first layer (1 → 16 channels, K = 16) ran its
/// forward at 91 GFLOP/s and its weight gradient at 56 through im2col + GEMM.
pub(crate) const DIRECT_TAPS: usize = 32;

/// Outputs computed together in the direct forward: four AVX-512 registers of sums.
const TILE: usize = 64;

/// Whether [`conv1d`] (and [`conv1d_pullback`] without `d_x`) takes the direct path.
pub(crate) fn direct(d: &Conv1dDims) -> bool {
    d.stride == 1 && d.c_in * d.kernel <= DIRECT_TAPS
}

/// The outputs `l` (stride 1) whose taps `l + k·dil − pad` all land inside the input.
pub(crate) fn interior(d: &Conv1dDims, len_out: usize) -> std::ops::Range<usize> {
    let lo = d.padding.min(len_out);
    let hi = (d.len_in + d.padding)
        .saturating_sub((d.kernel - 1) * d.dilation)
        .min(len_out);
    lo..hi.max(lo)
}

/// Where tap `t = ci·K + k` of output `l` reads the example's input (stride 1; `l` in the
/// [`interior`]).
fn tap_offset(d: &Conv1dDims, t: usize, l: usize) -> usize {
    (t / d.kernel) * d.len_in + l + (t % d.kernel) * d.dilation - d.padding
}

/// Where tap `t = ci·K + k` of output `j` reads the example's input,
/// `ci·len_in + j·stride + k·dil − pad`, or `None` where that falls in the padding: the checked
/// form of [`tap_offset`], for the outputs (or winners) outside the fast paths.
#[inline(always)]
pub(crate) fn tap_index(d: &Conv1dDims, t: usize, j: usize) -> Option<usize> {
    let i = (j * d.stride + (t % d.kernel) * d.dilation) as i64 - d.padding as i64;
    (i >= 0 && (i as usize) < d.len_in).then(|| (t / d.kernel) * d.len_in + i as usize)
}

/// `Σ_taps w·x` for output `l` of one row, the taps that land inside the input only, in tap
/// order with one FMA each: the direct forward's outputs outside its tiles.
#[inline(always)]
fn tap_sum(wrow: &[f32], bias: f32, x: &[f32], d: &Conv1dDims, l: usize) -> f32 {
    let mut acc = bias;
    for (t, &wv) in wrow.iter().enumerate() {
        if let Some(i) = tap_index(d, t, l) {
            acc = wv.mul_add(x[i], acc);
        }
    }
    acc
}

/// One example of the direct forward (stride 1): `y[co, l] = b[co] + Σ_{ci,k} w[co,ci,k]·
/// x[ci, l + k·dil − pad]`, the sum in tap order with one FMA per tap, so every output comes
/// out the same whichever way it is computed. The interior in blocks of four channels by
/// [`TILE`] outputs (16 vector registers of sums: each input vector loaded serves four FMAs,
/// where one channel at a time was bound by the loads); the interior's tail as one more tile
/// that overlaps the last (computed again, the same way); the outputs whose taps reach into
/// the padding one at a time.
#[multiversion::multiversion(targets = "simd")]
fn conv_direct_example(
    y: &mut [f32],
    x: &[f32],
    w: &[f32],
    b: &[f32],
    d: &Conv1dDims,
    len_out: usize,
) {
    let ck = d.c_in * d.kernel;
    let inner = interior(d, len_out);
    // The tiles' starts: every TILE from the interior's start, the last moved back to end at
    // the interior's end.
    let tiles = if inner.len() >= TILE {
        (inner.len() - 1) / TILE + 1
    } else {
        0
    };
    let tile_start = |i: usize| (inner.start + i * TILE).min(inner.end - TILE);
    let tiled = if tiles > 0 {
        inner.clone()
    } else {
        inner.start..inner.start
    };
    let mut co = 0;
    while co < d.c_out {
        let c = if co + 4 <= d.c_out { 4 } else { 1 };
        let rows = &mut y[co * len_out..(co + c) * len_out];
        let ws = &w[co * ck..(co + c) * ck];
        for i in 0..tiles {
            let l = tile_start(i);
            if c == 4 {
                forward_tile::<4>(rows, ws, &b[co..co + 4], x, d, len_out, l);
            } else {
                forward_tile::<1>(rows, ws, &b[co..co + 1], x, d, len_out, l);
            }
        }
        for (r, row) in rows.chunks_exact_mut(len_out).enumerate() {
            let wrow = &ws[r * ck..(r + 1) * ck];
            for l in (0..tiled.start).chain(tiled.end..len_out) {
                row[l] = tap_sum(wrow, b[co + r], x, d, l);
            }
        }
        co += c;
    }
}

/// Outputs `l..l + TILE` of `C` channels (`rows`: `C` rows of `len_out`, `ws`: their `C` rows
/// of weights), every tap inside the input.
#[inline(always)]
fn forward_tile<const C: usize>(
    rows: &mut [f32],
    ws: &[f32],
    bias: &[f32],
    x: &[f32],
    d: &Conv1dDims,
    len_out: usize,
    l: usize,
) {
    let ck = d.c_in * d.kernel;
    let mut acc = [[0.0f32; TILE]; C];
    for (a, &bv) in acc.iter_mut().zip(bias) {
        *a = [bv; TILE];
    }
    for t in 0..ck {
        let o = tap_offset(d, t, l);
        let xs: &[f32; TILE] = x[o..o + TILE].try_into().expect("a tile");
        for (c, a) in acc.iter_mut().enumerate() {
            let wv = ws[c * ck + t];
            for i in 0..TILE {
                a[i] = wv.mul_add(xs[i], a[i]);
            }
        }
    }
    for (c, a) in acc.iter().enumerate() {
        rows[c * len_out + l..c * len_out + l + TILE].copy_from_slice(a);
    }
}

/// One example of the direct weight gradient (stride 1): `d_w[co,ci,k] += Σ_l d_out[co,l]·
/// x[ci, l + k·dil − pad]` over the outputs whose tap lands inside the input, and
/// `d_b[co] += Σ_l d_out[co,l]`. The interior's outputs 16 at a time in blocks of four
/// channels by four taps ([`grad_w_block`]: 16 independent sums, each vector loaded serving
/// four FMAs; one dot product per weight was bound by its two loads per FMA), its last partial
/// vector zero-padded; the outputs outside the interior one at a time.
#[multiversion::multiversion(targets = "simd")]
#[allow(clippy::too_many_arguments)]
fn conv_direct_grad_w_example(
    d_w: &mut [f32],
    d_b: &mut [f32],
    dy: &[f32],
    x: &[f32],
    d: &Conv1dDims,
    len_out: usize,
    need_w: bool,
    need_b: bool,
) {
    let ck = d.c_in * d.kernel;
    if need_b {
        for (g, dyrow) in d_b.iter_mut().zip(dy.chunks_exact(len_out)) {
            *g += crate::lanes::sum(dyrow);
        }
    }
    if !need_w {
        return;
    }
    let inner = interior(d, len_out);
    let mut co = 0;
    while co < d.c_out {
        let c = if co + 4 <= d.c_out { 4 } else { 1 };
        let mut t = 0;
        while t < ck {
            let n = if t + 4 <= ck { 4 } else { 1 };
            match (c, n) {
                (4, 4) => grad_w_block::<4, 4>(d_w, dy, x, d, len_out, &inner, co, t),
                (4, _) => grad_w_block::<4, 1>(d_w, dy, x, d, len_out, &inner, co, t),
                (_, 4) => grad_w_block::<1, 4>(d_w, dy, x, d, len_out, &inner, co, t),
                _ => grad_w_block::<1, 1>(d_w, dy, x, d, len_out, &inner, co, t),
            }
            t += n;
        }
        co += c;
    }
    // The outputs outside the interior, each tap where it lands inside x.
    for (co, dyrow) in dy.chunks_exact(len_out).enumerate() {
        let dw = &mut d_w[co * ck..(co + 1) * ck];
        for l in (0..inner.start).chain(inner.end..len_out) {
            for (t, g) in dw.iter_mut().enumerate() {
                if let Some(i) = tap_index(d, t, l) {
                    *g += dyrow[l] * x[i];
                }
            }
        }
    }
}

/// `d_w[co + c, t + i] += Σ_{l ∈ inner} dy[co + c, l]·x[tap_offset(t + i) + l]` for `C`
/// channels by `N` taps, 16 outputs at a time in `C·N` sums of 16 lanes.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn grad_w_block<const C: usize, const N: usize>(
    d_w: &mut [f32],
    dy: &[f32],
    x: &[f32],
    d: &Conv1dDims,
    len_out: usize,
    inner: &std::ops::Range<usize>,
    co: usize,
    t: usize,
) {
    let ck = d.c_in * d.kernel;
    let len = inner.len();
    if len == 0 {
        // No output has all its taps inside x (padding wider than the input allows).
        return;
    }
    let full = len / 16;
    let dys: [&[[f32; 16]]; C] = core::array::from_fn(|c| {
        let r0 = (co + c) * len_out + inner.start;
        &dy[r0..r0 + 16 * full].as_chunks().0[..full]
    });
    let xs: [&[[f32; 16]]; N] = core::array::from_fn(|i| {
        let o = tap_offset(d, t + i, inner.start);
        &x[o..o + 16 * full].as_chunks().0[..full]
    });
    let mut acc = [[[0.0f32; 16]; N]; C];
    for v in 0..full {
        block_fma(
            &mut acc,
            &core::array::from_fn(|c| dys[c][v]),
            &core::array::from_fn(|i| xs[i][v]),
        );
    }
    // The last partial vector, zero-padded.
    let rest = len - 16 * full;
    if rest > 0 {
        let l0 = inner.start + 16 * full;
        let pad = |s: &[f32]| {
            let mut p = [0.0f32; 16];
            p[..rest].copy_from_slice(&s[..rest]);
            p
        };
        let dp: [[f32; 16]; C] = core::array::from_fn(|c| pad(&dy[(co + c) * len_out + l0..]));
        let xp: [[f32; 16]; N] = core::array::from_fn(|i| pad(&x[tap_offset(d, t + i, l0)..]));
        block_fma(&mut acc, &dp, &xp);
    }
    for (c, ac) in acc.iter().enumerate() {
        for (i, a) in ac.iter().enumerate() {
            d_w[(co + c) * ck + t + i] += sum16(a);
        }
    }
}

/// `acc[c][i] += dy[c] ⊙ x[i]` lane by lane, one FMA each.
#[inline(always)]
fn block_fma<const C: usize, const N: usize>(
    acc: &mut [[[f32; 16]; N]; C],
    dy: &[[f32; 16]; C],
    x: &[[f32; 16]; N],
) {
    for c in 0..C {
        for i in 0..N {
            for j in 0..16 {
                acc[c][i][j] = dy[c][j].mul_add(x[i][j], acc[c][i][j]);
            }
        }
    }
}

/// The sum of 16 lanes as a tree (in sequence they are a chain of dependent additions).
#[inline(always)]
fn sum16(a: &[f32; 16]) -> f32 {
    let mut v = *a;
    for w in [8, 4, 2, 1] {
        for i in 0..w {
            v[i] += v[i + w];
        }
    }
    v[0]
}

/// `W` as a `(c_out, c_in·K)` matrix.
fn w_mat<'a>(w: &'a [f32], d: &Conv1dDims) -> MatRef<'a, f32> {
    MatRef::from_row_major_slice(w, d.c_out, d.c_in * d.kernel)
}

/// `out = conv1d(x, w) + b`, see the module docs for shapes. PyTorch `Conv1d` semantics
/// (cross-correlation, zero padding). Uses [`conv1d_scratch_len`] floats of per-thread
/// scratch (allocated once per thread, then reused).
pub fn conv1d(
    out: &mut [f32],
    x: &[f32],
    w: &[f32],
    b: &[f32],
    dims: Conv1dDims,
) -> Result<(), KernelError> {
    let len_out = dims.check("conv1d", out.len(), x.len(), w.len(), b.len())?;
    let d = &dims;
    let per_out = d.c_out * len_out;
    let per_in = d.c_in * d.len_in;
    let bp = par::units_per_piece(d.batch, 2 * per_out * d.c_in * d.kernel);
    let chunks = (par::Mut(out, bp * per_out), par::Ref(x, bp * per_in));
    par::for_each_chunk(chunks, |_, (par::Mut(ys, _), par::Ref(xs, _))| {
        for (y, xb) in ys.chunks_exact_mut(per_out).zip(xs.chunks_exact(per_in)) {
            conv_example(y, xb, w, b, d, len_out);
        }
    });
    Ok(())
}

/// One example of the forward on the calling thread, `y (c_out, len_out) = W ⋆ x_b + b`: the
/// direct path, or im2col into this thread's buffer and one GEMM.
pub(crate) fn conv_example(
    y: &mut [f32],
    xb: &[f32],
    w: &[f32],
    b: &[f32],
    d: &Conv1dDims,
    len_out: usize,
) {
    if direct(d) {
        return conv_direct_example(y, xb, w, b, d, len_out);
    }
    let ck = d.c_in * d.kernel;
    with_cols(ck * len_out, |cols| {
        im2col(cols, xb, d, len_out, len_out);
        for (row, &bv) in y.chunks_exact_mut(len_out).zip(b) {
            row.fill(bv);
        }
        // Y_b (c_out, len_out) += W (c_out, c_in·K) · cols (c_in·K, len_out)
        gemm_seq(
            MatMut::from_row_major_slice_mut(y, d.c_out, len_out),
            w_mat(w, d),
            MatRef::from_row_major_slice(cols, ck, len_out),
            true,
        );
    })
}

/// Pullback of [`conv1d`]:
/// `d_b[co] += Σ_{b,l} d_out[b,co,l]`,
/// `d_w[co,ci,k] += Σ_{b,l} d_out[b,co,l]·x[b,ci,l·s+k·dil−pad]`,
/// `d_x[b,ci,l·s+k·dil−pad] += Σ_co w[co,ci,k]·d_out[b,co,l]`; zeroes `d_out`.
/// An empty `d_x`, `d_w` or `d_b` is not computed (skipping `d_x` for a network's input saves
/// a GEMM and a col2im per example); an empty `d_out` means a zero seed.
pub fn conv1d_pullback(
    out: &mut [f32],
    x: &[f32],
    w: &[f32],
    b: &[f32],
    dims: Conv1dDims,
    d_out: &mut [f32],
    d_x: &mut [f32],
    d_w: &mut [f32],
    d_b: &mut [f32],
) -> Result<(), KernelError> {
    const K: &str = "conv1d_pullback";
    let len_out = dims.check(K, out.len(), x.len(), w.len(), b.len())?;
    let need_out = check_adj(
        K,
        "d_out",
        d_out.len(),
        out.len(),
        "[batch, c_out, len_out]",
    )?;
    let need_x = check_adj(K, "d_x", d_x.len(), x.len(), "[batch, c_in, len_in]")?;
    let need_w = check_adj(K, "d_w", d_w.len(), w.len(), "[c_out, c_in, kernel]")?;
    let need_b = check_adj(K, "d_b", d_b.len(), b.len(), "[c_out]")?;
    if !need_out {
        return Ok(());
    }
    let need = Needed {
        x: need_x,
        w: need_w,
        b: need_b,
    };
    conv_pullback_checked(x, w, &dims, len_out, d_out, d_x, d_w, d_b, need);
    Ok(())
}

/// Which input adjoints a pullback computes (the non-empty ones).
#[derive(Clone, Copy)]
pub(crate) struct Needed {
    pub(crate) x: bool,
    pub(crate) w: bool,
    pub(crate) b: bool,
}

/// [`conv1d_pullback`] after its checks (lengths valid, `d_out` non-empty); zeroes `d_out`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn conv_pullback_checked(
    x: &[f32],
    w: &[f32],
    d: &Conv1dDims,
    len_out: usize,
    d_out: &mut [f32],
    d_x: &mut [f32],
    d_w: &mut [f32],
    d_b: &mut [f32],
    need: Needed,
) {
    let Needed {
        x: need_x,
        w: need_w,
        b: need_b,
    } = need;
    let per_out = d.c_out * len_out;
    let per_in = d.c_in * d.len_in;
    let ck = d.c_in * d.kernel;
    let bp = par::units_per_piece(d.batch, 2 * per_out * ck);
    let n_pieces = d.batch.div_ceil(bp);

    // Split over the batch. Each piece takes its examples a group at a time, side by side:
    // `dys (c_out, g·len_out)` is the group's d_out, `cols (c_in·K, g·len_out)` its im2col
    // matrix, so that d_w (c_out, c_in·K) += dys · colsᵀ is one product with a long inner
    // dimension (per-example products with K = len_out and a 16×16 output ran at ~25 GFLOP/s),
    // and d_x gets dcols = Wᵀ · dys in one product, scattered back (col2im) per example.
    // d_w and d_b are summed into a zeroed partial [d_w | d_b] per piece (scratch of the
    // calling thread) and the partials added up at the end; d_out is zeroed once read.
    let group = (GROUP_FLOATS / (ck * len_out).max(1)).clamp(1, bp);
    let part_len = w.len() + d.c_out;
    let grad_w = need_w || need_b;
    with_scratch(&PARTIALS, n_pieces * part_len, |parts| {
        parts.fill(0.0);
        let piece = |part: &mut [f32], dyp: &mut [f32], xp: &[f32], dxp: &mut [f32]| {
            let (pw, pb) = part.split_at_mut(part_len - d.c_out);
            // Direct layers: d_w and d_b without im2col, whether d_x is wanted or not (the
            // same bits either way); then d_x alone by the GEMM below.
            let (gemm_w, gemm_b) = if direct(d) {
                for (dy, xb) in dyp.chunks_exact(per_out).zip(xp.chunks_exact(per_in)) {
                    conv_direct_grad_w_example(pw, pb, dy, xb, d, len_out, need_w, need_b);
                }
                if !need_x {
                    dyp.fill(0.0);
                    return;
                }
                (false, false)
            } else {
                (need_w, need_b)
            };
            let n_ex = dyp.len() / per_out;
            let mut e0 = 0;
            while e0 < n_ex {
                let g = group.min(n_ex - e0);
                let kk = g * len_out;
                with_scratch(&DYS, d.c_out * kk, |dys| {
                    // Gather the group's d_out side by side, then zero it.
                    let dyg = &mut dyp[e0 * per_out..(e0 + g) * per_out];
                    for (e, dy) in dyg.chunks_exact_mut(per_out).enumerate() {
                        for (co, row) in dy.chunks_exact(len_out).enumerate() {
                            let o = co * kk + e * len_out;
                            dys[o..o + len_out].copy_from_slice(row);
                        }
                        if gemm_b {
                            for (gb, row) in pb.iter_mut().zip(dy.chunks_exact(len_out)) {
                                *gb += par::sum(row);
                            }
                        }
                        dy.fill(0.0);
                    }
                    let dys_m = MatRef::from_row_major_slice(dys, d.c_out, kk);
                    with_cols(ck * kk, |cols| {
                        if gemm_w {
                            let xg = &xp[e0 * per_in..(e0 + g) * per_in];
                            for (e, xb) in xg.chunks_exact(per_in).enumerate() {
                                im2col(&mut cols[e * len_out..], xb, d, len_out, kk);
                            }
                            gemm_seq(
                                MatMut::from_row_major_slice_mut(pw, d.c_out, ck),
                                dys_m,
                                MatRef::from_row_major_slice(cols, ck, kk).transpose(),
                                true,
                            );
                        }
                        if need_x {
                            gemm_seq(
                                MatMut::from_row_major_slice_mut(cols, ck, kk),
                                w_mat(w, d).transpose(),
                                dys_m,
                                false,
                            );
                            let dxg = &mut dxp[e0 * per_in..(e0 + g) * per_in];
                            for (e, dx) in dxg.chunks_exact_mut(per_in).enumerate() {
                                col2im_add(dx, &cols[e * len_out..], d, len_out, kk);
                            }
                        }
                    });
                });
                e0 += g;
            }
        };
        let parts_dys_xs = (
            par::Mut(&mut *parts, part_len),
            par::Mut(&mut *d_out, bp * per_out),
            par::Ref(x, bp * per_in),
        );
        if need_x {
            let chunks = (
                parts_dys_xs.0,
                parts_dys_xs.1,
                parts_dys_xs.2,
                par::Mut(&mut *d_x, bp * per_in),
            );
            par::for_each_chunk(chunks, |_, (part, dyp, xp, dxp)| {
                piece(part.0, dyp.0, xp.0, dxp.0)
            });
        } else {
            par::for_each_chunk(parts_dys_xs, |_, (part, dyp, xp)| {
                piece(part.0, dyp.0, xp.0, &mut [])
            });
        }
        if grad_w {
            for part in parts.chunks_exact(part_len) {
                let (pw, pb) = part.split_at(part_len - d.c_out);
                if need_w {
                    for (g, &v) in d_w.iter_mut().zip(pw) {
                        *g += v;
                    }
                }
                if need_b {
                    for (g, &v) in d_b.iter_mut().zip(pb) {
                        *g += v;
                    }
                }
            }
        }
    });
}
