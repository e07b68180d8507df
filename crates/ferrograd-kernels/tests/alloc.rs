//! Steady-state kernel calls perform zero heap allocations, on one thread and on two
//! (inside a rayon pool's `install`, see the `par` module docs). Counted with a global
//! allocator wrapper, so this file is its own test binary.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use ferrograd_kernels::{self as k, Conv1dDims, Pool1dDims};

struct Counting;
static ALLOCS: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards every call unchanged to the system allocator; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// A small CNN + MLP training step's kernel sequence (forward and backward, no optimizer).
struct Step {
    x: Vec<f32>,
    w1: Vec<f32>,
    b1: Vec<f32>,
    c1: Vec<f32>,
    r1: Vec<f32>,
    p1: Vec<f32>,
    am: Vec<usize>,
    w2: Vec<f32>,
    b2: Vec<f32>,
    logits: Vec<f32>,
    probs: Vec<f32>,
    labels: Vec<usize>,
    // adjoints
    dx: Vec<f32>,
    dw1: Vec<f32>,
    db1: Vec<f32>,
    dc1: Vec<f32>,
    dr1: Vec<f32>,
    dp1: Vec<f32>,
    dw2: Vec<f32>,
    db2: Vec<f32>,
    dlogits: Vec<f32>,
    dprobs: Vec<f32>,
}

const B: usize = 8;
const CONV: Conv1dDims = Conv1dDims {
    batch: B,
    c_in: 2,
    len_in: 256,
    c_out: 16,
    kernel: 8,
    stride: 1,
    padding: 0,
    dilation: 1,
};
const LO: usize = 249;
const POOL: Pool1dDims = Pool1dDims {
    rows: B * 16,
    len_in: LO,
    kernel: 4,
    stride: 4,
    padding: 0,
};
const PO: usize = 62;
const FEAT: usize = 16 * PO;

impl Step {
    fn new() -> Self {
        let v = |n: usize, s: f32| {
            (0..n)
                .map(|i| ((i * 37 % 101) as f32 / 101.0 - 0.5) * s)
                .collect::<Vec<f32>>()
        };
        Step {
            x: v(B * 2 * 256, 2.0),
            w1: v(16 * 2 * 8, 0.5),
            b1: v(16, 0.1),
            c1: vec![0.0; B * 16 * LO],
            r1: vec![0.0; B * 16 * LO],
            p1: vec![0.0; B * FEAT],
            am: vec![0; B * FEAT],
            w2: v(10 * FEAT, 0.05),
            b2: v(10, 0.1),
            logits: vec![0.0; B * 10],
            probs: vec![0.0; B * 10],
            labels: (0..B).map(|i| i % 10).collect(),
            dx: vec![0.0; B * 2 * 256],
            dw1: vec![0.0; 16 * 2 * 8],
            db1: vec![0.0; 16],
            dc1: vec![0.0; B * 16 * LO],
            dr1: vec![0.0; B * 16 * LO],
            dp1: vec![0.0; B * FEAT],
            dw2: vec![0.0; 10 * FEAT],
            db2: vec![0.0; 10],
            dlogits: vec![0.0; B * 10],
            dprobs: vec![0.0; B * 10],
        }
    }

    fn run(&mut self) -> f32 {
        let s = self;
        k::conv1d(&mut s.c1, &s.x, &s.w1, &s.b1, CONV).unwrap();
        k::relu(&mut s.r1, &s.c1).unwrap();
        k::max_pool1d(&mut s.p1, &s.r1, &mut s.am, POOL).unwrap();
        k::linear(&mut s.logits, &s.p1, &s.w2, &s.b2, B, FEAT, 10).unwrap();
        let loss = k::softmax_cross_entropy(&mut s.probs, &s.logits, &s.labels, B, 10).unwrap();
        k::softmax_cross_entropy_pullback(
            &mut s.probs,
            &s.logits,
            &s.labels,
            B,
            10,
            1.0,
            &mut s.dprobs,
            &mut s.dlogits,
        )
        .unwrap();
        k::linear_pullback(
            &mut s.logits,
            &s.p1,
            &s.w2,
            &s.b2,
            B,
            FEAT,
            10,
            &mut s.dlogits,
            &mut s.dp1,
            &mut s.dw2,
            &mut s.db2,
        )
        .unwrap();
        k::max_pool1d_pullback(&mut s.p1, &s.r1, &mut s.am, POOL, &mut s.dp1, &mut s.dr1).unwrap();
        k::relu_pullback(&mut s.r1, &s.c1, &mut s.dr1, &mut s.dc1).unwrap();
        k::conv1d_pullback(
            &mut s.c1, &s.x, &s.w1, &s.b1, CONV, &mut s.dc1, &mut s.dx, &mut s.dw1, &mut s.db1,
        )
        .unwrap();
        loss
    }
}

fn allocations_in(steps: usize, step: &mut Step) -> usize {
    for _ in 0..30 {
        step.run(); // warm-up: per-thread GEMM packing buffers, im2col scratch
    }
    let before = ALLOCS.load(Ordering::SeqCst);
    for _ in 0..steps {
        std::hint::black_box(step.run());
    }
    ALLOCS.load(Ordering::SeqCst) - before
}

#[test]
fn steady_state_steps_do_not_allocate() {
    // One test function: the thread count is process-global.
    k::set_num_threads(1);
    let mut step = Step::new();
    let n = allocations_in(20, &mut step);
    println!("1 thread: {n} allocations in 20 steps");
    assert_eq!(n, 0, "allocations in steady state (1 thread)");

    k::set_num_threads(2);
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(2)
        .build()
        .unwrap();
    let n = pool.install(|| {
        let mut step = Step::new();
        allocations_in(100, &mut step)
    });
    println!("2 threads inside pool.install: {n} allocations in 100 steps");
    assert_eq!(n, 0, "allocations in steady state (2 threads)");
}
