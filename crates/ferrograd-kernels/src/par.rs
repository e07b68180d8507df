//! Parallelism: one process-wide thread count, and a helper that splits an output slice into
//! at most that many contiguous pieces and runs them on rayon's pool.
//!
//! The count defaults to 1 so that the kernels never oversubscribe cores that LibTorch or the
//! caller already uses; set it once with [`set_num_threads`] (the CLI's `--threads`). Work is
//! only split when a piece is large enough to pay for the hand-off (a few microseconds).
//!
//! Zero allocations: a split that starts *outside* rayon's pool injects a job into the pool's
//! global queue, which allocates a block every few dozen injections. Run a training loop inside
//! `pool.install(|| …)` (one injection for the whole loop) and every split inside is
//! allocation-free; with one thread nothing is ever handed off.

use std::sync::atomic::{AtomicUsize, Ordering};

static THREADS: AtomicUsize = AtomicUsize::new(1);

/// Sets how many threads the kernels may use (clamped to at least 1).
pub fn set_num_threads(n: usize) {
    THREADS.store(n.max(1), Ordering::Relaxed);
}

/// The number of threads the kernels may use (default 1).
pub fn num_threads() -> usize {
    THREADS.load(Ordering::Relaxed)
}

/// Minimum work (in flops or element-ops) per thread before a split pays.
pub(crate) const MIN_WORK_PER_THREAD: usize = 1 << 17;

/// How many pieces to split `units` units of `work_per_unit` each into.
pub(crate) fn pieces(units: usize, work_per_unit: usize) -> usize {
    let t = num_threads().min(units).max(1);
    let total = units.saturating_mul(work_per_unit);
    t.min((total / MIN_WORK_PER_THREAD).max(1))
}

/// Splits `data` (made of `units` equal units) into `pieces` contiguous chunks at unit
/// boundaries and calls `f(first_unit, chunk)` on each, in parallel. `data.len()` must be a
/// multiple of `units` (checked by callers).
pub(crate) fn for_each_piece<T: Send, F>(data: &mut [T], units: usize, pieces: usize, f: &F)
where
    F: Fn(usize, &mut [T]) + Sync,
{
    split(data, 0, units, pieces.max(1), f);
}

fn split<T: Send, F>(data: &mut [T], first: usize, units: usize, pieces: usize, f: &F)
where
    F: Fn(usize, &mut [T]) + Sync,
{
    if pieces <= 1 || units <= 1 {
        f(first, data);
        return;
    }
    let unit_len = data.len() / units;
    let left_pieces = pieces / 2;
    let left_units = units * left_pieces / pieces;
    let (left, right) = data.split_at_mut(left_units * unit_len);
    rayon::join(
        || split(left, first, left_units, left_pieces, f),
        || {
            split(
                right,
                first + left_units,
                units - left_units,
                pieces - left_pieces,
                f,
            )
        },
    );
}
