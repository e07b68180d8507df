//! Test helpers: a tiny deterministic RNG and a finite-difference gradient checker.
#![allow(dead_code, reason = "each test binary uses a different subset")]

/// splitmix64: small, deterministic, good enough for test data.
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
    /// Uniform in [lo, hi).
    pub fn uniform(&mut self, lo: f32, hi: f32) -> f32 {
        let u = (self.next_u64() >> 40) as f32 / (1u64 << 24) as f32;
        lo + (hi - lo) * u
    }
    pub fn vec(&mut self, n: usize, lo: f32, hi: f32) -> Vec<f32> {
        (0..n).map(|_| self.uniform(lo, hi)).collect()
    }
    /// Uniform integer in [lo, hi].
    pub fn int(&mut self, lo: usize, hi: usize) -> usize {
        lo + (self.next_u64() % (hi - lo + 1) as u64) as usize
    }
}

/// Forward under test: reads the inputs, writes the outputs, returns the scalar result of a
/// loss (0 for kernels without one).
pub type Fwd<'a> = dyn Fn(&[Vec<f32>], &mut [f32]) -> f32 + 'a;
/// Pullback under test: `(inputs, outputs, d_ret, d_out, d_inputs)`.
pub type Pb<'a> = dyn Fn(&[Vec<f32>], &mut [f32], f32, &mut [f32], &mut [Vec<f32>]) + 'a;

/// Checks a pullback against central finite differences of `L = Σ r·out + c·ret` with respect
/// to every input element, plus the adjoint semantics (input adjoints accumulate, `d_out` is
/// zeroed). Inputs listed in `skip` (non-smooth there, or not differentiable) are not
/// finite-differenced but still checked for accumulation. Returns the max abs error.
pub fn gradcheck(
    name: &str,
    inputs: &[Vec<f32>],
    n_out: usize,
    h: f32,
    tol: f32,
    fwd: &Fwd<'_>,
    pb: &Pb<'_>,
) -> f32 {
    let mut rng = Rng::new(0xC0FFEE ^ n_out as u64);
    let seed = rng.vec(n_out, -1.0, 1.0);
    let c_ret = 0.75f32;
    let objective = |xs: &[Vec<f32>]| -> f64 {
        let mut out = vec![0.0f32; n_out];
        let ret = fwd(xs, &mut out);
        out.iter()
            .zip(&seed)
            .map(|(&o, &r)| f64::from(o) * f64::from(r))
            .sum::<f64>()
            + f64::from(c_ret) * f64::from(ret)
    };

    // Analytic gradient.
    let mut out = vec![0.0f32; n_out];
    fwd(inputs, &mut out);
    let mut d_out = seed.clone();
    let mut d_in: Vec<Vec<f32>> = inputs.iter().map(|x| vec![0.0; x.len()]).collect();
    pb(inputs, &mut out, c_ret, &mut d_out, &mut d_in);
    assert!(
        d_out.iter().all(|&v| v == 0.0),
        "{name}: d_out not zeroed by the pullback"
    );

    // Finite differences.
    let mut max_err = 0.0f32;
    let mut xs = inputs.to_vec();
    for a in 0..xs.len() {
        for i in 0..xs[a].len() {
            let x0 = xs[a][i];
            xs[a][i] = x0 + h;
            let lp = objective(&xs);
            xs[a][i] = x0 - h;
            let lm = objective(&xs);
            xs[a][i] = x0;
            let fd = ((lp - lm) / (2.0 * f64::from(h))) as f32;
            let an = d_in[a][i];
            let err = (fd - an).abs();
            max_err = max_err.max(err);
            assert!(
                err <= tol * (1.0 + an.abs()),
                "{name}: input {a} element {i}: analytic {an} vs finite difference {fd} (err {err}, tol {tol})"
            );
        }
    }

    // Accumulation: a second pullback with the same seed doubles every input adjoint.
    let mut d_out = seed.clone();
    let first = d_in.clone();
    pb(inputs, &mut out, c_ret, &mut d_out, &mut d_in);
    for (a, (twice, once)) in d_in.iter().zip(&first).enumerate() {
        for (i, (&t, &o)) in twice.iter().zip(once).enumerate() {
            assert!(
                (t - 2.0 * o).abs() <= 1e-5 * (1.0 + o.abs()),
                "{name}: input {a}[{i}] did not accumulate: {t} vs 2·{o}"
            );
        }
    }
    println!("{name}: max |analytic − finite difference| = {max_err:.3e} (tol {tol:.1e}·(1+|g|))");
    max_err
}

/// Asserts `a` and `b` agree elementwise within `tol·(1+|b|)`; prints the max difference.
pub fn assert_close(name: &str, a: &[f32], b: &[f64], tol: f64) {
    assert_eq!(a.len(), b.len(), "{name}: lengths");
    let mut max = 0.0f64;
    for (i, (&x, &y)) in a.iter().zip(b).enumerate() {
        let e = (f64::from(x) - y).abs();
        max = max.max(e);
        assert!(
            e <= tol * (1.0 + y.abs()),
            "{name}[{i}]: {x} vs reference {y}"
        );
    }
    println!("{name}: max |kernel − f64 reference| = {max:.3e}");
}
