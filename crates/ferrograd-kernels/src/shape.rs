//! Layout-only kernels.

use crate::error::{check_adj, check_len, KernelError};

/// Flatten: `out = x` element for element (e.g. `[batch, c, l] → [batch, c·l]`; row-major
/// data does not move, so this is a copy into the output buffer).
pub fn flatten(out: &mut [f32], x: &[f32]) -> Result<(), KernelError> {
    check_len("flatten", "out", out.len(), x.len(), "[n] (same as x)")?;
    out.copy_from_slice(x);
    Ok(())
}

/// Pullback of [`flatten`]: `d_x += d_out`; zeroes `d_out`.
pub fn flatten_pullback(
    out: &mut [f32],
    x: &[f32],
    d_out: &mut [f32],
    d_x: &mut [f32],
) -> Result<(), KernelError> {
    const K: &str = "flatten_pullback";
    let n = x.len();
    check_len(K, "out", out.len(), n, "[n] (same as x)")?;
    let need_out = check_adj(K, "d_out", d_out.len(), n, "[n] (same as x)")?;
    let need_x = check_adj(K, "d_x", d_x.len(), n, "[n] (same as x)")?;
    if need_out && need_x {
        for (g, &dy) in d_x.iter_mut().zip(d_out.iter()) {
            *g += dy;
        }
    }
    d_out.fill(0.0);
    Ok(())
}
