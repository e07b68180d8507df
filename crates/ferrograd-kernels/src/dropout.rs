//! Inverted dropout with a counter-based, seeded mask: element `i` is kept iff
//! `u(seed, i) >= p`, so the mask depends only on `(seed, i)` — reproducible, and the same
//! whatever the thread count.

use crate::error::{check_adj, check_len, KernelError};

/// splitmix64 finaliser of `seed` and the element index.
fn uniform(seed: u64, i: usize) -> f32 {
    let mut z = seed
        ^ (i as u64)
            .wrapping_add(1)
            .wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    (z >> 40) as f32 * (1.0 / (1u64 << 24) as f32)
}

fn check(
    kernel: &'static str,
    out: usize,
    x: usize,
    mask: usize,
    p: f32,
) -> Result<f32, KernelError> {
    check_len(kernel, "out", out, x, "[n] (same as x)")?;
    check_len(kernel, "mask", mask, x, "[n] (same as x)")?;
    if !(0.0..=1.0).contains(&p) {
        return Err(KernelError::param(kernel, "p", p, "in [0, 1]"));
    }
    Ok(if p < 1.0 { 1.0 / (1.0 - p) } else { 0.0 })
}

/// `mask[i] = 1` with probability `1 − p` (else 0), `out = x ⊙ mask / (1 − p)` (all zeros when
/// `p = 1`). `out, x, mask: [n]`; the caller owns `mask`, which the pullback reads.
pub fn dropout(
    out: &mut [f32],
    x: &[f32],
    mask: &mut [u8],
    p: f32,
    seed: u64,
) -> Result<(), KernelError> {
    let scale = check("dropout", out.len(), x.len(), mask.len(), p)?;
    for (i, ((o, &v), m)) in out.iter_mut().zip(x).zip(mask.iter_mut()).enumerate() {
        let keep = uniform(seed, i) >= p;
        *m = u8::from(keep);
        *o = if keep { v * scale } else { 0.0 };
    }
    Ok(())
}

/// Pullback of [`dropout`]: `d_x += d_out ⊙ mask / (1 − p)`; zeroes `d_out`. An empty `d_x`
/// is not computed; an empty `d_out` means a zero seed.
pub fn dropout_pullback(
    out: &mut [f32],
    x: &[f32],
    mask: &mut [u8],
    p: f32,
    seed: u64,
    d_out: &mut [f32],
    d_x: &mut [f32],
) -> Result<(), KernelError> {
    const K: &str = "dropout_pullback";
    let _ = seed;
    let scale = check(K, out.len(), x.len(), mask.len(), p)?;
    let need_out = check_adj(K, "d_out", d_out.len(), x.len(), "[n] (same as x)")?;
    let need_x = check_adj(K, "d_x", d_x.len(), x.len(), "[n] (same as x)")?;
    if need_out && need_x {
        for ((g, &dy), &m) in d_x.iter_mut().zip(d_out.iter()).zip(mask.iter()) {
            if m != 0 {
                *g += dy * scale;
            }
        }
    }
    d_out.fill(0.0);
    Ok(())
}
