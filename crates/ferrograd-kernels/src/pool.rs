//! 1-D max and average pooling over the last axis, and their pullbacks.
//!
//! Shapes: `x: [rows, len_in]` (rows = batch·channels), `out: [rows, len_out]`,
//! `len_out = (len_in + 2·padding − kernel) / stride + 1`; padding counts as −∞ for max
//! pooling and as 0 for average pooling (PyTorch's `count_include_pad=True`).

use crate::error::{check_adj, check_len, check_positive, size, KernelError};

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

    fn check(&self, kernel: &'static str, out: usize, x: usize) -> Result<usize, KernelError> {
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
    const K: &str = "max_pool1d";
    let len_out = dims.check(K, out.len(), x.len())?;
    check_len(K, "argmax", argmax.len(), out.len(), "[rows, len_out]")?;
    for ((orow, arow), xrow) in out
        .chunks_exact_mut(len_out)
        .zip(argmax.chunks_exact_mut(len_out))
        .zip(x.chunks_exact(dims.len_in))
    {
        for (l, (o, am)) in orow.iter_mut().zip(arow.iter_mut()).enumerate() {
            let (a, b) = dims.window(l);
            let win = &xrow[a..b];
            let (mut best, mut bv) = (0, win[0]);
            for (j, &v) in win.iter().enumerate().skip(1) {
                if v > bv || (v.is_nan() && !bv.is_nan()) {
                    best = j;
                    bv = v;
                }
            }
            *o = bv;
            *am = a + best;
        }
    }
    Ok(())
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
    const K: &str = "max_pool1d_pullback";
    let len_out = dims.check(K, out.len(), x.len())?;
    check_len(K, "argmax", argmax.len(), out.len(), "[rows, len_out]")?;
    let need_out = check_adj(K, "d_out", d_out.len(), out.len(), "[rows, len_out]")?;
    let need_x = check_adj(K, "d_x", d_x.len(), x.len(), "[rows, len_in]")?;
    if let Some(position) = argmax.iter().position(|&j| j >= dims.len_in) {
        return Err(KernelError::Index {
            kernel: K,
            arg: "argmax",
            position,
            value: argmax[position],
            bound: dims.len_in,
        });
    }
    if need_out && need_x {
        for ((dyrow, arow), dxrow) in d_out
            .chunks_exact(len_out)
            .zip(argmax.chunks_exact(len_out))
            .zip(d_x.chunks_exact_mut(dims.len_in))
        {
            for (&g, &j) in dyrow.iter().zip(arow) {
                dxrow[j] += g;
            }
        }
    }
    d_out.fill(0.0);
    Ok(())
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
