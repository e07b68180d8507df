//! Matrix products (row-major, f32) and their pullbacks.
//!
//! All three transposition variants the backward passes need are public kernels with their own
//! pullbacks. Underneath is one sequential [`faer`] product per thread: faer's safe views let
//! us describe transposed and strided operands without copies or `unsafe`; we split the output
//! across [`crate::num_threads`] threads ourselves (along its longer side) because faer's own
//! heuristics leave small MLP-sized products on one thread. See the crate README for the
//! measurements behind the choice.

use faer::{Accum, MatMut, MatRef, Par};

use crate::error::{check_adj, check_len, size, KernelError};
use crate::par;

/// `c ← a·b` (or `c += a·b` when `accumulate`), with `a: (m,k)`, `b: (k,n)`, `c: (m,n)` views.
/// Splits `c` across threads when the product is large enough.
pub(crate) fn gemm_view(
    c: MatMut<'_, f32>,
    a: MatRef<'_, f32>,
    b: MatRef<'_, f32>,
    accumulate: bool,
) {
    let (m, n, k) = (c.nrows(), c.ncols(), a.ncols());
    let flops = 2usize.saturating_mul(m).saturating_mul(n).saturating_mul(k);
    // The elements moved count as work too, the output's as a read-modify-write
    // (`par::RMW_COST`, as an optimizer's update): a batch-1 weight gradient `dyᵀ·x`
    // (128×1·1×784, 0.2 MFLOP) is a 400 KB write, not a small product. Split by rows, its
    // halves land in the cores that update them next; left on one thread, the other core's
    // half of the SGD update read and zeroed lines from the first core's cache (W1a at batch 1
    // on 2 threads: 59 → 22 µs a step, measured; the same bits, since a split never changes a
    // sum over `k`).
    let traffic = m
        .saturating_mul(n)
        .saturating_mul(par::RMW_COST)
        .saturating_add(m.saturating_mul(k))
        .saturating_add(k.saturating_mul(n));
    let work = flops.saturating_add(traffic);
    let pieces = par::num_threads().min((work / par::MIN_WORK_PER_THREAD).max(1));
    gemm_split(c, a, b, accumulate, pieces);
}

fn gemm_split(
    c: MatMut<'_, f32>,
    a: MatRef<'_, f32>,
    b: MatRef<'_, f32>,
    accumulate: bool,
    pieces: usize,
) {
    let (m, n) = (c.nrows(), c.ncols());
    if pieces <= 1 || (m < 16 && n < 16) {
        gemm_seq(c, a, b, accumulate);
        return;
    }
    // Split rows of c and a when each piece keeps at least 64 of them (measured: the weight
    // gradient 128×64·64×784 of W1a runs at 194 GFLOP/s split by rows vs 174 by columns, and
    // its rows then land where the optimizer's first/second half reads them), else the longer
    // side. Pieces are a multiple of 8 rows/columns for the micro-kernel.
    let rows = m >= n || m >= 64 * pieces;
    let len = if rows { m } else { n };
    let per = len.div_ceil(pieces).next_multiple_of(8).min(len);
    let blocks = Blocks { c, a, b, rows, per };
    par::for_each_chunk(blocks, |_, p| gemm_seq(p.c, p.a, p.b, accumulate));
}

/// A product cut into blocks of `per` rows of `c` and `a` (`rows`) or `per` columns of `c`
/// and `b`: the pieces [`par::for_each_chunk`] hands to threads.
struct Blocks<'a> {
    c: MatMut<'a, f32>,
    a: MatRef<'a, f32>,
    b: MatRef<'a, f32>,
    rows: bool,
    per: usize,
}

impl par::Chunks for Blocks<'_> {
    fn count(&self) -> usize {
        let len = if self.rows {
            self.c.nrows()
        } else {
            self.c.ncols()
        };
        len.div_ceil(self.per.max(1))
    }

    fn split(self, k: usize) -> (Self, Self) {
        let Blocks { c, a, b, rows, per } = self;
        let block = |c, a, b| Blocks { c, a, b, rows, per };
        if rows {
            let at = (k * per).min(c.nrows());
            let (c0, c1) = c.split_at_row_mut(at);
            let (a0, a1) = a.split_at_row(at);
            (block(c0, a0, b), block(c1, a1, b))
        } else {
            let at = (k * per).min(c.ncols());
            let (c0, c1) = c.split_at_col_mut(at);
            let (b0, b1) = b.split_at_col(at);
            (block(c0, a, b0), block(c1, a, b1))
        }
    }
}

