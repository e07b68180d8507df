//! The fused stage `max_pool1d(relu(conv1d(x)))`, and its pullback.
//!
//! Why fused: a convolution's output is the largest buffer of a 1-D CNN (W2's first layer:
//! 32 × 16 × 2033 floats, 4.2 MB), and unfused it goes through memory four times per step:
//! written by the convolution, read by the pooling, written by the pooling's pullback (a
//! scatter into a buffer that is zero except at the windows' winners) and read and zeroed by
//! the convolution's pullback. Fused, each example's convolution output lives in a per-thread
//! buffer that stays in cache, and no activation of the network holds it.
//!
//! The pullback of a direct layer ([`crate::conv`]: few taps, stride 1) that needs no input
//! gradient (a network's first layer) sums `d_w` and `d_b` over the windows' winners alone,
//! the only outputs whose gradient is not zero: a quarter of them for windows of 4, and no
//! dense gradient at all. Every other layer scatters the pooled gradient into a per-thread
//! buffer of the convolution's shape and runs the convolution's pullback on it.
//!
//! The values are those of [`crate::conv1d`] then [`crate::relu_max_pool1d`], bit for bit,
//! and the gradients those of their pullbacks up to the order of the sums.

use crate::conv::{
    conv_example, conv_pullback_checked, interior, tap_index, with_scratch, Conv1dDims, Needed,
};
use crate::error::{check_adj, check_len, size, KernelError};
use crate::par;
use crate::pool::{check_argmax, relu_max_pool_row, Pool1dDims};

thread_local! {
    /// One example's convolution output (forward).
    static CONV_OUT: std::cell::Cell<Vec<f32>> = const { std::cell::Cell::new(Vec::new()) };
    /// The whole batch's convolution gradient for the dense pullback. All zero between calls:
    /// the convolution's pullback zeroes what it reads.
    static DENSE_GRAD: std::cell::Cell<Vec<f32>> = const { std::cell::Cell::new(Vec::new()) };
    /// The per-piece partial sums `[d_w | d_b]` of the winners' pullback.
    static PARTIALS: std::cell::Cell<Vec<f32>> = const { std::cell::Cell::new(Vec::new()) };
}

/// The lengths of the stage's convolution output and pooled output, after checking every
/// argument against `conv` and `pool` (which must describe the convolution's output rows).
#[allow(clippy::too_many_arguments)]
fn check(
    kernel: &'static str,
    out: usize,
    x: usize,
    w: usize,
    b: usize,
    argmax: usize,
    conv: &Conv1dDims,
    pool: &Pool1dDims,
) -> Result<(usize, usize), KernelError> {
    let len_conv = conv.len_out()?;
    let conv_len = size(kernel, &[conv.batch, conv.c_out, len_conv])?;
    conv.check(kernel, conv_len, x, w, b)?;
    let rows = size(kernel, &[conv.batch, conv.c_out])?;
    for (arg, value, want, requirement) in [
        (
            "pool.rows",
            pool.rows,
            rows,
            "batch·c_out of the convolution",
        ),
        (
            "pool.len_in",
            pool.len_in,
            len_conv,
            "the convolution's output length",
        ),
    ] {
        if value != want {
            return Err(KernelError::Dim {
                kernel,
                arg,
                value,
                requirement,
            });
        }
    }
    let len_pool = pool.check(kernel, out, conv_len)?;
    check_len(kernel, "argmax", argmax, out, "[batch·c_out, len_pool]")?;
    Ok((len_conv, len_pool))
}

