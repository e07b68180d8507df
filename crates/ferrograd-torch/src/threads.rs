//! ferrograd's kernels on LibTorch's own intra-op threads.
//!
//! A training loop that mixes LibTorch (optimizer, native ops) with ferrograd kernels (a
//! slice-level node) would otherwise run two thread teams, OpenMP's and rayon's, that spin
//! on the same cores. [`parallel_for`] hands the kernels' splits to LibTorch's team instead:
//!
//! ```no_run
//! ferrograd_kernels::set_parallel_backend(Some(ferrograd_torch::parallel_for));
//! ferrograd_kernels::set_num_threads(tch::get_num_threads().max(1) as usize);
//! ```
//!
//! Piece `i` of a split then runs on team thread `i`, as element `i·n/threads` onwards of a
//! LibTorch element-wise op does: the rows of a weight gradient that one thread computes are
//! the rows that the same thread updates in LibTorch's optimizer, so they never change cores.

use crate::ffi;

/// Runs `task(i)` for every `i < n` on LibTorch's intra-op threads (`at::parallel_for` with
/// grain 1; `task(0)` on the calling thread) and returns when all are done. A panic in a
/// task is re-raised here, on the calling thread, after the others have finished. Inside a
/// LibTorch parallel region the tasks run one after another.
///
/// Its signature is `ferrograd_kernels::ForkFn`, for `set_parallel_backend`.
pub fn parallel_for(n: usize, task: &(dyn Fn(usize) + Sync)) {
    ffi::parallel_for(n, task);
}
