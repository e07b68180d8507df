//! 1-D max and average pooling over the last axis, and their pullbacks.
//!
//! Shapes: `x: [rows, len_in]` (rows = batch·channels), `out: [rows, len_out]`,
//! `len_out = (len_in + 2·padding − kernel) / stride + 1`; padding counts as −∞ for max
//! pooling and as 0 for average pooling (PyTorch's `count_include_pad=True`).

use std::sync::atomic::{AtomicUsize, Ordering};

use crate::error::{check_adj, check_len, check_positive, size, KernelError};

use crate::par;

/// Dimensions of a pooling call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pool1dDims {
    /// Independent rows (batch·channels).
    pub rows: usize,
    pub len_in: usize,
    pub kernel: usize,
    pub stride: usize,
    /// Must be `< kernel`, so that every window sees at least one input element.
    pub padding: usize,
}

impl Pool1dDims {
    /// Output length, or an error for a zero size, `padding >= kernel` or too short an input.
    pub fn len_out(&self) -> Result<usize, KernelError> {
        const K: &str = "pool1d";
        check_positive(K, "len_in", self.len_in)?;
        check_positive(K, "kernel", self.kernel)?;
        check_positive(K, "stride", self.stride)?;
        if self.padding >= self.kernel {
            return Err(KernelError::Dim {
                kernel: K,
                arg: "padding",
                value: self.padding,
                requirement: "< kernel",
            });
        }
        let padded = self
            .padding
            .checked_mul(2)
            .and_then(|p| p.checked_add(self.len_in))
            .ok_or(KernelError::Overflow {
                kernel: K,
                dims: [self.len_in, self.padding, 2, 1],
            })?;
        if padded < self.kernel {
            return Err(KernelError::Dim {
                kernel: K,
                arg: "len_in",
                value: self.len_in,
                requirement: "at least kernel − 2·padding",
            });
        }
        Ok((padded - self.kernel) / self.stride + 1)
    }

    pub(crate) fn check(
        &self,
        kernel: &'static str,
        out: usize,
        x: usize,
    ) -> Result<usize, KernelError> {
        let len_out = self.len_out()?;
        check_len(
            kernel,
            "out",
            out,
            size(kernel, &[self.rows, len_out])?,
            "[rows, len_out]",
        )?;
        check_len(
            kernel,
            "x",
            x,
            size(kernel, &[self.rows, self.len_in])?,
            "[rows, len_in]",
        )?;
        Ok(len_out)
    }

    /// Windows tile the input without overlap or padding (`stride == kernel`, `padding == 0`,
    /// the usual `MaxPool1d(k)`): window `l` is exactly `[l·k, l·k + k)`.
    fn tiles(&self) -> bool {
        self.stride == self.kernel && self.padding == 0
    }

    /// Input range of window `l` (clipped to the input).
    fn window(&self, l: usize) -> (usize, usize) {
        let start = l * self.stride;
        let a = start.saturating_sub(self.padding);
        let b = (start + self.kernel)
            .saturating_sub(self.padding)
            .min(self.len_in);
        (a, b)
    }
}

/// Max pooling: `out[r, l] = max over the window`, and `argmax[r, l]` (caller-owned,
/// `[rows, len_out]`) records the winning column in `0..len_in` for the pullback. A NaN in a
/// window wins (propagates), as in PyTorch.
pub fn max_pool1d(
    out: &mut [f32],
    x: &[f32],
    argmax: &mut [usize],
    dims: Pool1dDims,
) -> Result<(), KernelError> {
    pool_rows("max_pool1d", out, x, argmax, dims, 1, |orow, arow, xrow| {
        if dims.tiles() {
            max_pool_row_tiled(orow, arow, xrow, dims.kernel);
        } else {
            max_pool_row(orow, arow, xrow, &dims);
        }
    })
}

/// The max-pool forwards' frame: checks the lengths, then runs `row(out, argmax, x)` on every
/// row, rows split across threads (`cost` element-ops per input element).
fn pool_rows(
    kernel: &'static str,
    out: &mut [f32],
    x: &[f32],
    argmax: &mut [usize],
    dims: Pool1dDims,
    cost: usize,
    row: impl Fn(&mut [f32], &mut [usize], &[f32]) + Sync,
) -> Result<(), KernelError> {
    let len_out = dims.check(kernel, out.len(), x.len())?;
    check_len(kernel, "argmax", argmax.len(), out.len(), "[rows, len_out]")?;
    let d = dims;
    let rp = par::units_per_piece(d.rows, cost * d.len_in);
    let chunks = (
        par::Mut(out, rp * len_out),
        par::Mut(argmax, rp * len_out),
        par::Ref(x, rp * d.len_in),
    );
    par::for_each_chunk(
        chunks,
        |_, (par::Mut(o, _), par::Mut(am, _), par::Ref(x, _))| {
            for ((orow, arow), xrow) in o
                .chunks_exact_mut(len_out)
                .zip(am.chunks_exact_mut(len_out))
                .zip(x.chunks_exact(d.len_in))
            {
                row(orow, arow, xrow);
            }
        },
    );
    Ok(())
}