/// `out = max_pool1d(relu(conv1d(x, w) + b))` with `argmax` the winning column of each window
/// in the convolution's output row, exactly as [`crate::conv1d`] followed by
/// [`crate::relu_max_pool1d`] compute them. Shapes: `x: [batch, c_in, len_in]`,
/// `w: [c_out, c_in, kernel]`, `b: [c_out]`, `out` and `argmax: [batch·c_out, len_pool]`;
/// `pool.rows = batch·c_out` and `pool.len_in` the convolution's output length.
pub fn conv1d_relu_max_pool1d(
    out: &mut [f32],
    x: &[f32],
    w: &[f32],
    b: &[f32],
    argmax: &mut [usize],
    conv: Conv1dDims,
    pool: Pool1dDims,
) -> Result<(), KernelError> {
    const K: &str = "conv1d_relu_max_pool1d";
    let (len_conv, len_pool) = check(
        K,
        out.len(),
        x.len(),
        w.len(),
        b.len(),
        argmax.len(),
        &conv,
        &pool,
    )?;
    let d = &conv;
    let per_in = d.c_in * d.len_in;
    let per_conv = d.c_out * len_conv;
    let per_pool = d.c_out * len_pool;
    let bp = par::units_per_piece(d.batch, 2 * per_conv * d.c_in * d.kernel);
    let chunks = (
        par::Mut(out, bp * per_pool),
        par::Mut(argmax, bp * per_pool),
        par::Ref(x, bp * per_in),
    );
    par::for_each_chunk(
        chunks,
        |_, (par::Mut(o, _), par::Mut(am, _), par::Ref(xs, _))| {
            with_scratch(&CONV_OUT, per_conv, |c| {
                let examples = o
                    .chunks_exact_mut(per_pool)
                    .zip(am.chunks_exact_mut(per_pool))
                    .zip(xs.chunks_exact(per_in));
                for ((ob, ab), xb) in examples {
                    conv_example(c, xb, w, b, d, len_conv);
                    let rows = ob
                        .chunks_exact_mut(len_pool)
                        .zip(ab.chunks_exact_mut(len_pool))
                        .zip(c.chunks_exact(len_conv));
                    for ((orow, arow), crow) in rows {
                        relu_max_pool_row(orow, arow, crow, &pool);
                    }
                }
            })
        },
    );
    Ok(())
}

/// Pullback of [`conv1d_relu_max_pool1d`]: the convolution's gradient is `d_out` at each
/// window's winner where `out > 0` (there the winner is positive: `out` is its ReLU) and zero
/// elsewhere, and `d_x`, `d_w`, `d_b` get [`crate::conv1d_pullback`]'s sums of it; zeroes
/// `d_out`. An `argmax` entry outside the convolution's row is an error, found before anything
/// is written. Empty adjoints are not computed; an empty `d_out` means a zero seed.
#[allow(clippy::too_many_arguments)]
pub fn conv1d_relu_max_pool1d_pullback(
    out: &mut [f32],
    x: &[f32],
    w: &[f32],
    b: &[f32],
    argmax: &mut [usize],
    conv: Conv1dDims,
    pool: Pool1dDims,
    d_out: &mut [f32],
    d_x: &mut [f32],
    d_w: &mut [f32],
    d_b: &mut [f32],
) -> Result<(), KernelError> {
    const K: &str = "conv1d_relu_max_pool1d_pullback";
    let (len_conv, len_pool) = check(
        K,
        out.len(),
        x.len(),
        w.len(),
        b.len(),
        argmax.len(),
        &conv,
        &pool,
    )?;
    let need_out = check_adj(
        K,
        "d_out",
        d_out.len(),
        out.len(),
        "[batch·c_out, len_pool]",
    )?;
    let need = Needed {
        x: check_adj(K, "d_x", d_x.len(), x.len(), "[batch, c_in, len_in]")?,
        w: check_adj(K, "d_w", d_w.len(), w.len(), "[c_out, c_in, kernel]")?,
        b: check_adj(K, "d_b", d_b.len(), b.len(), "[c_out]")?,
    };
    let d = &conv;
    let rows_per_piece = par::units_per_piece(pool.rows, 4 * len_pool);
    check_argmax(K, argmax, len_conv, rows_per_piece * len_pool)?;
    if !need_out {
        return Ok(());
    }
    if pool.stride >= 2 {
        winners_pullback(
            x, w, d, len_conv, len_pool, out, argmax, d_out, d_x, d_w, d_b, need,
        );
        return Ok(());
    }
    let per_conv = d.c_out * len_conv;
    with_scratch(&DENSE_GRAD, d.batch * per_conv, |dense| {
        // The pooling's pullback into the zero buffer, masked by `out > 0`.
        let chunks = (
            par::Mut(&mut *d_out, rows_per_piece * len_pool),
            par::Ref(&*out, rows_per_piece * len_pool),
            par::Ref(&*argmax, rows_per_piece * len_pool),
            par::Mut(&mut *dense, rows_per_piece * len_conv),
        );
        par::for_each_chunk(
            chunks,
            |_, (par::Mut(dy, _), par::Ref(o, _), par::Ref(am, _), par::Mut(g, _))| {
                let rows = dy
                    .chunks_exact_mut(len_pool)
                    .zip(o.chunks_exact(len_pool))
                    .zip(am.chunks_exact(len_pool))
                    .zip(g.chunks_exact_mut(len_conv));
                for (((dyrow, orow), arow), grow) in rows {
                    for ((v, &o), &j) in dyrow.iter_mut().zip(orow).zip(arow) {
                        if o > 0.0 {
                            grow[j] += *v;
                        }
                        *v = 0.0;
                    }
                }
            },
        );
        conv_pullback_checked(x, w, d, len_conv, dense, d_x, d_w, d_b, need);
    });
    Ok(())
}

