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

use std::sync::atomic::{AtomicBool, AtomicU8, AtomicUsize, Ordering};
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

/// Work charged per element that is read, modified and written back (an optimizer's update
/// of one parameter, an accumulated product's output) when deciding to split: such work is
/// bound by memory, not by its few flops.
pub(crate) const RMW_COST: usize = 4;

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
                // Short: each pause here delays the start of a split's second half. Measured
                // (2-vCPU EPYC VM, two 1–5 µs halves): 32 pauses cost 1.2 µs per split, 4
                // cost 0.4 µs with `join_spinning`; none at all was worse (1.3 µs), the
                // spinner then contending for the cache lines that the caller waits on.
                for _ in 0..4 {
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
    join_spinning(
        || split_rayon(first, half, a, f),
        || split_rayon(first + half, n - half, b, f),
    );
}

/// `rayon::join(a, b)`, except that when another thread took `b`, the caller waits for it by
/// spinning at the end of `a` rather than in rayon's idle loop, which calls `sched_yield`
/// between checks (a system call that costs as much as the wait itself). Measured with the
/// pool kept warm ([`keep_warm`]): a split of two 1–5 µs halves cost 1.2 µs more than one
/// half with `rayon::join`, 0.4 µs with this.
///
/// `a` only waits for a `b` that has started on another thread, so it never waits for work
/// that only its own thread could run; `b` marks itself finished even when it unwinds.
fn join_spinning(a: impl FnOnce() + Send, b: impl FnOnce() + Send) {
    const IDLE: u8 = 0;
    const RUNNING: u8 = 1;
    const DONE: u8 = 2;
    let b_state = AtomicU8::new(IDLE);
    /// Marks `b` finished when it returns or unwinds.
    struct Done<'a>(&'a AtomicU8);
    impl Drop for Done<'_> {
        fn drop(&mut self) {
            self.0.store(DONE, Ordering::Release);
        }
    }
    rayon::join(
        || {
            a();
            if b_state.load(Ordering::Acquire) != IDLE {
                while b_state.load(Ordering::Acquire) != DONE {
                    std::hint::spin_loop();
                }
            }
        },
        || {
            b_state.store(RUNNING, Ordering::Release);
            let _done = Done(&b_state);
            b();
        },
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;
    use std::time::Duration;

    /// Runs `f` on a warm two-thread pool with two kernel threads, on a thread of its own,
    /// and fails instead of hanging if it has not returned within a minute.
    fn on_warm_pool<R: Send + 'static>(f: impl FnOnce() -> R + Send + 'static) -> R {
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(2)
                .build()
                .expect("a two-thread pool");
            set_num_threads(2);
            let r = pool.install(|| keep_warm(f));
            _ = tx.send(r);
        });
        rx.recv_timeout(Duration::from_secs(60))
            .expect("the split returned (no thread waits forever)")
    }

    #[test]
    fn every_chunk_runs_once_across_threads() {
        let seen = on_warm_pool(|| {
            let mut seen = [0usize; 13];
            let mut threads = std::collections::HashSet::new();
            for _ in 0..200 {
                let ran = Mutex::new(Vec::new());
                for_each_chunk(Mut(&mut seen[..], 1), |i, c| {
                    c.0[0] += 1;
                    // Long enough for the other thread to take halves even if it sleeps
                    // (other tests in this binary change the kernel thread count).
                    std::thread::sleep(Duration::from_micros(50));
                    if let Ok(mut r) = ran.lock() {
                        r.push((i, rayon::current_thread_index()));
                    }
                });
                let ran = ran.into_inner().unwrap_or_default();
                let mut idx: Vec<usize> = ran.iter().map(|r| r.0).collect();
                idx.sort_unstable();
                assert_eq!(idx, (0..13).collect::<Vec<_>>());
                threads.extend(ran.iter().map(|r| r.1));
            }
            (seen, threads.len())
        });
        assert!(seen.0.iter().all(|&n| n == 200), "{:?}", seen.0);
        // With a warm pool the second thread takes some halves in 200 splits.
        assert_eq!(seen.1, 2, "both threads ran chunks");
    }

    /// A panic in either half of a split reaches the caller; the half that waits for a
    /// stolen half does not spin forever when that half unwinds.
    #[test]
    fn a_panicking_chunk_panics_the_caller() {
        for bad in [0usize, 1] {
            let caught = on_warm_pool(move || {
                (0..50).all(|_| {
                    std::panic::catch_unwind(|| {
                        let mut data = [0u8; 2];
                        for_each_chunk(Mut(&mut data[..], 1), |i, _| {
                            if i == bad {
                                panic!("chunk {i} failed");
                            }
                            // Give the other half time to be taken by the other thread.
                            std::thread::sleep(Duration::from_micros(50));
                        });
                    })
                    .is_err()
                })
            });
            assert!(
                caught,
                "a panic in chunk {bad} reached the caller every time"
            );
        }
    }
}
