//! Sums of activations: residual connections (`out = a + b`) and learned position embeddings
//! added to every sequence of a batch (`out[b, t, :] = x[b, t, :] + pos[t, :]`).

use crate::error::{check_adj, check_len, size, KernelError};
use crate::par;

/// Element-ops per element charged when deciding to split (memory-bound).
const COST: usize = 8;

/// `out = a + b` element-wise; `out, a, b: [n]`.
pub fn add(out: &mut [f32], a: &[f32], b: &[f32]) -> Result<(), KernelError> {
    check_len("add", "a", a.len(), out.len(), "[n] (same as out)")?;
    check_len("add", "b", b.len(), out.len(), "[n] (same as out)")?;
    let c = par::chunk_len(out.len(), COST);
    par::for_each_chunk(
        (par::Mut(out, c), par::Ref(a, c), par::Ref(b, c)),
        |_, (o, a, b)| add_chunk(o.0, a.0, b.0),
    );
    Ok(())
}

#[multiversion::multiversion(targets = "simd")]
fn add_chunk(out: &mut [f32], a: &[f32], b: &[f32]) {
    for ((o, &x), &y) in out.iter_mut().zip(a).zip(b) {
        *o = x + y;
    }
}

/// `into += from`; runtime-dispatched for AVX-512 / AVX2.
#[multiversion::multiversion(targets = "simd")]
pub(crate) fn accumulate(into: &mut [f32], from: &[f32]) {
    for (g, &d) in into.iter_mut().zip(from) {
        *g += d;
    }
}

/// Pullback of [`add`]: `d_a += d_out`, `d_b += d_out`; zeroes `d_out`. An empty `d_a` or
/// `d_b` is not computed; an empty `d_out` means a zero seed.
pub fn add_pullback(
    out: &mut [f32],
    a: &[f32],
    b: &[f32],
    d_out: &mut [f32],
    d_a: &mut [f32],
    d_b: &mut [f32],
) -> Result<(), KernelError> {
    const K: &str = "add_pullback";
    let n = out.len();
    check_len(K, "a", a.len(), n, "[n] (same as out)")?;
    check_len(K, "b", b.len(), n, "[n] (same as out)")?;
    let need_out = check_adj(K, "d_out", d_out.len(), n, "[n]")?;
    let need_a = check_adj(K, "d_a", d_a.len(), n, "[n]")?;
    let need_b = check_adj(K, "d_b", d_b.len(), n, "[n]")?;
    if !need_out {
        return Ok(());
    }
    let c = par::chunk_len(n, COST);
    for (need, d) in [(need_a, d_a), (need_b, d_b)] {
        if need {
            par::for_each_chunk((par::Mut(d, c), par::Ref(d_out, c)), |_, (g, dy)| {
                accumulate(g.0, dy.0)
            });
        }
    }
    d_out.fill(0.0);
    Ok(())
}

fn check_positions(
    kernel: &'static str,
    out: usize,
    x: usize,
    pos: usize,
    batch: usize,
    seq: usize,
    dim: usize,
) -> Result<usize, KernelError> {
    let n = size(kernel, &[batch, seq, dim])?;
    check_len(kernel, "out", out, n, "[batch, seq, dim]")?;
    check_len(kernel, "x", x, n, "[batch, seq, dim]")?;
    check_len(kernel, "pos", pos, seq * dim, "[seq, dim]")?;
    Ok(n)
}

/// `out[b, t, :] = x[b, t, :] + pos[t, :]`: a learned position embedding (GPT's `wpe`, rows
/// `0..seq`) added to each of `batch` sequences. `out, x: [batch, seq, dim]`, `pos: [seq, dim]`.
pub fn add_positions(
    out: &mut [f32],
    x: &[f32],
    pos: &[f32],
    batch: usize,
    seq: usize,
    dim: usize,
) -> Result<(), KernelError> {
    check_positions(
        "add_positions",
        out.len(),
        x.len(),
        pos.len(),
        batch,
        seq,
        dim,
    )?;
    let len = seq * dim;
    if len == 0 {
        return Ok(());
    }
    for (o, x) in out.chunks_exact_mut(len).zip(x.chunks_exact(len)) {
        add_chunk(o, x, pos);
    }
    Ok(())
}

/// Pullback of [`add_positions`]: `d_x += d_out`, `d_pos[t, :] += Σ_b d_out[b, t, :]`; zeroes
/// `d_out`. An empty `d_x` or `d_pos` is not computed; an empty `d_out` means a zero seed.
#[allow(clippy::too_many_arguments)]
pub fn add_positions_pullback(
    out: &mut [f32],
    x: &[f32],
    pos: &[f32],
    batch: usize,
    seq: usize,
    dim: usize,
    d_out: &mut [f32],
    d_x: &mut [f32],
    d_pos: &mut [f32],
) -> Result<(), KernelError> {
    const K: &str = "add_positions_pullback";
    let n = check_positions(K, out.len(), x.len(), pos.len(), batch, seq, dim)?;
    let need_out = check_adj(K, "d_out", d_out.len(), n, "[batch, seq, dim]")?;
    let need_x = check_adj(K, "d_x", d_x.len(), n, "[batch, seq, dim]")?;
    let need_pos = check_adj(K, "d_pos", d_pos.len(), seq * dim, "[seq, dim]")?;
    if !need_out || n == 0 {
        return Ok(());
    }
    if need_x {
        accumulate(d_x, d_out);
    }
    if need_pos {
        for dy in d_out.chunks_exact(seq * dim) {
            accumulate(d_pos, dy);
        }
    }
    d_out.fill(0.0);
    Ok(())
}
