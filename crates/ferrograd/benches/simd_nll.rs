//! Issue 16: the W3 likelihood (Gaussian + exponential, f64 events) in its three compiled
//! forms — scalar, `simd` (one thread, SIMD lanes), `parallel` (SIMD lanes on rayon's
//! threads) — for the primal, value + gradient, the 4×4 Hessian and the forward-mode
//! directional derivative (`pushforward`) at 100k and 1M events (the last two at 100k), and
//! the gradient of the NLL with a constraint term after the loop (`constrained_grad`: a value
//! pass, then the unfused pullback pass) and of the NLL in `f32` (`f32_value_grad`).
//! `powlaw_100k` is a power-law spectrum (`powf` with a parameter as its exponent) in the
//! same three forms. `parallel_warm` runs the primal and value + gradient as the benchmark suite does, inside a
//! pool whose other worker spins between calls (`keep_warm`); `two_plain_threads` is what a
//! perfect split of the primal over two threads would take.
//!
//! `cargo bench -p ferrograd --bench simd_nll`. The side-by-side comparison with PyTorch,
//! torch.compile and JAX is the benchmark suite's W3 rows (`bench/run`).

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use ferrograd::differentiable;

/// `−Σ ln(f·G(x; μ, σ) + (1−f)·c·e^{−cx})` over the events (unnormalised range), in scalar
/// type `$t`, returning `$ret` (in terms of the loop's sum `$s` and the fraction `$frac`),
/// once per name with its `#[differentiable]` options.
macro_rules! nll_variants {
    ($t:ident, $sqrt_2pi:literal, |$s:ident, $frac:ident| $ret:expr;
     $($name:ident [$($opt:tt)*]),*) => {$(
        #[differentiable($($opt)*)]
        pub fn $name(p: &[$t], x: &[$t]) -> $t {
            let mean = p[0];
            let sigma = p[1];
            let c = p[2];
            let $frac = p[3];
            let wg = $frac / (sigma * $sqrt_2pi);
            let we = (1.0 - $frac) * c;
            let mut $s = 0.0;
            for xi in x {
                let z = (xi - mean) / sigma;
                $s -= (wg * (-0.5 * z * z).exp() + we * (-c * xi).exp()).ln();
            }
            $ret
        }
    )*};
}
nll_variants!(f64, 2.5066282746310002, |s, frac| s;
    nll_scalar[hessian, wrt(p)],
    nll_simd[simd, hessian, wrt(p)],
    nll_par[parallel, hessian, wrt(p)]
);
// The NLL plus a Gaussian constraint on the fraction: the loop's sum is not returned
// directly, so the gradient is a value pass and then a pullback pass.
nll_variants!(f64, 2.5066282746310002, |s, frac| {
        let u = (frac - 0.35) / 0.05;
        s + 0.5 * u * u
    };
    constrained_simd[simd, wrt(p)],
    constrained_par[parallel, wrt(p)]
);
// The same NLL in `f32` (sixteen lanes per group).
nll_variants!(f32, 2.5066283, |s, frac| s;
    nll_f32_simd[simd, wrt(p)],
    nll_f32_par[parallel, wrt(p)]
);

/// A power-law spectrum with an exponential cut-off, `−Σ ln(n·(x/x₀)^−α·e^{−cx})`: `powf` with
/// a real exponent that is a parameter (its rules select by value, lane by lane).
macro_rules! powlaw_variants {
    ($($name:ident [$($opt:tt)*]),*) => {$(
        #[differentiable($($opt)*)]
        pub fn $name(p: &[f64], x: &[f64]) -> f64 {
            let alpha = p[0];
            let x0 = p[1];
            let cut = p[2];
            let norm = (alpha - 1.0) / x0;
            let mut s = 0.0;
            for xi in x {
                s -= (norm * (xi / x0).powf(-alpha) * (-cut * xi).exp()).ln();
            }
            s
        }
    )*};
}
powlaw_variants!(
    powlaw_scalar[wrt(p)],
    powlaw_simd[simd, wrt(p)],
    powlaw_par[parallel, wrt(p)]
);

type Value = fn(&[f64], &[f64]) -> f64;
type Grad = fn(&[f64], &[f64], &mut [f64]) -> f64;
type Hess = fn(&[f64], &[f64], &mut [f64]) -> Result<f64, ferrograd::ShapeError>;
type Push = fn(&[f64], &[f64], &[f64], &[f64]) -> (f64, f64);