/// The pullback from the windows' winners alone (their gradient is the only one not zero):
/// `d_w` and `d_b` summed per piece of the batch into partials (added up at the end, so the
/// result does not depend on which thread ran which piece), `d_x` per example; zeroes `d_out`.
#[allow(clippy::too_many_arguments)]
fn winners_pullback(
    x: &[f32],
    w: &[f32],
    d: &Conv1dDims,
    len_conv: usize,
    len_pool: usize,
    out: &[f32],
    argmax: &[usize],
    d_out: &mut [f32],
    d_x: &mut [f32],
    d_w: &mut [f32],
    d_b: &mut [f32],
    need: Needed,
) {
    let ck = d.c_in * d.kernel;
    let per_in = d.c_in * d.len_in;
    let per_pool = d.c_out * len_pool;
    let part_len = d.c_out * (ck + 1);
    let bp = par::units_per_piece(d.batch, 4 * per_pool * ck);
    let n_pieces = d.batch.div_ceil(bp);
    with_scratch(&PARTIALS, n_pieces * part_len, |parts| {
        parts.fill(0.0);
        // One piece: its partial [d_w | d_b], its examples' d_out, out, argmax, x and d_x
        // (empty when not wanted).
        let piece = |part: &mut [f32],
                     dy: &mut [f32],
                     o: &[f32],
                     am: &[usize],
                     xs: &[f32],
                     dxs: &mut [f32]| {
            let (pw, pb) = part.split_at_mut(d.c_out * ck);
            let examples = dy
                .chunks_exact_mut(per_pool)
                .zip(o.chunks_exact(per_pool))
                .zip(am.chunks_exact(per_pool))
                .zip(xs.chunks_exact(per_in));
            for (e, (((dye, oe), ame), xb)) in examples.enumerate() {
                let dxb: &mut [f32] = if need.x {
                    &mut dxs[e * per_in..(e + 1) * per_in]
                } else {
                    &mut []
                };
                let rows = dye
                    .chunks_exact_mut(len_pool)
                    .zip(oe.chunks_exact(len_pool))
                    .zip(ame.chunks_exact(len_pool))
                    .zip(pw.chunks_exact_mut(ck).zip(pb.iter_mut()))
                    .zip(w.chunks_exact(ck));
                for ((((dyrow, orow), arow), (dw, db)), wrow) in rows {
                    winners_row(dw, db, dyrow, orow, arow, xb, dxb, wrow, d, len_conv);
                    dyrow.fill(0.0);
                }
            }
        };
        let common = (
            par::Mut(&mut *parts, part_len),
            par::Mut(&mut *d_out, bp * per_pool),
            par::Ref(out, bp * per_pool),
            par::Ref(argmax, bp * per_pool),
            par::Ref(x, bp * per_in),
        );
        if need.x {
            let (p0, p1, p2, p3, p4) = common;
            let chunks = (p0, p1, p2, p3, p4, par::Mut(&mut *d_x, bp * per_in));
            par::for_each_chunk(chunks, |_, (pa, dy, o, am, xs, dxs)| {
                piece(pa.0, dy.0, o.0, am.0, xs.0, dxs.0)
            });
        } else {
            par::for_each_chunk(common, |_, (pa, dy, o, am, xs)| {
                piece(pa.0, dy.0, o.0, am.0, xs.0, &mut [])
            });
        }
        for part in parts.chunks_exact(part_len) {
            let (pw, pb) = part.split_at(d.c_out * ck);
            if need.w {
                for (g, &v) in d_w.iter_mut().zip(pw) {
                    *g += v;
                }
            }
            if need.b {
                for (g, &v) in d_b.iter_mut().zip(pb) {
                    *g += v;
                }
            }
        }
    });
}