/// One row of max pooling over tiling windows of `k` (see [`Pool1dDims::tiles`]), with the
/// common window sizes unrolled; cloned for AVX-512 and AVX2 and picked at run time.
#[multiversion::multiversion(targets = "simd")]
fn max_pool_row_tiled(orow: &mut [f32], arow: &mut [usize], xrow: &[f32], k: usize) {
    match k {
        2 => max_pool_row_k::<2>(orow, arow, xrow),
        3 => max_pool_row_k::<3>(orow, arow, xrow),
        4 => max_pool_row_k::<4>(orow, arow, xrow),
        8 => max_pool_row_k::<8>(orow, arow, xrow),
        _ => {
            for (l, ((o, am), win)) in orow
                .iter_mut()
                .zip(arow.iter_mut())
                .zip(xrow.chunks_exact(k))
                .enumerate()
            {
                let (best, bv) = window_max(win);
                *o = bv;
                *am = l * k + best;
            }
        }
    }
}

#[inline(always)]
fn max_pool_row_k<const K: usize>(orow: &mut [f32], arow: &mut [usize], xrow: &[f32]) {
    let (wins, _) = xrow.as_chunks::<K>();
    for (l, ((o, am), win)) in orow.iter_mut().zip(arow.iter_mut()).zip(wins).enumerate() {
        let (best, bv) = window_max(win);
        *o = bv;
        *am = l * K + best;
    }
}

/// Position and value of the maximum of a non-empty window; the first NaN wins, else the
/// first maximum. The selects are bit masks, so random data costs no branch mispredictions.
#[inline(always)]
fn window_max(win: &[f32]) -> (usize, f32) {
    window_max_of(win, |v| v)
}

/// [`window_max`] of `f` applied to each element of the window.
#[inline(always)]
fn window_max_of(win: &[f32], f: impl Fn(f32) -> f32) -> (usize, f32) {
    let (mut best, mut bv) = (0u32, f(win[0]).to_bits());
    for (j, v) in win.iter().map(|&v| f(v)).enumerate().skip(1) {
        let cur = f32::from_bits(bv);
        let take = (v > cur) | (v.is_nan() & !cur.is_nan());
        let mask = u32::from(take).wrapping_neg();
        bv = (v.to_bits() & mask) | (bv & !mask);
        best = (j as u32 & mask) | (best & !mask);
    }
    (best as usize, f32::from_bits(bv))
}

/// The first entry of `argmax` that is `>= bound` (a position the forward cannot have
/// recorded) as an error, `argmax` scanned in pieces of `chunk` on the kernels' threads.
pub(crate) fn check_argmax(
    kernel: &'static str,
    argmax: &[usize],
    bound: usize,
    chunk: usize,
) -> Result<(), KernelError> {
    let first_bad = AtomicUsize::new(usize::MAX);
    par::for_each_chunk(par::Ref(argmax, chunk.max(1)), |p, piece| {
        if let Some(i) = first_bad_argmax(piece.0, bound) {
            first_bad.fetch_min(p * chunk.max(1) + i, Ordering::Relaxed);
        }
    });
    match first_bad.into_inner() {
        usize::MAX => Ok(()),
        position => Err(KernelError::Index {
            kernel,
            arg: "argmax",
            position,
            value: argmax[position],
            bound,
        }),
    }
}

/// Index of the first entry of `argmax` that is `>= len_in` (cannot have been written by the
/// forward).
#[multiversion::multiversion(targets = "simd")]
fn first_bad_argmax(argmax: &[usize], len_in: usize) -> Option<usize> {
    // A branch-free scan first; the position is only searched for when something is wrong.
    if argmax.iter().fold(false, |bad, &j| bad | (j >= len_in)) {
        argmax.iter().position(|&j| j >= len_in)
    } else {
        None
    }
}

