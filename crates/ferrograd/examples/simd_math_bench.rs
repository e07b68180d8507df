//! Times `ferrograd::simd_math` against `std` lane by lane, in 8-lane (`[f64; 8]`) and
//! 16-lane (`[f32; 16]`) loops compiled for the best SIMD target by `multiversion`.
//!
//! `cargo run --release -p ferrograd --example simd_math_bench`
//!
//! The speed-up over std is the sign that the loop vectorised (std calls libm per lane).

use ferrograd::simd_math;
use ferrograd_testkit::SplitMix64;
use std::hint::black_box;
use std::time::Instant;

macro_rules! lanewise {
    ($name:ident, $t:ty, $lanes:literal, $f:expr) => {
        #[multiversion::multiversion(targets = "simd")]
        fn $name(xs: &[$t], out: &mut [$t]) {
            for (o, x) in out.chunks_exact_mut($lanes).zip(xs.chunks_exact($lanes)) {
                let mut y = [0.0; $lanes];
                for l in 0..$lanes {
                    y[l] = $f(x[l]);
                }
                o.copy_from_slice(&y);
            }
        }
    };
}

lanewise!(exp_ours, f64, 8, simd_math::exp);
lanewise!(exp_std, f64, 8, f64::exp);
lanewise!(ln_ours, f64, 8, simd_math::ln);
lanewise!(ln_std, f64, 8, f64::ln);
lanewise!(sin_ours, f64, 8, simd_math::sin);
lanewise!(sin_std, f64, 8, f64::sin);
lanewise!(tanh_ours, f64, 8, simd_math::tanh);
lanewise!(tanh_std, f64, 8, f64::tanh);
lanewise!(exp_f32_ours, f32, 16, simd_math::exp_f32);
lanewise!(exp_f32_std, f32, 16, f32::exp);
lanewise!(ln_f32_ours, f32, 16, simd_math::ln_f32);
lanewise!(ln_f32_std, f32, 16, f32::ln);

/// (streaming, in cache) nanoseconds per element.
type Timing = (f64, f64);

/// Best-of-15 nanoseconds per element over all of `xs` (1M elements: 16 MB in and out, so
/// memory bandwidth can bound the fast versions), and over its first 4096 elements repeated
/// (in cache: the compute cost).
fn time<T: Copy + Default>(xs: &[T], f: fn(&[T], &mut [T])) -> Timing {
    let mut out = vec![T::default(); xs.len()];
    let (mut big, mut small) = (f64::INFINITY, f64::INFINITY);
    for _ in 0..15 {
        let t = Instant::now();
        f(black_box(xs), black_box(&mut out));
        big = big.min(t.elapsed().as_secs_f64() * 1e9 / xs.len() as f64);
        let t = Instant::now();
        for _ in 0..256 {
            f(black_box(&xs[..4096]), black_box(&mut out[..4096]));
        }
        small = small.min(t.elapsed().as_secs_f64() * 1e9 / (256.0 * 4096.0));
    }
    black_box(&out);
    (big, small)
}

fn main() {
    const N: usize = 1 << 20;
    // Deterministic inputs (SplitMix64).
    let mut rng = SplitMix64::new(0);
    let mut unit = || rng.unit_f64();
    let exp_in: Vec<f64> = (0..N).map(|_| -50.0 + 100.0 * unit()).collect();
    let ln_in: Vec<f64> = (0..N).map(|_| (-30.0 + 60.0 * unit()).exp()).collect();
    let sin_in: Vec<f64> = (0..N).map(|_| -100.0 + 200.0 * unit()).collect();
    let tanh_in: Vec<f64> = (0..N).map(|_| -5.0 + 10.0 * unit()).collect();
    let exp32: Vec<f32> = exp_in.iter().map(|&x| x as f32).collect();
    let ln32: Vec<f32> = ln_in.iter().map(|&x| x as f32).collect();
    #[cfg(target_arch = "x86_64")]
    println!(
        "avx512f: {}, avx2: {}, fma: {}; {N} elements, best of 15",
        is_x86_feature_detected!("avx512f"),
        is_x86_feature_detected!("avx2"),
        is_x86_feature_detected!("fma")
    );
    let rows: [(&str, Timing, Timing); 6] = [
        ("exp  f64", time(&exp_in, exp_ours), time(&exp_in, exp_std)),
        ("ln   f64", time(&ln_in, ln_ours), time(&ln_in, ln_std)),
        ("sin  f64", time(&sin_in, sin_ours), time(&sin_in, sin_std)),
        (
            "tanh f64",
            time(&tanh_in, tanh_ours),
            time(&tanh_in, tanh_std),
        ),
        (
            "exp  f32",
            time(&exp32, exp_f32_ours),
            time(&exp32, exp_f32_std),
        ),
        (
            "ln   f32",
            time(&ln32, ln_f32_ours),
            time(&ln32, ln_f32_std),
        ),
    ];
    println!("ns per element: 1M elements (streaming) | 4096 elements (in cache)");
    println!(
        "{:<9} {:>10} {:>10} {:>7} | {:>10} {:>10} {:>7}",
        "function", "simd_math", "std", "speedup", "simd_math", "std", "speedup"
    );
    for (name, ours, std) in rows {
        println!(
            "{name:<9} {:>10.3} {:>10.3} {:>6.1}x | {:>10.3} {:>10.3} {:>6.1}x",
            ours.0,
            std.0,
            std.0 / ours.0,
            ours.1,
            std.1,
            std.1 / ours.1
        );
    }
}
