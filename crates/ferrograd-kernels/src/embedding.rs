//! Embedding lookup (row gather) and its scatter-add pullback.

use crate::error::{check_adj, check_len, check_positive, size, KernelError};

fn check(
    kernel: &'static str,
    out: usize,
    table: usize,
    ids: &[usize],
    vocab: usize,
    dim: usize,
) -> Result<(), KernelError> {
    check_positive(kernel, "dim", dim)?;
    check_len(
        kernel,
        "out",
        out,
        size(kernel, &[ids.len(), dim])?,
        "[ids.len(), dim]",
    )?;
    check_len(
        kernel,
        "table",
        table,
        size(kernel, &[vocab, dim])?,
        "[vocab, dim]",
    )?;
    match ids.iter().position(|&i| i >= vocab) {
        Some(position) => Err(KernelError::Index {
            kernel,
            arg: "ids",
            position,
            value: ids[position],
            bound: vocab,
        }),
        None => Ok(()),
    }
}

/// `out[n, :] = table[ids[n], :]`; `out: [ids.len(), dim]`, `table: [vocab, dim]`, every id `< vocab`.
pub fn embedding(
    out: &mut [f32],
    table: &[f32],
    ids: &[usize],
    vocab: usize,
    dim: usize,
) -> Result<(), KernelError> {
    check("embedding", out.len(), table.len(), ids, vocab, dim)?;
    for (row, &id) in out.chunks_exact_mut(dim).zip(ids) {
        row.copy_from_slice(&table[id * dim..(id + 1) * dim]);
    }
    Ok(())
}

/// Pullback of [`embedding`]: `d_table[ids[n], :] += d_out[n, :]`; zeroes `d_out`. An empty
/// `d_table` is not computed; an empty `d_out` means a zero seed.
pub fn embedding_pullback(
    out: &mut [f32],
    table: &[f32],
    ids: &[usize],
    vocab: usize,
    dim: usize,
    d_out: &mut [f32],
    d_table: &mut [f32],
) -> Result<(), KernelError> {
    const K: &str = "embedding_pullback";
    check(K, out.len(), table.len(), ids, vocab, dim)?;
    let need_out = check_adj(K, "d_out", d_out.len(), out.len(), "[ids.len(), dim]")?;
    let need_table = check_adj(K, "d_table", d_table.len(), table.len(), "[vocab, dim]")?;
    if need_out && need_table {
        for (row, &id) in d_out.chunks_exact(dim).zip(ids) {
            for (g, &v) in d_table[id * dim..(id + 1) * dim].iter_mut().zip(row) {
                *g += v;
            }
        }
    }
    d_out.fill(0.0);
    Ok(())
}
