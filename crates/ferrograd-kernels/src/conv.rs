//! 1-D convolution (cross-correlation, as PyTorch's `Conv1d`) with stride, zero padding and
//! dilation, and its pullback.
//!
//! Shapes: `x: [batch, c_in, len_in]`, `w: [c_out, c_in, kernel]`, `b: [c_out]`,
//! `out: [batch, c_out, len_out]`, `len_out = (len_in + 2·padding − dilation·(kernel−1) − 1) / stride + 1`.
//!
//! im2col + GEMM, one batch element at a time: `cols_b[(ci,k), l] = x[b, ci, l·s + k·dil − pad]`
//! (`[c_in·K, len_out]`), forward `Y_b = W·cols_b + b`, `dW += dY_b·cols_bᵀ`,
//! `dcols_b = Wᵀ·dY_b` scattered back into `dX` (col2im). The im2col matrix lives in a
//! per-thread buffer ([`conv1d_scratch_len`] floats) that is allocated on a thread's first call
//! and reused, so it needs no f32 scratch parameter (which the AD contract would treat as
//! differentiable). Work is split over the batch (forward, `d_x`) and over `c_out` (`d_w`).
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

    fn check(
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

thread_local! {
    /// Per-thread im2col buffer, grown on first use and reused: steady-state calls do not
    /// allocate (rayon's workers are long-lived).
    static COLS: std::cell::Cell<Vec<f32>> = const { std::cell::Cell::new(Vec::new()) };
}

/// Runs `f` on this thread's scratch buffer of `len` floats. The buffer is taken out of the
/// thread-local for the duration, so a re-entrant call (work stolen while waiting) simply gets
/// a fresh buffer instead of panicking.
fn with_cols<R>(len: usize, f: impl FnOnce(&mut [f32]) -> R) -> R {
    let mut buf = COLS.with(|c| c.take());
    if buf.len() < len {
        buf.resize(len, 0.0);
    }
    let r = f(&mut buf[..len]);
    COLS.with(|c| {
        let other = c.take();
        c.set(if other.len() > buf.len() { other } else { buf });
    });
    r
}

/// `cols[(ci·K + k), l] = x[ci, l·s + k·dil − pad]` (0 in the padding); `cols: [c_in·K, len_out]`.
fn im2col(cols: &mut [f32], x: &[f32], d: &Conv1dDims, len_out: usize) {
    let s = d.stride as i64;
    for (ci, xrow) in x.chunks_exact(d.len_in).enumerate() {
        for k in 0..d.kernel {
            let row = &mut cols[(ci * d.kernel + k) * len_out..(ci * d.kernel + k + 1) * len_out];
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

/// `dx[ci, l·s + k·dil − pad] += cols[(ci·K + k), l]` for in-range positions.
fn col2im_add(dx: &mut [f32], cols: &[f32], d: &Conv1dDims, len_out: usize) {
    let s = d.stride as i64;
    for (ci, dxrow) in dx.chunks_exact_mut(d.len_in).enumerate() {
        for k in 0..d.kernel {
            let row = &cols[(ci * d.kernel + k) * len_out..(ci * d.kernel + k + 1) * len_out];
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
    let ck = d.c_in * d.kernel;
    let pieces = par::pieces(d.batch, 2 * per_out * ck);
    par::for_each_piece(out, d.batch, pieces, &|first, ys: &mut [f32]| {
        with_cols(ck * len_out, |cols| {
            for (i, y) in ys.chunks_exact_mut(per_out).enumerate() {
                let bi = first + i;
                im2col(cols, &x[bi * per_in..(bi + 1) * per_in], d, len_out);
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
            }
        })
    });
    Ok(())
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
    let d = &dims;
    let per_out = d.c_out * len_out;
    let per_in = d.c_in * d.len_in;
    let ck = d.c_in * d.kernel;
    let dy: &[f32] = d_out;

    // d_b = Σ_{b,l} dY
    if need_b {
        for yb in dy.chunks_exact(per_out) {
            for (g, row) in d_b.iter_mut().zip(yb.chunks_exact(len_out)) {
                *g += row.iter().sum::<f32>();
            }
        }
    }

    // d_w (c_out, c_in·K) += Σ_b dY_b (c_out, len_out) · cols_bᵀ; split over c_out (rows of
    // d_w are contiguous), each piece rebuilding the im2col matrix it needs.
    if need_w {
        let pieces = par::pieces(d.c_out, 2 * d.batch * len_out * ck);
        par::for_each_piece(d_w, d.c_out, pieces, &|co0, dw: &mut [f32]| {
            let n_co = dw.len() / ck;
            with_cols(ck * len_out, |cols| {
                for bi in 0..d.batch {
                    im2col(cols, &x[bi * per_in..(bi + 1) * per_in], d, len_out);
                    let yb =
                        &dy[bi * per_out + co0 * len_out..bi * per_out + (co0 + n_co) * len_out];
                    gemm_seq(
                        MatMut::from_row_major_slice_mut(dw, n_co, ck),
                        MatRef::from_row_major_slice(yb, n_co, len_out),
                        MatRef::from_row_major_slice(cols, ck, len_out).transpose(),
                        true,
                    );
                }
            })
        });
    }

    // d_x: dcols_b (c_in·K, len_out) = Wᵀ · dY_b, then scattered back (col2im); split over
    // the batch.
    if need_x {
        let pieces = par::pieces(d.batch, 2 * per_out * ck);
        par::for_each_piece(d_x, d.batch, pieces, &|first, dxs: &mut [f32]| {
            with_cols(ck * len_out, |cols| {
                for (i, dx) in dxs.chunks_exact_mut(per_in).enumerate() {
                    let bi = first + i;
                    gemm_seq(
                        MatMut::from_row_major_slice_mut(cols, ck, len_out),
                        w_mat(w, d).transpose(),
                        MatRef::from_row_major_slice(
                            &dy[bi * per_out..(bi + 1) * per_out],
                            d.c_out,
                            len_out,
                        ),
                        false,
                    );
                    col2im_add(dx, cols, d, len_out);
                }
            })
        });
    }

    d_out.fill(0.0);
    Ok(())
}