pub(crate) fn gemm_seq(
    mut c: MatMut<'_, f32>,
    a: MatRef<'_, f32>,
    b: MatRef<'_, f32>,
    accumulate: bool,
) {
    if c.nrows() == 0 || c.ncols() == 0 {
        return;
    }
    if a.ncols() == 0 {
        if !accumulate {
            c.fill(0.0);
        }
        return;
    }
    let beta = if accumulate {
        Accum::Add
    } else {
        Accum::Replace
    };
    faer::linalg::matmul::matmul(c, beta, a, b, 1.0f32, Par::Seq);
}

/// Which operands are stored transposed.
#[derive(Clone, Copy)]
enum Layout {
    /// `a: [m,k]`, `b: [k,n]`
    Nn,
    /// `a: [m,k]`, `b: [n,k]`
    Nt,
    /// `a: [k,m]`, `b: [k,n]`
    Tn,
}

/// Row-major `(rows, cols)` view of a slice whose length was checked.
fn view(s: &[f32], rows: usize, cols: usize) -> MatRef<'_, f32> {
    MatRef::from_row_major_slice(s, rows, cols)
}

fn view_mut(s: &mut [f32], rows: usize, cols: usize) -> MatMut<'_, f32> {
    MatMut::from_row_major_slice_mut(s, rows, cols)
}

/// Checks the three slices of an `(m,k)x(k,n)` product in layout `l`.
fn check(
    kernel: &'static str,
    l: Layout,
    c: usize,
    a: usize,
    b: usize,
    m: usize,
    k: usize,
    n: usize,
) -> Result<(), KernelError> {
    let (sa, sb) = match l {
        Layout::Nn => ("[m, k]", "[k, n]"),
        Layout::Nt => ("[m, k]", "[n, k]"),
        Layout::Tn => ("[k, m]", "[k, n]"),
    };
    check_len(kernel, "out", c, size(kernel, &[m, n])?, "[m, n]")?;
    check_len(kernel, "a", a, size(kernel, &[m, k])?, sa)?;
    check_len(kernel, "b", b, size(kernel, &[k, n])?, sb)?;
    Ok(())
}

/// Checks the adjoints of an `(m,k)x(k,n)` product's pullback against the primal slices
/// (empty = not needed, see [`check_adj`]); returns `(need_out, need_a, need_b)`.
fn check_adjoints(
    kernel: &'static str,
    l: Layout,
    (c, a, b): (usize, usize, usize),
    (d_c, d_a, d_b): (usize, usize, usize),
) -> Result<(bool, bool, bool), KernelError> {
    let (sa, sb) = match l {
        Layout::Nn => ("[m, k]", "[k, n]"),
        Layout::Nt => ("[m, k]", "[n, k]"),
        Layout::Tn => ("[k, m]", "[k, n]"),
    };
    Ok((
        check_adj(kernel, "d_out", d_c, c, "[m, n]")?,
        check_adj(kernel, "d_a", d_a, a, sa)?,
        check_adj(kernel, "d_b", d_b, b, sb)?,
    ))
}

/// `c (m,n) ← or += op(a)·op(b)` on checked slices.
fn product(
    c: &mut [f32],
    a: &[f32],
    b: &[f32],
    m: usize,
    k: usize,
    n: usize,
    l: Layout,
    accumulate: bool,
) {
    let cv = view_mut(c, m, n);
    let (av, bv) = match l {
        Layout::Nn => (view(a, m, k), view(b, k, n)),
        Layout::Nt => (view(a, m, k), view(b, n, k).transpose()),
        Layout::Tn => (view(a, k, m).transpose(), view(b, k, n)),
    };
    gemm_view(cv, av, bv, accumulate);
}

/// `out = a·b` with `out: [m, n]`, `a: [m, k]`, `b: [k, n]` (row-major).
pub fn matmul(
    out: &mut [f32],
    a: &[f32],
    b: &[f32],
    m: usize,
    k: usize,
    n: usize,
) -> Result<(), KernelError> {
    check("matmul", Layout::Nn, out.len(), a.len(), b.len(), m, k, n)?;
    product(out, a, b, m, k, n, Layout::Nn, false);
    Ok(())
}

/// Pullback of [`matmul`]: `d_a += d_out·bᵀ` (m,k), `d_b += aᵀ·d_out` (k,n); zeroes `d_out`.
/// An empty `d_a` or `d_b` is not computed; an empty `d_out` means a zero seed.
pub fn matmul_pullback(
    out: &mut [f32],
    a: &[f32],
    b: &[f32],
    m: usize,
    k: usize,
    n: usize,
    d_out: &mut [f32],
    d_a: &mut [f32],
    d_b: &mut [f32],
) -> Result<(), KernelError> {
    pullback(
        "matmul_pullback",
        Layout::Nn,
        (out, a, b),
        (m, k, n),
        (d_out, d_a, d_b),
    )
}

