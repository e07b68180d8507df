//! The single-precision GEMM peak of this machine, measured in the same run on the same
//! threads: the best throughput of ferrograd's `matmul` on a 1024³ product (as `step_bench`).

use std::time::Instant;

use anyhow::Result;

/// The fastest of `reps` runs (after 3 warm-up runs), in GFLOP/s.
pub fn sgemm_peak(reps: usize) -> Result<f64> {
    const N: usize = 1024;
    let a: Vec<f32> = (0..N * N).map(|i| (i % 17) as f32 * 0.01).collect();
    let b: Vec<f32> = (0..N * N).map(|i| (i % 13) as f32 * 0.01).collect();
    let mut c = vec![0.0f32; N * N];
    let mut best = f64::INFINITY;
    for k in 0..reps.max(1) + 3 {
        let t0 = Instant::now();
        ferrograd::kernels::matmul(&mut c, &a, &b, N, N, N)?;
        if k >= 3 {
            best = best.min(t0.elapsed().as_secs_f64());
        }
    }
    Ok(2.0 * (N * N * N) as f64 / best / 1e9)
}
