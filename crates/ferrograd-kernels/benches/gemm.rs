//! SGEMM comparison behind the GEMM choice (see README): ferrograd's `matmul` (faer 0.24,
//! safe views, our own thread split) vs the `gemm` crate with AVX-512 (`x86-v4`) vs
//! `matrixmultiply` (single-threaded here), on 2048³ and the W1/W2 shapes, 1 and 2 threads.
//! Throughput is reported in "elements" = floating-point operations, i.e. Gelem/s = GFLOP/s.
//!
//! `cargo bench -p ferrograd-kernels --bench gemm`

use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use std::time::{Duration, Instant};

/// (name, m, k, n) for `C[m,n] = A[m,k]·B[k,n]`.
const SHAPES: &[(&str, usize, usize, usize)] = &[
    ("2048^3", 2048, 2048, 2048),
    ("W1a fwd 64x784x128", 64, 784, 128),
    ("W1a out 64x128x10", 64, 128, 10),
    ("W1b fwd 256x784x512", 256, 784, 512),
    ("W1b dW 512x256x784", 512, 256, 784),
    ("W2 lin 32x1856x64", 32, 1856, 64),
    ("W2 conv2 im2col 32x128x501", 32, 128, 501),
    ("tall-skinny 16x65536x16", 16, 65536, 16),
];

fn data(n: usize, seed: usize) -> Vec<f32> {
    (0..n)
        .map(|i| ((i * 7 + seed) % 13) as f32 * 0.01 - 0.06)
        .collect()
}

fn bench(c: &mut Criterion) {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(2)
        .build()
        .expect("rayon pool");
    for &(name, m, k, n) in SHAPES {
        let a = data(m * k, 1);
        let b = data(k * n, 2);
        let mut out = vec![0.0f32; m * n];
        let mut g = c.benchmark_group(format!("sgemm {name}"));
        g.throughput(Throughput::Elements((2 * m * n * k) as u64));
        if m * n * k > 1 << 30 {
            g.sample_size(10).measurement_time(Duration::from_secs(4));
        } else {
            g.sample_size(20)
                .measurement_time(Duration::from_secs(1))
                .warm_up_time(Duration::from_millis(300));
        }
        for threads in [1usize, 2] {
            ferrograd_kernels::set_num_threads(threads);
            g.bench_function(BenchmarkId::new("ferrograd(faer)", threads), |bch| {
                bch.iter_custom(|iters| {
                    pool.install(|| {
                        let t = Instant::now();
                        for _ in 0..iters {
                            ferrograd_kernels::matmul(
                                &mut out,
                                black_box(&a),
                                black_box(&b),
                                m,
                                k,
                                n,
                            )
                            .expect("sizes");
                        }
                        t.elapsed()
                    })
                })
            });
            let par = if threads == 1 {
                gemm::Parallelism::None
            } else {
                gemm::Parallelism::Rayon(threads)
            };
            g.bench_function(BenchmarkId::new("gemm(x86-v4)", threads), |bch| {
                bch.iter_custom(|iters| {
                    pool.install(|| {
                        let t = Instant::now();
                        for _ in 0..iters {
                            // SAFETY: `out`, `a`, `b` are live, distinct allocations of exactly
                            // m·n, m·k, k·n floats, and the strides below describe row-major
                            // matrices of those shapes, so every access is in bounds.
                            unsafe {
                                gemm::gemm(
                                    m,
                                    n,
                                    k,
                                    out.as_mut_ptr(),
                                    1,
                                    n as isize,
                                    false,
                                    a.as_ptr(),
                                    1,
                                    k as isize,
                                    b.as_ptr(),
                                    1,
                                    n as isize,
                                    0.0,
                                    1.0,
                                    false,
                                    false,
                                    false,
                                    par,
                                )
                            }
                        }
                        t.elapsed()
                    })
                })
            });
        }
        g.bench_function(BenchmarkId::new("matrixmultiply", 1), |bch| {
            bch.iter(|| {
                // SAFETY: as above: row-major m×k, k×n and m×n buffers of exactly those sizes.
                unsafe {
                    matrixmultiply::sgemm(
                        m,
                        k,
                        n,
                        1.0,
                        a.as_ptr(),
                        k as isize,
                        1,
                        b.as_ptr(),
                        n as isize,
                        1,
                        0.0,
                        out.as_mut_ptr(),
                        n as isize,
                        1,
                    )
                }
            })
        });
        g.finish();
    }
    ferrograd_kernels::set_num_threads(1);
}

criterion_group!(benches, bench);
criterion_main!(benches);
