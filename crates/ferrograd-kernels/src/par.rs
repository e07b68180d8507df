//! Parallelism: one process-wide thread count, how many pieces a kernel splits its work
//! into, and the thread team that runs them.
//!
//! The count defaults to 1 so that the kernels never oversubscribe cores that LibTorch or the
//! caller already uses; set it once with [`set_num_threads`] (the CLI's `--threads`). Work is
//! only split when a piece is large enough to pay for the hand-off (a few microseconds).
//!
//! Zero allocations: a split that starts *outside* rayon's pool injects a job into the pool's
//! global queue, which allocates a block every few dozen injections. Run a training loop inside
//! `pool.install(|| …)` (one injection for the whole loop) and every split inside is
//! allocation-free; with one thread nothing is ever handed off.
//!
//! Wake-ups: an idle rayon worker goes to sleep after about 20 µs without work, and waking it
//! costs about 20 µs more (measured on this 2-vCPU VM) — as much as a whole MLP-sized GEMM.
//! A training step has several such gaps (small ops, the optimizer), so [`keep_warm`] keeps the
//! pool's other workers spinning on rayon's own queues for the length of a training loop, as
//! OpenMP's active wait policy does for LibTorch.
//!
//! Backend: splits run on rayon unless [`set_parallel_backend`] hands them to another thread
//! team (LibTorch's, from `ferrograd-torch`). Every kernel cuts its work with
//! [`for_each_chunk`], which serves both.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

static THREADS: AtomicUsize = AtomicUsize::new(1);

/// Sets how many threads the kernels may use (clamped to at least 1).
pub fn set_num_threads(n: usize) {
    THREADS.store(n.max(1), Ordering::Relaxed);
}

/// The number of threads the kernels may use (default 1).
pub fn num_threads() -> usize {
    THREADS.load(Ordering::Relaxed)
}

/// `Σ x` in 16 lanes ([`crate::lanes::sum`]), cloned for AVX-512 / AVX2.
#[multiversion::multiversion(targets = "simd")]
pub(crate) fn sum(x: &[f32]) -> f32 {
    crate::lanes::sum(x)
}

/// Minimum work (in flops or element-ops) per thread before a split pays.
pub(crate) const MIN_WORK_PER_THREAD: usize = 1 << 17;

/// How many pieces to split `units` units of `work_per_unit` each into.
pub(crate) fn pieces(units: usize, work_per_unit: usize) -> usize {
    let t = num_threads().min(units).max(1);
    let total = units.saturating_mul(work_per_unit);
    t.min((total / MIN_WORK_PER_THREAD).max(1))
}

/// Units per piece when `units` units of `work_per_unit` each are split into [`pieces`]
/// pieces (the chunk size, in units, for rayon's `par_chunks`).
pub(crate) fn units_per_piece(units: usize, work_per_unit: usize) -> usize {
    units.div_ceil(pieces(units, work_per_unit)).max(1)
}

/// Chunk length that splits `n` elements costing `work_per_elem` each into at most
/// [`num_threads`] pieces (`n` itself, i.e. one piece, when a split does not pay). Rounded
/// up to whole cache lines so that pieces do not share one.
pub(crate) fn chunk_len(n: usize, work_per_elem: usize) -> usize {
    let p = pieces(n, work_per_elem);
    if p <= 1 {
        n.max(1)
    } else {
        n.div_ceil(p).next_multiple_of(16)
    }
}

/// Runs `f` while the other workers of the current rayon pool spin for work instead of
/// sleeping, so that every split inside `f` starts at once (no ~20 µs wake-up).
///
/// Call it inside `pool.install(..)` around a training loop: it costs one allocation per call
/// and keeps the pool's other cores busy until `f` returns. Outside a rayon pool, or with one
/// kernel thread, it just runs `f`.
pub fn keep_warm<R>(f: impl FnOnce() -> R) -> R {
    let Some(me) = rayon::current_thread_index() else {
        return f();
    };
    if num_threads() <= 1 || rayon::current_num_threads() <= 1 {
        return f();
    }
    let warm = Arc::new(AtomicBool::new(true));
    let spinners = Arc::clone(&warm);
    rayon::spawn_broadcast(move |ctx| {
        // The calling thread's copy must return at once: it may only be run while the caller
        // waits inside a join, and spinning there would never let `f` finish.
        if ctx.index() == me {
            return;
        }
        while spinners.load(Ordering::Relaxed) {
            // `yield_now` runs one pending job of this pool (ours, stolen from the caller's
            // deque) if there is one; otherwise pause briefly before looking again.
            if let Some(rayon::Yield::Idle) | None = rayon::yield_now() {
                for _ in 0..32 {
                    std::hint::spin_loop();
                }
            }
        }
    });
    /// Stops the spinners when `f` returns or unwinds.
    struct Stop(Arc<AtomicBool>);
    impl Drop for Stop {
        fn drop(&mut self) {
            self.0.store(false, Ordering::Relaxed);
        }
    }
    let _stop = Stop(warm);
    f()
}

// ---------------------------------------------------------------------------------------------
// Where splits run: rayon (default) or a caller-supplied thread team

/// Runs `task(i)` for every `i < n` in parallel (or some of them one after another) and
/// returns when all have finished. `task(0)` should run on the calling thread.
pub type ForkFn = fn(n: usize, task: &(dyn Fn(usize) + Sync));

static FORK: std::sync::RwLock<Option<ForkFn>> = std::sync::RwLock::new(None);