/// One output channel's row of [`winners_pullback`], `g_l = d_out[l]` where `out[l] > 0`
/// (else 0): `db += Σ_l g_l`, and for each winner with `g ≠ 0`, `dw += g·(its taps of x)` and,
/// when `dx` is wanted, `dx[its taps] += g·wrow`. `dw` and `db` are computed the same way
/// whether `dx` is wanted or not (the same bits): one input channel with at most 16 taps by
/// [`winners_row_one_channel`]; winners whose taps lie inside x (dilation 1) with kernels of
/// 8 and 16 by [`winners_windows`]; the others tap by tap.
#[multiversion::multiversion(targets = "simd")]
#[allow(clippy::too_many_arguments)]
fn winners_row(
    dw: &mut [f32],
    db: &mut f32,
    dy: &[f32],
    out: &[f32],
    argmax: &[usize],
    x: &[f32],
    dx: &mut [f32],
    wrow: &[f32],
    d: &Conv1dDims,
    len_conv: usize,
) {
    let one_channel = d.c_in == 1 && d.kernel <= 16 && d.dilation == 1 && d.stride == 1;
    let windowed = !one_channel && d.dilation == 1 && matches!(d.kernel, 8 | 16);
    if one_channel {
        let inner = interior(d, len_conv);
        winners_row_one_channel(dw, db, dy, out, argmax, x, d, &inner);
    } else {
        let mut bsum = 0.0f32;
        for (&v, &o) in dy.iter().zip(out) {
            bsum += if o > 0.0 { v } else { 0.0 };
        }
        *db += bsum;
        match d.kernel {
            8 if windowed => winners_windows::<8, 8>(dw, x, dy, out, argmax, d),
            16 if windowed => winners_windows::<16, 4>(dw, x, dy, out, argmax, d),
            _ => {}
        }
    }
    let need_x = !dx.is_empty();
    for ((&v, &o), &j) in dy.iter().zip(out).zip(argmax) {
        let g = if o > 0.0 { v } else { 0.0 };
        if g == 0.0 {
            continue;
        }
        let window = inside(j, d);
        // `dx` by windows where the taps lie inside x.
        if let (true, Some(s)) = (need_x, window) {
            match d.kernel {
                8 => window_axpy::<8>(dx, wrow, g, s, d.len_in),
                16 => window_axpy::<16>(dx, wrow, g, s, d.len_in),
                k => {
                    for (c, wc) in wrow.chunks_exact(k).enumerate() {
                        let i0 = c * d.len_in + s;
                        for (a, &wv) in dx[i0..i0 + k].iter_mut().zip(wc) {
                            *a = g.mul_add(wv, *a);
                        }
                    }
                }
            }
        }
        // Tap by tap: `dw` where no faster path took this winner, `dx` where no window did.
        let dw_here = !(one_channel || (windowed && window.is_some()));
        let dx_here = need_x && window.is_none();
        if !(dw_here || dx_here) {
            continue;
        }
        for (t, a) in dw.iter_mut().enumerate() {
            if let Some(i) = tap_index(d, t, j) {
                if dw_here {
                    *a = g.mul_add(x[i], *a);
                }
                if dx_here {
                    dx[i] = g.mul_add(wrow[t], dx[i]);
                }
            }
        }
    }
}

/// `dx[c, s..s + K] += g·w[c, ..]` for every input channel `c` (rows of `len_in`).
#[inline(always)]
fn window_axpy<const K: usize>(dx: &mut [f32], wrow: &[f32], g: f32, s: usize, len_in: usize) {
    let (ws, _) = wrow.as_chunks::<K>();
    for (c, wc) in ws.iter().enumerate() {
        let i0 = c * len_in + s;
        let dxc: &mut [f32; K] = (&mut dx[i0..i0 + K]).try_into().expect("a window");
        for k in 0..K {
            dxc[k] = g.mul_add(wc[k], dxc[k]);
        }
    }
}

/// Where the taps of the convolution's output `j` start in each input channel's row, when
/// they all lie inside it at dilation 1.
#[inline(always)]
fn inside(j: usize, d: &Conv1dDims) -> Option<usize> {
    let start = (j * d.stride) as i64 - d.padding as i64;
    let span = (d.kernel - 1) * d.dilation;
    (d.dilation == 1 && start >= 0 && start as usize + span < d.len_in).then_some(start as usize)
}

/// Winners gathered at a time by [`winners_windows`].
const WINNERS: usize = 128;

