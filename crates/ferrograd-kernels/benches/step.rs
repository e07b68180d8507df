//! One training step of the DESIGN.md §7 workloads written directly with the kernels
//! (forward, loss, backward, SGD update, gradient reset): W1a (MLP 784→128→10, batch 64),
//! W1b (784→512→10, batch 256) and W2 (GW 1D-CNN on [32,1,2048]), on 1 and 2 threads.
//! This is the floor the macro-generated code should reach.
//!
//! `cargo bench -p ferrograd-kernels --bench step`

use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion};
use ferrograd_kernels::{self as k, Conv1dDims, Pool1dDims};
use std::time::{Duration, Instant};

fn init(n: usize, scale: f32, seed: usize) -> Vec<f32> {
    (0..n)
        .map(|i| (((i * 2654435761 + seed * 97) % 1000) as f32 / 1000.0 - 0.5) * scale)
        .collect()
}

fn sgd(p: &mut [f32], g: &mut [f32], lr: f32) {
    for (w, d) in p.iter_mut().zip(g.iter_mut()) {
        *w -= lr * *d;
        *d = 0.0;
    }
}

struct Mlp {
    batch: usize,
    hidden: usize,
    x: Vec<f32>,
    labels: Vec<usize>,
    w1: Vec<f32>,
    b1: Vec<f32>,
    w2: Vec<f32>,
    b2: Vec<f32>,
    h: Vec<f32>,
    a: Vec<f32>,
    logits: Vec<f32>,
    probs: Vec<f32>,
    g: [Vec<f32>; 4],
    dx: Vec<f32>,
    dh: Vec<f32>,
    da: Vec<f32>,
    dlogits: Vec<f32>,
    dprobs: Vec<f32>,
}

impl Mlp {
    fn new(batch: usize, hidden: usize) -> Self {
        let (i, o) = (784, 10);
        Mlp {
            batch,
            hidden,
            x: init(batch * i, 1.0, 1),
            labels: (0..batch).map(|r| r % o).collect(),
            w1: init(hidden * i, 0.07, 2),
            b1: vec![0.0; hidden],
            w2: init(o * hidden, 0.2, 3),
            b2: vec![0.0; o],
            h: vec![0.0; batch * hidden],
            a: vec![0.0; batch * hidden],
            logits: vec![0.0; batch * o],
            probs: vec![0.0; batch * o],
            g: [
                vec![0.0; hidden * i],
                vec![0.0; hidden],
                vec![0.0; o * hidden],
                vec![0.0; o],
            ],
            dx: vec![0.0; batch * i],
            dh: vec![0.0; batch * hidden],
            da: vec![0.0; batch * hidden],
            dlogits: vec![0.0; batch * o],
            dprobs: vec![0.0; batch * o],
        }
    }

    fn step(&mut self) -> f32 {
        let (b, hd) = (self.batch, self.hidden);
        let s = self;
        k::linear(&mut s.h, &s.x, &s.w1, &s.b1, b, 784, hd).unwrap();
        k::relu(&mut s.a, &s.h).unwrap();
        k::linear(&mut s.logits, &s.a, &s.w2, &s.b2, b, hd, 10).unwrap();
        let loss = k::softmax_cross_entropy(&mut s.probs, &s.logits, &s.labels, b, 10).unwrap();
        k::softmax_cross_entropy_pullback(
            &mut s.probs,
            &s.logits,
            &s.labels,
            b,
            10,
            1.0,
            &mut s.dprobs,
            &mut s.dlogits,
        )
        .unwrap();
        let [gw1, gb1, gw2, gb2] = &mut s.g;
        k::linear_pullback(
            &mut s.logits,
            &s.a,
            &s.w2,
            &s.b2,
            b,
            hd,
            10,
            &mut s.dlogits,
            &mut s.da,
            gw2,
            gb2,
        )
        .unwrap();
        k::relu_pullback(&mut s.a, &s.h, &mut s.da, &mut s.dh).unwrap();
        // The data input's adjoint is not needed: a zero-sized product would be the macro's
        // job (activity analysis); here we pass a buffer as the contract requires.
        k::linear_pullback(
            &mut s.h, &s.x, &s.w1, &s.b1, b, 784, hd, &mut s.dh, &mut s.dx, gw1, gb1,
        )
        .unwrap();
        s.da.fill(0.0);
        s.dh.fill(0.0);
        s.dx.fill(0.0);
        sgd(&mut s.w1, gw1, 0.01);
        sgd(&mut s.b1, gb1, 0.01);
        sgd(&mut s.w2, gw2, 0.01);
        sgd(&mut s.b2, gb2, 0.01);
        loss
    }
}

