//! Shared test helpers.
#![allow(dead_code, reason = "each test binary uses a different subset")]

/// splitmix64 test data.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    pub fn uniform(&mut self, lo: f32, hi: f32) -> f32 {
        lo + (hi - lo) * ((self.next_u64() >> 40) as f32 / (1u64 << 24) as f32)
    }
    pub fn vec(&mut self, n: usize, lo: f32, hi: f32) -> Vec<f32> {
        (0..n).map(|_| self.uniform(lo, hi)).collect()
    }
}

/// A synthetic, learnable classification set: `n` rows of `row_len` values whose label is
/// the index of the largest of the first `classes` "prototype" projections.
pub fn synthetic(n: usize, row_len: usize, classes: usize, seed: u64) -> (Vec<f32>, Vec<u8>) {
    let mut rng = Rng::new(seed);
    let protos = rng.vec(classes * row_len, -1.0, 1.0);
    let x = rng.vec(n * row_len, -1.0, 1.0);
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
