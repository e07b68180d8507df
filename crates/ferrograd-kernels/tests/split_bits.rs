//! Splitting a product across threads never changes its bits: each thread computes whole
//! outputs, each a sum over `k` in the same order. Its own process (the thread count is a
//! process-wide setting), on MNIST-sized dense layers at batch 1 and 8, where the split is
//! decided by the bytes a product moves (a batch-1 weight gradient, 0.2 MFLOP but a 400 KB
//! write, is split) rather than its flops.

use ferrograd_kernels as k;
use ferrograd_testkit::SplitMix64;

/// A dense layer's inputs and output seed: `[x, w, b, seed]`.
fn inputs(batch: usize, in_f: usize, out_f: usize) -> [Vec<f32>; 4] {
    let mut rng = SplitMix64::new(7);
    [batch * in_f, out_f * in_f, out_f, batch * out_f].map(|n| rng.vec(n, -1.0, 1.0))
}

/// `linear` and `linear_pullback` on `threads` threads: `[out, d_x, d_w, d_b]`.
fn dense(threads: usize, batch: usize, in_f: usize, out_f: usize) -> [Vec<f32>; 4] {
    k::set_num_threads(threads);
    let [x, w, b, seed] = inputs(batch, in_f, out_f);
    let mut out = vec![0.0; batch * out_f];
    k::linear(&mut out, &x, &w, &b, batch, in_f, out_f).unwrap();
    let mut d_out = seed;
    let (mut d_x, mut d_w, mut d_b) = (
        vec![0.0; batch * in_f],
        vec![0.0; out_f * in_f],
        vec![0.0; out_f],
    );
    k::linear_pullback(
        &mut out, &x, &w, &b, batch, in_f, out_f, &mut d_out, &mut d_x, &mut d_w, &mut d_b,
    )
    .unwrap();
    assert!(d_out.iter().all(|&v| v == 0.0), "the seed is consumed");
    [out, d_x, d_w, d_b]
}

#[test]
fn dense_layers_split_by_bytes_give_the_bits_of_one_thread() {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(2)
        .build()
        .unwrap();
    for (batch, in_f, out_f) in [(1, 784, 128), (1, 128, 10), (8, 784, 128), (3, 784, 512)] {
        let one = dense(1, batch, in_f, out_f);
        let two = pool.install(|| dense(2, batch, in_f, out_f));
        for (name, (a, b)) in ["out", "d_x", "d_w", "d_b"]
            .iter()
            .zip(one.iter().zip(&two))
        {
            let same = a.iter().zip(b).all(|(p, q)| p.to_bits() == q.to_bits());
            assert!(
                same,
                "{batch}x{in_f}->{out_f}: {name} differs between 1 and 2 threads"
            );
        }
        // The gradient itself: d_w = dyᵀ·x, checked at one element against a plain sum.
        let [x, _, _, seed] = inputs(batch, in_f, out_f);
        let (o, i) = (out_f - 1, in_f / 2);
        let want: f64 = (0..batch)
            .map(|r| f64::from(seed[r * out_f + o]) * f64::from(x[r * in_f + i]))
            .sum();
        let got = f64::from(two[2][o * in_f + i]);
        assert!(
            (got - want).abs() <= 1e-5 * (1.0 + want.abs()),
            "{got} vs {want}"
        );
    }
}