/// `out = a·bᵀ` with `out: [m, n]`, `a: [m, k]`, `b: [n, k]` (row-major).
pub fn matmul_nt(
    out: &mut [f32],
    a: &[f32],
    b: &[f32],
    m: usize,
    k: usize,
    n: usize,
) -> Result<(), KernelError> {
    check(
        "matmul_nt",
        Layout::Nt,
        out.len(),
        a.len(),
        b.len(),
        m,
        k,
        n,
    )?;
    product(out, a, b, m, k, n, Layout::Nt, false);
    Ok(())
}

/// Pullback of [`matmul_nt`]: `d_a += d_out·b` (m,k), `d_b += d_outᵀ·a` (n,k); zeroes `d_out`.
pub fn matmul_nt_pullback(
    out: &mut [f32],
    a: &[f32],
    b: &[f32],
    m: usize,
    k: usize,
    n: usize,
    d_out: &mut [f32],
    d_a: &mut [f32],
    d_b: &mut [f32],
) -> Result<(), KernelError> {
    pullback(
        "matmul_nt_pullback",
        Layout::Nt,
        (out, a, b),
        (m, k, n),
        (d_out, d_a, d_b),
    )
}

/// `out = aᵀ·b` with `out: [m, n]`, `a: [k, m]`, `b: [k, n]` (row-major).
pub fn matmul_tn(
    out: &mut [f32],
    a: &[f32],
    b: &[f32],
    m: usize,
    k: usize,
    n: usize,
) -> Result<(), KernelError> {
    check(
        "matmul_tn",
        Layout::Tn,
        out.len(),
        a.len(),
        b.len(),
        m,
        k,
        n,
    )?;
    product(out, a, b, m, k, n, Layout::Tn, false);
    Ok(())
}

/// Pullback of [`matmul_tn`]: `d_a += b·d_outᵀ` (k,m), `d_b += a·d_out` (k,n); zeroes `d_out`.
pub fn matmul_tn_pullback(
    out: &mut [f32],
    a: &[f32],
    b: &[f32],
    m: usize,
    k: usize,
    n: usize,
    d_out: &mut [f32],
    d_a: &mut [f32],
    d_b: &mut [f32],
) -> Result<(), KernelError> {
    pullback(
        "matmul_tn_pullback",
        Layout::Tn,
        (out, a, b),
        (m, k, n),
        (d_out, d_a, d_b),
    )
}

/// The body of the three pullbacks: checks, then `d_a`/`d_b` as the products that layout `l`
/// needs (skipping an empty one), then zeroes `d_out`.
fn pullback(
    kernel: &'static str,
    l: Layout,
    (out, a, b): (&[f32], &[f32], &[f32]),
    (m, k, n): (usize, usize, usize),
    (d_out, d_a, d_b): (&mut [f32], &mut [f32], &mut [f32]),
) -> Result<(), KernelError> {
    check(kernel, l, out.len(), a.len(), b.len(), m, k, n)?;
    let (need_out, need_a, need_b) = check_adjoints(
        kernel,
        l,
        (out.len(), a.len(), b.len()),
        (d_out.len(), d_a.len(), d_b.len()),
    )?;
    if !need_out {
        return Ok(());
    }
    match l {
        Layout::Nn => {
            if need_a {
                // dA (m,k) = dC (m,n) · Bᵀ, B: (k,n)
                product(d_a, d_out, b, m, n, k, Layout::Nt, true);
            }
            if need_b {
                // dB (k,n) = Aᵀ · dC, A: (m,k)
                product(d_b, a, d_out, k, m, n, Layout::Tn, true);
            }
        }
        Layout::Nt => {
            if need_a {
                // dA (m,k) = dC (m,n) · B (n,k)
                product(d_a, d_out, b, m, n, k, Layout::Nn, true);
            }
            if need_b {
                // dB (n,k) = dCᵀ · A, dC: (m,n), A: (m,k)
                product(d_b, d_out, a, n, m, k, Layout::Tn, true);
            }
        }
        Layout::Tn => {
            if need_a {
                // dA (k,m) = B (k,n) · dCᵀ, dC: (m,n)
                product(d_a, b, d_out, k, n, m, Layout::Nt, true);
            }
            if need_b {
                // dB (k,n) = A (k,m) · dC (m,n)
                product(d_b, a, d_out, k, m, n, Layout::Nn, true);
            }
        }
    }
    d_out.fill(0.0);
    Ok(())
}