const B: usize = 32;
fn conv(c_in: usize, len_in: usize, c_out: usize, kernel: usize) -> Conv1dDims {
    Conv1dDims {
        batch: B,
        c_in,
        len_in,
        c_out,
        kernel,
        stride: 1,
        padding: 0,
        dilation: 1,
    }
}
fn pool(rows: usize, len_in: usize) -> Pool1dDims {
    Pool1dDims {
        rows,
        len_in,
        kernel: 4,
        stride: 4,
        padding: 0,
    }
}

/// Buffers of one conv → relu → maxpool block.
struct Block {
    cd: Conv1dDims,
    pd: Pool1dDims,
    w: Vec<f32>,
    b: Vec<f32>,
    gw: Vec<f32>,
    gb: Vec<f32>,
    c: Vec<f32>,
    r: Vec<f32>,
    p: Vec<f32>,
    am: Vec<usize>,
    dc: Vec<f32>,
    dr: Vec<f32>,
    dp: Vec<f32>,
}

impl Block {
    fn new(c_in: usize, len_in: usize, c_out: usize, kernel: usize, seed: usize) -> Self {
        let cd = conv(c_in, len_in, c_out, kernel);
        let lo = cd.len_out().unwrap();
        let pd = pool(B * c_out, lo);
        let po = pd.len_out().unwrap();
        let nw = c_out * c_in * kernel;
        Block {
            cd,
            pd,
            w: init(nw, 2.0 / ((c_in * kernel) as f32).sqrt(), seed),
            b: vec![0.0; c_out],
            gw: vec![0.0; nw],
            gb: vec![0.0; c_out],
            c: vec![0.0; B * c_out * lo],
            r: vec![0.0; B * c_out * lo],
            p: vec![0.0; B * c_out * po],
            am: vec![0; B * c_out * po],
            dc: vec![0.0; B * c_out * lo],
            dr: vec![0.0; B * c_out * lo],
            dp: vec![0.0; B * c_out * po],
        }
    }
    fn forward(&mut self, x: &[f32]) {
        k::conv1d(&mut self.c, x, &self.w, &self.b, self.cd).unwrap();
        k::relu(&mut self.r, &self.c).unwrap();
        k::max_pool1d(&mut self.p, &self.r, &mut self.am, self.pd).unwrap();
    }
    /// Consumes `self.dp`, accumulates into `dx`.
    fn backward(&mut self, x: &[f32], dx: &mut [f32]) {
        k::max_pool1d_pullback(
            &mut self.p,
            &self.r,
            &mut self.am,
            self.pd,
            &mut self.dp,
            &mut self.dr,
        )
        .unwrap();
        k::relu_pullback(&mut self.r, &self.c, &mut self.dr, &mut self.dc).unwrap();
        k::conv1d_pullback(
            &mut self.c,
            x,
            &self.w,
            &self.b,
            self.cd,
            &mut self.dc,
            dx,
            &mut self.gw,
            &mut self.gb,
        )
        .unwrap();
        self.dr.fill(0.0);
        sgd(&mut self.w, &mut self.gw, 0.01);
        sgd(&mut self.b, &mut self.gb, 0.01);
    }
}

struct Cnn {
    x: Vec<f32>,
    dx: Vec<f32>,
    labels: Vec<usize>,
    blocks: [Block; 3],
    flat: Vec<f32>,
    dflat: Vec<f32>,
    w4: Vec<f32>,
    b4: Vec<f32>,
    w5: Vec<f32>,
    b5: Vec<f32>,
    g: [Vec<f32>; 4],
    h: Vec<f32>,
    a: Vec<f32>,
    logits: Vec<f32>,
    probs: Vec<f32>,
    dh: Vec<f32>,
    da: Vec<f32>,
    dlogits: Vec<f32>,
    dprobs: Vec<f32>,
}