/// The winners of a row whose taps all lie inside x ([`inside`]), for a kernel of `K`,
/// gathered [`WINNERS`] at a time as `(g, start)`. `dw`: input channels `G` at a time
/// (`G·K = 64` sums held in registers over the gathered winners: one FMA per tap and winner,
/// no store), then the rest one at a time.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn winners_windows<const K: usize, const G: usize>(
    dw: &mut [f32],
    x: &[f32],
    dy: &[f32],
    out: &[f32],
    argmax: &[usize],
    d: &Conv1dDims,
) {
    let c_in = d.c_in;
    let len_in = d.len_in;
    let (mut gs, mut ss) = ([0.0f32; WINNERS], [0usize; WINNERS]);
    let mut l = 0;
    while l < dy.len() {
        let mut m = 0;
        while l < dy.len() && m < WINNERS {
            let g = if out[l] > 0.0 { dy[l] } else { 0.0 };
            if g != 0.0 {
                if let Some(s) = inside(argmax[l], d) {
                    gs[m] = g;
                    ss[m] = s;
                    m += 1;
                }
            }
            l += 1;
        }
        let (gs, ss) = (&gs[..m], &ss[..m]);
        let mut c0 = 0;
        while c0 + G <= c_in {
            let mut acc = [[0.0f32; K]; G];
            for (&g, &s) in gs.iter().zip(ss) {
                for (c, a) in acc.iter_mut().enumerate() {
                    let i0 = (c0 + c) * len_in + s;
                    let xs: &[f32; K] = x[i0..i0 + K].try_into().expect("a window");
                    for k in 0..K {
                        a[k] = g.mul_add(xs[k], a[k]);
                    }
                }
            }
            for (c, a) in acc.iter().enumerate() {
                for (t, v) in dw[(c0 + c) * K..(c0 + c + 1) * K].iter_mut().zip(a) {
                    *t += v;
                }
            }
            c0 += G;
        }
        for c in c0..c_in {
            let mut a = [0.0f32; K];
            for (&g, &s) in gs.iter().zip(ss) {
                let i0 = c * len_in + s;
                let xs: &[f32; K] = x[i0..i0 + K].try_into().expect("a window");
                for k in 0..K {
                    a[k] = g.mul_add(xs[k], a[k]);
                }
            }
            for (t, v) in dw[c * K..(c + 1) * K].iter_mut().zip(&a) {
                *t += v;
            }
        }
    }
}

/// [`winners_row`] for one input channel and at most 16 taps, contiguous (a network's first
/// layer on a raw signal, W2's): each winner's taps are one vector load of x, and its
/// contribution one FMA into one of four vector sums (lanes beyond the kernel, read past the
/// taps, are discarded). 11 → about 3 cycles a winner.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn winners_row_one_channel(
    dw: &mut [f32],
    db: &mut f32,
    dy: &[f32],
    out: &[f32],
    argmax: &[usize],
    x: &[f32],
    d: &Conv1dDims,
    inner: &std::ops::Range<usize>,
) {
    let mut acc = [[0.0f32; 16]; 4];
    let mut bsum = [0.0f32; 4];
    // Winners in the interior whose 16-wide window fits in x take the vector path.
    let fits = |j: usize| inner.contains(&j) && j + 16 <= x.len() + d.padding;
    let add = |a: &mut [f32; 16], b: &mut f32, v: f32, o: f32, j: usize| {
        let g = if o > 0.0 { v } else { 0.0 };
        *b += g;
        if fits(j) {
            let s = j - d.padding;
            let xs: &[f32; 16] = x[s..s + 16].try_into().expect("16 inputs");
            for (a, &xv) in a.iter_mut().zip(xs) {
                *a = g.mul_add(xv, *a);
            }
        } else {
            for (k, a) in a[..d.kernel].iter_mut().enumerate() {
                if let Some(i) = tap_index(d, k, j) {
                    *a = g.mul_add(x[i], *a);
                }
            }
        }
    };
    // Four winners at a time, one into each sum (a constant index, so the sums stay in
    // registers).
    let (dy4, dy_rest) = dy.as_chunks::<4>();
    let (o4, o_rest) = out.as_chunks::<4>();
    let (j4, j_rest) = argmax.as_chunks::<4>();
    for ((v, o), j) in dy4.iter().zip(o4).zip(j4) {
        for q in 0..4 {
            add(&mut acc[q], &mut bsum[q], v[q], o[q], j[q]);
        }
    }
    for (q, ((&v, &o), &j)) in dy_rest.iter().zip(o_rest).zip(j_rest).enumerate() {
        add(&mut acc[q], &mut bsum[q], v, o, j);
    }
    for (k, g) in dw.iter_mut().enumerate() {
        *g += (acc[0][k] + acc[1][k]) + (acc[2][k] + acc[3][k]);
    }
    *db += (bsum[0] + bsum[1]) + (bsum[2] + bsum[3]);
}