/// One row of max pooling, general windows (stride, padding).
fn max_pool_row(orow: &mut [f32], arow: &mut [usize], xrow: &[f32], d: &Pool1dDims) {
    for (l, (o, am)) in orow.iter_mut().zip(arow.iter_mut()).enumerate() {
        let (a, b) = d.window(l);
        let (best, bv) = window_max(&xrow[a..b]);
        *o = bv;
        *am = a + best;
    }
}

/// Pullback of [`max_pool1d`]: `d_x[r, argmax[r,l]] += d_out[r, l]`; zeroes `d_out`.
/// An `argmax` entry `>= len_in` (not written by the forward) is an error. An empty `d_x` is
/// not computed; an empty `d_out` means a zero seed.
pub fn max_pool1d_pullback(
    out: &mut [f32],
    x: &[f32],
    argmax: &mut [usize],
    dims: Pool1dDims,
    d_out: &mut [f32],
    d_x: &mut [f32],
) -> Result<(), KernelError> {
    pool_scatter(
        "max_pool1d_pullback",
        out,
        x,
        argmax,
        dims,
        d_out,
        d_x,
        false,
    )
}

/// The max-pool pullbacks' scatter, `d_x[r, argmax[r, l]] += d_out[r, l]`, masked by
/// `x > 0` at the target when `relu` (see [`relu_max_pool1d_pullback`]).
#[allow(clippy::too_many_arguments)]
fn pool_scatter(
    kernel: &'static str,
    out: &mut [f32],
    x: &[f32],
    argmax: &mut [usize],
    dims: Pool1dDims,
    d_out: &mut [f32],
    d_x: &mut [f32],
    relu: bool,
) -> Result<(), KernelError> {
    let k = kernel;
    let len_out = dims.check(k, out.len(), x.len())?;
    check_len(k, "argmax", argmax.len(), out.len(), "[rows, len_out]")?;
    let need_out = check_adj(k, "d_out", d_out.len(), out.len(), "[rows, len_out]")?;
    let need_x = check_adj(k, "d_x", d_x.len(), x.len(), "[rows, len_in]")?;
    let d = dims;
    // A scatter with a bounds check per element, ~4 element-ops each (at 1 the W2 pooling
    // pullback, 260k elements, stayed on one thread: ~4% of its step's samples).
    let rp = par::units_per_piece(d.rows, 4 * len_out);
    // Check every recorded position before writing anything, so a bad `argmax` leaves
    // `d_x` untouched.
    check_argmax(k, argmax, d.len_in, rp * len_out)?;
    if !need_out {
        return Ok(());
    }
    if need_x {
        let chunks = (
            par::Mut(d_out, rp * len_out),
            par::Ref(argmax, rp * len_out),
            par::Mut(d_x, rp * d.len_in),
            par::Ref(x, rp * d.len_in),
        );
        par::for_each_chunk(
            chunks,
            |_, (par::Mut(dy, _), par::Ref(am, _), par::Mut(dx, _), par::Ref(xs, _))| {
                for (((dyrow, arow), dxrow), xrow) in dy
                    .chunks_exact_mut(len_out)
                    .zip(am.chunks_exact(len_out))
                    .zip(dx.chunks_exact_mut(d.len_in))
                    .zip(xs.chunks_exact(d.len_in))
                {
                    for (g, &j) in dyrow.iter_mut().zip(arow) {
                        if !relu || xrow[j] > 0.0 {
                            dxrow[j] += *g;
                        }
                        *g = 0.0;
                    }
                }
            },
        );
    } else {
        d_out.fill(0.0);
    }
    Ok(())
}

/// `max_pool1d(relu(x))` in one pass: `out[r, l] = max(0, max over the window)`, with
/// `argmax[r, l]` the winning column as [`max_pool1d`] records it for `relu(x)` (a NaN in `x`
/// counts as 0, as [`crate::relu`] makes it).
///
/// Why fused: a convolution → ReLU → max-pool stage (W2) otherwise writes and reads the ReLU's
/// output once more in each direction, and the ReLU's map and pullback were ~8% of W2's step.
/// The results are those of [`crate::relu`] followed by [`max_pool1d`], bit for bit.
pub fn relu_max_pool1d(
    out: &mut [f32],
    x: &[f32],
    argmax: &mut [usize],
    dims: Pool1dDims,
) -> Result<(), KernelError> {
    pool_rows(
        "relu_max_pool1d",
        out,
        x,
        argmax,
        dims,
        2,
        |orow, arow, xrow| relu_max_pool_row(orow, arow, xrow, &dims),
    )
}