impl Cnn {
    fn new() -> Self {
        let blocks = [
            Block::new(1, 2048, 16, 16, 1),
            Block::new(16, 508, 32, 8, 2),
            Block::new(32, 125, 64, 8, 3),
        ];
        assert_eq!(blocks[2].p.len(), B * 1856);
        Cnn {
            x: init(B * 2048, 2.0, 9),
            dx: vec![0.0; B * 2048],
            labels: (0..B).map(|r| r % 2).collect(),
            blocks,
            flat: vec![0.0; B * 1856],
            dflat: vec![0.0; B * 1856],
            w4: init(64 * 1856, 0.05, 4),
            b4: vec![0.0; 64],
            w5: init(2 * 64, 0.3, 5),
            b5: vec![0.0; 2],
            g: [
                vec![0.0; 64 * 1856],
                vec![0.0; 64],
                vec![0.0; 2 * 64],
                vec![0.0; 2],
            ],
            h: vec![0.0; B * 64],
            a: vec![0.0; B * 64],
            logits: vec![0.0; B * 2],
            probs: vec![0.0; B * 2],
            dh: vec![0.0; B * 64],
            da: vec![0.0; B * 64],
            dlogits: vec![0.0; B * 2],
            dprobs: vec![0.0; B * 2],
        }
    }

    fn step(&mut self) -> f32 {
        let s = self;
        let [b1, b2, b3] = &mut s.blocks;
        b1.forward(&s.x);
        b2.forward(&b1.p);
        b3.forward(&b2.p);
        k::flatten(&mut s.flat, &b3.p).unwrap();
        k::linear(&mut s.h, &s.flat, &s.w4, &s.b4, B, 1856, 64).unwrap();
        k::relu(&mut s.a, &s.h).unwrap();
        k::linear(&mut s.logits, &s.a, &s.w5, &s.b5, B, 64, 2).unwrap();
        let loss = k::softmax_cross_entropy(&mut s.probs, &s.logits, &s.labels, B, 2).unwrap();
        k::softmax_cross_entropy_pullback(
            &mut s.probs,
            &s.logits,
            &s.labels,
            B,
            2,
            1.0,
            &mut s.dprobs,
            &mut s.dlogits,
        )
        .unwrap();
        let [gw4, gb4, gw5, gb5] = &mut s.g;
        k::linear_pullback(
            &mut s.logits,
            &s.a,
            &s.w5,
            &s.b5,
            B,
            64,
            2,
            &mut s.dlogits,
            &mut s.da,
            gw5,
            gb5,
        )
        .unwrap();
        k::relu_pullback(&mut s.a, &s.h, &mut s.da, &mut s.dh).unwrap();
        k::linear_pullback(
            &mut s.h,
            &s.flat,
            &s.w4,
            &s.b4,
            B,
            1856,
            64,
            &mut s.dh,
            &mut s.dflat,
            gw4,
            gb4,
        )
        .unwrap();
        k::flatten_pullback(&mut s.flat, &b3.p, &mut s.dflat, &mut b3.dp).unwrap();
        b3.backward(&b2.p, &mut b2.dp);
        b2.backward(&b1.p, &mut b1.dp);
        b1.backward(&s.x, &mut s.dx);
        s.da.fill(0.0);
        s.dx.fill(0.0);
        sgd(&mut s.w4, gw4, 0.01);
        sgd(&mut s.b4, gb4, 0.01);
        sgd(&mut s.w5, gw5, 0.01);
        sgd(&mut s.b5, gb5, 0.01);
        loss
    }
}

fn bench(c: &mut Criterion) {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(2)
        .build()
        .expect("rayon pool");
    let mut g = c.benchmark_group("step");
    g.sample_size(30)
        .measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_millis(500));
    // Each measurement runs entirely inside the pool (one hand-off per batch of iterations).
    let timed = |iters: u64, f: &mut (dyn FnMut() -> f32 + Send)| {
        pool.install(|| {
            let t = Instant::now();
            for _ in 0..iters {
                black_box(f());
            }
            t.elapsed()
        })
    };
    for threads in [1usize, 2] {
        k::set_num_threads(threads);
        let mut w1a = Mlp::new(64, 128);
        g.bench_function(BenchmarkId::new("W1a mlp 784-128-10 b64", threads), |b| {
            b.iter_custom(|n| timed(n, &mut || w1a.step()))
        });
        let mut w1b = Mlp::new(256, 512);
        g.bench_function(BenchmarkId::new("W1b mlp 784-512-10 b256", threads), |b| {
            b.iter_custom(|n| timed(n, &mut || w1b.step()))
        });
        let mut w2 = Cnn::new();
        g.bench_function(BenchmarkId::new("W2 cnn b32", threads), |b| {
            b.iter_custom(|n| timed(n, &mut || w2.step()))
        });
    }
    g.finish();
    k::set_num_threads(1);
}

criterion_group!(benches, bench);
criterion_main!(benches);