/// Runs the kernels' splits on another thread team instead of rayon's pool: `Some(fork)`
/// hands every split to `fork`, `None` goes back to rayon (the default).
///
/// Inside LibTorch this lets the kernels share LibTorch's own intra-op threads
/// (`ferrograd_torch::parallel_for`): one team of workers instead of two competing
/// for the same cores, and the same static partition as LibTorch's element-wise ops, so the
/// half of a weight gradient that one thread computes is the half that same thread updates
/// in LibTorch's optimizer. Set [`set_num_threads`] to that team's size.
pub fn set_parallel_backend(fork: Option<ForkFn>) {
    if let Ok(mut f) = FORK.write() {
        *f = fork;
    }
}

fn fork_fn() -> Option<ForkFn> {
    FORK.read().ok().and_then(|f| *f)
}

fn take<T>(slot: &Mutex<Option<T>>) -> Option<T> {
    slot.lock()
        .map_or_else(|e| e.into_inner().take(), |mut s| s.take())
}

/// Data cut into consecutive chunks that [`for_each_chunk`] hands to threads: a slice in
/// chunks of a fixed length ([`Mut`], [`Ref`]; the last chunk may be shorter), or a tuple of
/// those cut in step.
pub(crate) trait Chunks: Send + Sized {
    /// How many chunks.
    fn count(&self) -> usize;
    /// The first `k` chunks, and the rest.
    fn split(self, k: usize) -> (Self, Self);
}

/// A mutable slice in chunks of `.1` elements.
pub(crate) struct Mut<'a, T>(pub &'a mut [T], pub usize);
/// A shared slice in chunks of `.1` elements.
pub(crate) struct Ref<'a, T>(pub &'a [T], pub usize);

impl<T: Send> Chunks for Mut<'_, T> {
    fn count(&self) -> usize {
        self.0.len().div_ceil(self.1.max(1))
    }
    fn split(self, k: usize) -> (Self, Self) {
        let at = (k * self.1).min(self.0.len());
        let (a, b) = self.0.split_at_mut(at);
        (Mut(a, self.1), Mut(b, self.1))
    }
}

impl<T: Sync> Chunks for Ref<'_, T> {
    fn count(&self) -> usize {
        self.0.len().div_ceil(self.1.max(1))
    }
    fn split(self, k: usize) -> (Self, Self) {
        let at = (k * self.1).min(self.0.len());
        let (a, b) = self.0.split_at(at);
        (Ref(a, self.1), Ref(b, self.1))
    }
}

macro_rules! chunks_tuple {
    ($($name:ident $idx:tt),+) => {
        impl<$($name: Chunks),+> Chunks for ($($name,)+) {
            fn count(&self) -> usize {
                chunks_tuple!(@first self, $($idx),+)
            }
            fn split(self, k: usize) -> (Self, Self) {
                let parts = ($(self.$idx.split(k),)+);
                (($(parts.$idx.0,)+), ($(parts.$idx.1,)+))
            }
        }
    };
    (@first $s:ident, $first:tt $(, $rest:tt)*) => { $s.$first.count() };
}
chunks_tuple!(A 0, B 1);
chunks_tuple!(A 0, B 1, C 2);
chunks_tuple!(A 0, B 1, C 2, D 3);
chunks_tuple!(A 0, B 1, C 2, D 3, E 4);
chunks_tuple!(A 0, B 1, C 2, D 3, E 4, F 5);

/// Calls `f(i, chunk_i)` for every chunk of `data`, the chunks spread over the kernel
/// threads (allocation-free with either backend).
pub(crate) fn for_each_chunk<C: Chunks>(data: C, f: impl Fn(usize, C) + Sync) {
    let n = data.count();
    match fork_fn() {
        None => split_rayon(0, n, data, &f),
        Some(fork) => split_fork(fork, n, data, &f),
    }
}

fn split_rayon<C: Chunks>(first: usize, n: usize, data: C, f: &(impl Fn(usize, C) + Sync)) {
    if n <= 1 {
        if n == 1 {
            f(first, data);
        }
        return;
    }
    let half = n / 2;
    let (a, b) = data.split(half);
    rayon::join(
        || split_rayon(first, half, a, f),
        || split_rayon(first + half, n - half, b, f),
    );
}

/// At most this many tasks per fork; more chunks are grouped.
const MAX_TASKS: usize = 64;

fn split_fork<C: Chunks>(fork: ForkFn, n: usize, data: C, f: &(impl Fn(usize, C) + Sync)) {
    if n <= 1 {
        if n == 1 {
            f(0, data);
        }
        return;
    }
    let tasks = n.min(MAX_TASKS);
    // Task t gets chunks [t·n/tasks, (t+1)·n/tasks).
    let slots: [Mutex<Option<(usize, usize, C)>>; MAX_TASKS] =
        std::array::from_fn(|_| Mutex::new(None));
    let mut rest = Some(data);
    for (t, slot) in slots.iter().enumerate().take(tasks) {
        let (lo, hi) = (t * n / tasks, (t + 1) * n / tasks);
        let Some(r) = rest.take() else { break };
        let (mine, r) = r.split(hi - lo);
        rest = Some(r);
        if let Ok(mut s) = slot.lock() {
            *s = Some((lo, hi - lo, mine));
        }
    }
    let run = |(first, count, mut piece): (usize, usize, C)| {
        for i in 0..count {
            let (one, r) = piece.split(1);
            f(first + i, one);
            piece = r;
        }
    };
    fork(tasks, &|t| {
        if let Some(job) = slots.get(t).and_then(take) {
            run(job);
        }
    });
    for slot in &slots[..tasks] {
        if let Some(job) = take(slot) {
            run(job);
        }
    }
}