fn events(n: usize) -> Vec<f64> {
    let mut s = 0x1234_5678u64;
    (0..n)
        .map(|_| {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            10.0 * (s >> 11) as f64 / (1u64 << 53) as f64
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let p = [3.0, 0.8, 0.3, 0.4];
    let variants: [(&str, Value, Grad, Hess, Push); 3] = [
        (
            "scalar",
            nll_scalar,
            nll_scalar_grad,
            nll_scalar_hessian,
            nll_scalar_pushforward,
        ),
        (
            "simd",
            nll_simd,
            nll_simd_grad,
            nll_simd_hessian,
            nll_simd_pushforward,
        ),
        (
            "parallel",
            nll_par,
            nll_par_grad,
            nll_par_hessian,
            nll_par_pushforward,
        ),
    ];
    for n in [100_000usize, 1_000_000] {
        let x = events(n);
        let mut g = c.benchmark_group(format!("nll_{}k", n / 1000));
        g.sample_size(20);
        // The directional derivative along the parameters (forward mode): the events' tangent
        // is zero, an empty slice for the vectorised loops (read as zero lanes) and the zeros
        // written out for the scalar code, which indexes its tangent.
        let (tp, tx, tx_zeros) = ([1.0, 0.5, -0.25, 0.1], Vec::<f64>::new(), vec![0.0; n]);
        for (name, f, gr, h, push) in variants {
            g.bench_function(format!("primal/{name}"), |b| {
                b.iter(|| f(black_box(&p), black_box(&x)))
            });
            g.bench_function(format!("value_grad/{name}"), |b| {
                let mut d = [0.0; 4];
                b.iter(|| gr(black_box(&p), black_box(&x), &mut d))
            });
            if name == "parallel" {
                // As the benchmark suite runs it: inside a pool whose other worker spins for
                // work between calls (`keep_warm`), so no call pays rayon's wake-up.
                let pool = rayon::ThreadPoolBuilder::new()
                    .num_threads(std::thread::available_parallelism().map_or(2, |n| n.get()))
                    .build()
                    .expect("a rayon pool");
                // `keep_warm` spins only when the kernels may use more than one thread.
                ferrograd::kernels::set_num_threads(pool.current_num_threads());
                let warm = |iters: u64, call: &(dyn Fn() + Sync)| {
                    pool.install(|| {
                        ferrograd::kernels::keep_warm(|| {
                            let t = std::time::Instant::now();
                            for _ in 0..iters {
                                call();
                            }
                            t.elapsed()
                        })
                    })
                };
                g.bench_function("primal/parallel_warm", |b| {
                    b.iter_custom(|iters| {
                        warm(iters, &|| {
                            black_box(f(black_box(&p), black_box(&x)));
                        })
                    })
                });
                // The reference for the threaded drivers: two plain threads, each summing the
                // one-thread `simd` primal over its half of the events (the split is exact).
                g.bench_function("primal/two_plain_threads", |b| {
                    b.iter_custom(|iters| {
                        let (left, right) = x.split_at(x.len() / 2);
                        let half = |events: &[f64]| {
                            let t = std::time::Instant::now();
                            for _ in 0..iters {
                                black_box(nll_simd(black_box(&p), black_box(events)));
                            }
                            t.elapsed()
                        };
                        std::thread::scope(|s| {
                            let l = s.spawn(|| half(left));
                            let r = s.spawn(|| half(right));
                            l.join()
                                .expect("left half")
                                .max(r.join().expect("right half"))
                        })
                    })
                });
                g.bench_function("value_grad/parallel_warm", |b| {
                    b.iter_custom(|iters| {
                        warm(iters, &|| {
                            let mut d = [0.0; 4];
                            black_box(gr(black_box(&p), black_box(&x), &mut d));
                        })
                    })
                });
            }
            if n == 100_000 {
                g.bench_function(format!("hessian/{name}"), |b| {
                    let mut hs = [0.0; 16];
                    b.iter(|| h(black_box(&p), black_box(&x), &mut hs))
                });
                g.bench_function(format!("pushforward/{name}"), |b| {
                    let tx = if name == "scalar" { &tx_zeros } else { &tx };
                    b.iter(|| push(black_box(&p), black_box(&x), &tp, tx))
                });
            }
        }
        if n == 100_000 {
            let (p32, x32): (Vec<f32>, Vec<f32>) = (
                p.iter().map(|&v| v as f32).collect(),
                x.iter().map(|&v| v as f32).collect(),
            );
            type Grad32 = fn(&[f32], &[f32], &mut [f32]) -> f32;
            let f32_variants: [(&str, Grad32); 2] =
                [("simd", nll_f32_simd_grad), ("parallel", nll_f32_par_grad)];
            for (name, gr) in f32_variants {
                g.bench_function(format!("f32_value_grad/{name}"), |b| {
                    let mut d = [0.0f32; 4];
                    b.iter(|| gr(black_box(&p32), black_box(&x32), &mut d))
                });
            }
            let constrained: [(&str, Grad); 2] = [
                ("simd", constrained_simd_grad),
                ("parallel", constrained_par_grad),
            ];
            for (name, gr) in constrained {
                g.bench_function(format!("constrained_grad/{name}"), |b| {
                    let mut d = [0.0; 4];
                    b.iter(|| gr(black_box(&p), black_box(&x), &mut d))
                });
            }
        }
        g.finish();
    }
    // The power law at 100k events in [1, 11).
    let x: Vec<f64> = events(100_000).iter().map(|v| 1.0 + v).collect();
    let p = [2.3, 1.0, 0.05];
    let mut g = c.benchmark_group("powlaw_100k");
    g.sample_size(20);
    let powlaw: [(&str, Value, Grad); 3] = [
        ("scalar", powlaw_scalar, powlaw_scalar_grad),
        ("simd", powlaw_simd, powlaw_simd_grad),
        ("parallel", powlaw_par, powlaw_par_grad),
    ];
    for (name, f, gr) in powlaw {
        g.bench_function(format!("primal/{name}"), |b| {
            b.iter(|| f(black_box(&p), black_box(&x)))
        });
        g.bench_function(format!("value_grad/{name}"), |b| {
            let mut d = [0.0; 3];
            b.iter(|| gr(black_box(&p), black_box(&x), &mut d))
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
