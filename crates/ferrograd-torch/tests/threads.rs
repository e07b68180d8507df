//! `parallel_for`: ferrograd's kernels on LibTorch's own intra-op threads.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::thread::ThreadId;
use std::time::{Duration, Instant};

use ferrograd_torch::parallel_for;

/// Both tasks run at the same time, task 0 on the calling thread and task 1 on another of
/// LibTorch's threads: each waits (up to 10 s) until the other has started, which a serial
/// run can never satisfy. This is what fails if the shim's `at::parallel_for` were compiled
/// without OpenMP (it then silently runs everything on the caller).
#[test]
fn tasks_run_concurrently_on_libtorch_threads() {
    tch::set_num_threads(2);
    let started = AtomicUsize::new(0);
    let ran: Mutex<Vec<(usize, ThreadId, bool)>> = Mutex::new(Vec::new());
    parallel_for(2, &|i| {
        started.fetch_add(1, Ordering::SeqCst);
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut both = true;
        while started.load(Ordering::SeqCst) < 2 {
            if Instant::now() > deadline {
                both = false;
                break;
            }
            std::hint::spin_loop();
        }
        ran.lock()
            .expect("lock")
            .push((i, std::thread::current().id(), both));
    });
    let mut ran = ran.into_inner().expect("lock");
    ran.sort_by_key(|r| r.0);
    assert_eq!(ran.len(), 2, "{ran:?}");
    assert!(
        ran.iter().all(|r| r.2),
        "the tasks did not overlap: {ran:?}"
    );
    assert_eq!(
        ran[0].1,
        std::thread::current().id(),
        "task 0 runs on the caller"
    );
    assert_ne!(ran[0].1, ran[1].1, "task 1 runs on another thread");
}

/// Every index runs exactly once, whether there are more tasks than threads, one task, or
/// none; nested calls (inside a task) run their tasks one after another.
#[test]
fn every_index_runs_once() {
    tch::set_num_threads(2);
    for n in [0usize, 1, 2, 5, 64] {
        let hits: Vec<AtomicUsize> = (0..n).map(|_| AtomicUsize::new(0)).collect();
        parallel_for(n, &|i| {
            hits[i].fetch_add(1, Ordering::SeqCst);
        });
        assert!(
            hits.iter().all(|h| h.load(Ordering::SeqCst) == 1),
            "n = {n}"
        );
    }
    let inner = AtomicUsize::new(0);
    parallel_for(2, &|_| {
        parallel_for(3, &|_| _ = inner.fetch_add(1, Ordering::SeqCst))
    });
    assert_eq!(inner.load(Ordering::SeqCst), 6);
}

/// A panic in a task does not cross into C++: it is re-raised on the calling thread after
/// the other tasks have finished, and the team stays usable.
#[test]
fn a_panicking_task_panics_the_caller() {
    tch::set_num_threads(2);
    let done = AtomicUsize::new(0);
    let result = std::panic::catch_unwind(|| {
        parallel_for(2, &|i| {
            if i == 1 {
                panic!("task {i} failed");
            }
            done.fetch_add(1, Ordering::SeqCst);
        });
    });
    let payload = result.expect_err("the panic reaches the caller");
    let msg = payload
        .downcast_ref::<String>()
        .cloned()
        .unwrap_or_default();
    assert_eq!(msg, "task 1 failed");
    assert_eq!(done.load(Ordering::SeqCst), 1);
    let again = AtomicUsize::new(0);
    parallel_for(2, &|_| _ = again.fetch_add(1, Ordering::SeqCst));
    assert_eq!(again.load(Ordering::SeqCst), 2);
}