/// One row of [`relu_max_pool1d`]; cloned for AVX-512 and AVX2 and picked at run time.
#[multiversion::multiversion(targets = "simd")]
pub(crate) fn relu_max_pool_row(
    orow: &mut [f32],
    arow: &mut [usize],
    xrow: &[f32],
    d: &Pool1dDims,
) {
    let mut done = 0;
    if d.tiles() && d.kernel == 4 {
        // W2's windows, 16 at a time, lane by lane so that LLVM vectorises across windows.
        // The ReLU's values are never NaN, so a strict `>` keeps the first maximum, as
        // `window_max` does.
        let (xs, _) = xrow.as_chunks::<64>();
        let (os, _) = orow.as_chunks_mut::<16>();
        let (ams, _) = arow.as_chunks_mut::<16>();
        for (b, ((o, am), x)) in os.iter_mut().zip(ams.iter_mut()).zip(xs).enumerate() {
            let mut best = [0.0f32; 16];
            let mut at = [0usize; 16];
            for l in 0..16 {
                best[l] = relu1(x[4 * l]);
            }
            for j in 1..4 {
                for l in 0..16 {
                    let v = relu1(x[4 * l + j]);
                    let take = v > best[l];
                    best[l] = if take { v } else { best[l] };
                    at[l] = if take { j } else { at[l] };
                }
            }
            for l in 0..16 {
                o[l] = best[l];
                am[l] = 64 * b + 4 * l + at[l];
            }
        }
        done = os.len() * 16;
    }
    for (l, (o, am)) in orow.iter_mut().zip(arow.iter_mut()).enumerate().skip(done) {
        let (a, b) = d.window(l);
        let (best, bv) = window_max_of(&xrow[a..b], relu1);
        *o = bv;
        *am = a + best;
    }
}

/// The ReLU of one element, as [`crate::relu`] computes it (NaN → 0).
#[inline(always)]
fn relu1(v: f32) -> f32 {
    v.max(0.0)
}

/// Pullback of [`relu_max_pool1d`]: `d_x[r, j] += d_out[r, l]·[x[r, j] > 0]` at
/// `j = argmax[r, l]`; zeroes `d_out`. Errors, empty adjoints and the order of the additions
/// are those of [`max_pool1d_pullback`] (followed by [`crate::relu_pullback`]: the same sums
/// when windows do not overlap, as in W2).
pub fn relu_max_pool1d_pullback(
    out: &mut [f32],
    x: &[f32],
    argmax: &mut [usize],
    dims: Pool1dDims,
    d_out: &mut [f32],
    d_x: &mut [f32],
) -> Result<(), KernelError> {
    pool_scatter(
        "relu_max_pool1d_pullback",
        out,
        x,
        argmax,
        dims,
        d_out,
        d_x,
        true,
    )
}

/// Average pooling: `out[r, l] = (1/kernel) Σ_window x[r, j]` (zero padding counted).
pub fn avg_pool1d(out: &mut [f32], x: &[f32], dims: Pool1dDims) -> Result<(), KernelError> {
    let len_out = dims.check("avg_pool1d", out.len(), x.len())?;
    let inv = 1.0 / dims.kernel as f32;
    for (orow, xrow) in out
        .chunks_exact_mut(len_out)
        .zip(x.chunks_exact(dims.len_in))
    {
        for (l, o) in orow.iter_mut().enumerate() {
            let (a, b) = dims.window(l);
            *o = xrow[a..b].iter().sum::<f32>() * inv;
        }
    }
    Ok(())
}

/// Pullback of [`avg_pool1d`]: `d_x[r, j] += d_out[r, l] / kernel` for each window `l`
/// containing `j`; zeroes `d_out`.
pub fn avg_pool1d_pullback(
    out: &mut [f32],
    x: &[f32],
    dims: Pool1dDims,
    d_out: &mut [f32],
    d_x: &mut [f32],
) -> Result<(), KernelError> {
    const K: &str = "avg_pool1d_pullback";
    let len_out = dims.check(K, out.len(), x.len())?;
    let need_out = check_adj(K, "d_out", d_out.len(), out.len(), "[rows, len_out]")?;
    let need_x = check_adj(K, "d_x", d_x.len(), x.len(), "[rows, len_in]")?;
    let inv = 1.0 / dims.kernel as f32;
    if need_out && need_x {
        for (dyrow, dxrow) in d_out
            .chunks_exact(len_out)
            .zip(d_x.chunks_exact_mut(dims.len_in))
        {
            for (l, &g) in dyrow.iter().enumerate() {
                let (a, b) = dims.window(l);
                for v in &mut dxrow[a..b] {
                    *v += g * inv;
                }
            }
        }
    }
    d_out.fill(0.0);
    Ok(())
}
