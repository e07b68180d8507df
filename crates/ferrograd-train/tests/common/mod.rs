//! Shared test helpers.
#![allow(dead_code, reason = "each test binary uses a different subset")]

/// Test data from the crate's own seeded generator.
pub use ferrograd_train::init::SplitMix64 as Rng;

/// `n` values uniform in `[lo, hi)`.
pub fn uniform_vec(rng: &mut Rng, n: usize, lo: f32, hi: f32) -> Vec<f32> {
    (0..n).map(|_| rng.uniform(lo, hi)).collect()
}

/// A synthetic, learnable classification set: `n` rows of `row_len` values whose label is
/// the index of the largest of the first `classes` "prototype" projections.
pub fn synthetic(n: usize, row_len: usize, classes: usize, seed: u64) -> (Vec<f32>, Vec<u8>) {
    let mut rng = Rng::new(seed);
    let protos = uniform_vec(&mut rng, classes * row_len, -1.0, 1.0);
    let x = uniform_vec(&mut rng, n * row_len, -1.0, 1.0);
    let y = x
        .chunks_exact(row_len)
        .map(|r| {
            let scores = protos
                .chunks_exact(row_len)
                .map(|p| p.iter().zip(r).map(|(a, b)| a * b).sum::<f32>());
            let mut best = (0u8, f32::NEG_INFINITY);
            for (i, s) in scores.enumerate() {
                if s > best.1 {
                    best = (i as u8, s);
                }
            }
            best.0
        })
        .collect();
    (x, y)
}
