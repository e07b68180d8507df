//! Seeded parameter initialisation with PyTorch's defaults.
//!
//! `nn.Linear` and `nn.Conv1d` initialise their weight with
//! `kaiming_uniform_(w, a=√5)`, i.e. `U(−b, b)` with `b = gain·√(3/fan_in)`,
//! `gain = √(2/(1+a²)) = √(1/3)`, so `b = 1/√fan_in`; the bias is `U(−1/√fan_in, 1/√fan_in)`
//! too. `fan_in` is `in_features` for a linear layer and `c_in·kernel` for a convolution.
//! The random stream is SplitMix64 (ours, not torch's): the same seed gives the same
//! parameters on every platform, and `--engine libtorch` copies them into its `VarStore`.

/// SplitMix64: tiny, fast, statistically fine for initialisation; state is one `u64`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    /// A generator seeded with `seed`.
    pub fn new(seed: u64) -> Self {
        SplitMix64(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Normal with mean `mean` and standard deviation `std` (Box–Muller, one of the pair).
    pub fn normal(&mut self, mean: f32, std: f32) -> f32 {
        // u1 in (0, 1], so ln(u1) is finite.
        let u1 = ((self.next_u64() >> 11) + 1) as f64 * (1.0 / (1u64 << 53) as f64);
        let u2 = (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64);
        let z = (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos();
        mean + std * z as f32
    }

    /// Uniform in `[lo, hi)` (24 random bits).
    pub fn uniform(&mut self, lo: f32, hi: f32) -> f32 {
        let u = (self.next_u64() >> 40) as f32 * (1.0 / (1u64 << 24) as f32);
        lo + (hi - lo) * u
    }
}

/// Fills `w` with `U(−1/√fan_in, 1/√fan_in)` (PyTorch's default for weights and biases of
/// `Linear`/`Conv1d`).
pub fn kaiming_uniform(rng: &mut SplitMix64, w: &mut [f32], fan_in: usize) {
    let bound = 1.0 / (fan_in.max(1) as f32).sqrt();
    for v in w {
        *v = rng.uniform(-bound, bound);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bound_mean_and_variance_match_pytorch() {
        let mut rng = SplitMix64::new(7);
        let fan_in = 784;
        let mut w = vec![0.0f32; 100_000];
        kaiming_uniform(&mut rng, &mut w, fan_in);
        let b = 1.0 / (fan_in as f32).sqrt();
        assert!(w.iter().all(|&v| v >= -b && v < b));
        let n = w.len() as f64;
        let mean = w.iter().map(|&v| f64::from(v)).sum::<f64>() / n;
        let var = w.iter().map(|&v| f64::from(v).powi(2)).sum::<f64>() / n - mean * mean;
        // U(−b, b): mean 0, variance b²/3.
        let want = f64::from(b * b) / 3.0;
        assert!(mean.abs() < 3e-4, "mean {mean}");
        assert!((var - want).abs() / want < 0.02, "var {var} vs {want}");
    }

    #[test]
    fn same_seed_same_stream() {
        let (mut a, mut b) = (SplitMix64::new(3), SplitMix64::new(3));
        let mut c = SplitMix64::new(4);
        let xs: Vec<u64> = (0..5).map(|_| a.next_u64()).collect();
        let ys: Vec<u64> = (0..5).map(|_| b.next_u64()).collect();
        let zs: Vec<u64> = (0..5).map(|_| c.next_u64()).collect();
        assert_eq!(xs, ys);
        assert_ne!(xs, zs);
    }
}
