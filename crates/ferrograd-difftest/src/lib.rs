//! Differential test of the ferrograd AD compiler.
//!
//! `build.rs` writes (deterministic seed) a few hundred random scalar programs — straight-line
//! code and loops, branches on values, overwritten variables, calls of shared
//! `#[differentiable]` helpers, slice reads — each marked `#[ferrograd::differentiable]`.
//! `tests/difftest.rs` compiles them and, for every program at a few random points, compares
//! - the value returned by `p_grad` and `p_pushforward` with the primal,
//! - reverse mode (`p_grad`, one call) with forward mode (`p_pushforward`, one call per input
//!   direction): these must agree to rounding,
//! - both with central finite differences (f64, h = 1e-6).
//!
//! Every program has the signature `fn p(x0: f64, x1: f64, x2: f64, x3: f64, y: &[f64], n: usize) -> f64`
//! and is called with `y.len() == Y_LEN`, `n == N`.

pub mod rng;

use rng::Rng;

/// Number of scalar parameters `x0..x3` of every generated program.
pub const N_SCALARS: usize = 4;
/// Length of the slice parameter `y`.
pub const Y_LEN: usize = 4;
/// The integer parameter `n` (loop bound; `n < Y_LEN`, so `y[i + 1]` is in bounds for `i < n`).
pub const N: usize = 3;
/// Random points per program.
pub const POINTS: usize = 3;
/// Central-difference step.
pub const H: f64 = 1e-6;
/// Reverse vs forward mode: `|a - b| <= RTOL_AD · max(|a|, |b|) + ATOL_AD`.
pub const RTOL_AD: f64 = 1e-9;
pub const ATOL_AD: f64 = 1e-12;
/// AD vs finite differences: `|a - b| <= RTOL_FD · max(|a|, |b|) + ATOL_FD · (1 + |f|)`
/// (the floor scales with `|f|` because the rounding error of a central difference does).
pub const RTOL_FD: f64 = 1e-5;
pub const ATOL_FD: f64 = 1e-6;

/// `p(x, y, n)`.
pub type Eval = fn(&[f64], &[f64], usize) -> f64;
/// `p_grad(x, y, n, dx, dy)`: adds the gradient into `dx` (length 4) and `dy`, returns the value.
pub type Grad = fn(&[f64], &[f64], usize, &mut [f64], &mut [f64]) -> f64;
/// `p_pushforward(x, y, n, tx, ty)`: value and directional derivative.
pub type Pushforward = fn(&[f64], &[f64], usize, &[f64], &[f64]) -> (f64, f64);

/// One generated program and adapters to its generated derivatives.
pub struct Program {
    pub name: &'static str,
    /// The program's source, printed when it disagrees.
    pub source: &'static str,
    pub eval: Eval,
    pub grad: Grad,
    pub pushforward: Pushforward,
}

/// Largest differences seen, each divided by its tolerance (so `<= 1` means agreement).
#[derive(Clone, Copy, Debug, Default)]
pub struct Stats {
    pub programs: usize,
    pub points: usize,
    /// Derivative components checked, and how many of them were non-zero (a test whose
    /// derivatives were all zero would prove little).
    pub components: usize,
    pub nonzero: usize,
    /// max |reverse − forward| (absolute).
    pub max_rev_fwd: f64,
    /// max |reverse − finite difference| (absolute).
    pub max_rev_fd: f64,
    /// max |reverse − finite difference| / tolerance.
    pub max_fd_ratio: f64,
}

/// `diff <= tol`, false for NaN (a NaN derivative is a disagreement).
fn within(diff: f64, tol: f64) -> bool {
    diff <= tol
}

fn tol_ad(a: f64, b: f64) -> f64 {
    RTOL_AD * a.abs().max(b.abs()) + ATOL_AD
}

fn tol_fd(a: f64, b: f64, f: f64) -> f64 {
    RTOL_FD * a.abs().max(b.abs()) + ATOL_FD * (1.0 + f.abs())
}

/// Checks one program at `POINTS` random points (seeded by `seed`). Returns the statistics, or
/// a report of every disagreement.
pub fn check_program(p: &Program, seed: u64, stats: &mut Stats) -> Result<(), String> {
    let mut rng = Rng::new(seed);
    let mut errors = Vec::new();
    stats.programs += 1;
    let dim = N_SCALARS + Y_LEN;
    for _ in 0..POINTS {
        stats.points += 1;
        let x: Vec<f64> = (0..N_SCALARS).map(|_| rng.uniform(-1.5, 1.5)).collect();
        let y: Vec<f64> = (0..Y_LEN).map(|_| rng.uniform(-1.5, 1.5)).collect();
        let mut fail = |what: String| errors.push(format!("  at x = {x:?}, y = {y:?}: {what}"));
        let f = (p.eval)(&x, &y, N);
        if !f.is_finite() {
            fail(format!("value {f} is not finite (generator bug)"));
            continue;
        }
        // Reverse mode: one call, adjoints added into zeros.
        let (mut dx, mut dy) = (vec![0.0; N_SCALARS], vec![0.0; Y_LEN]);
        let v_rev = (p.grad)(&x, &y, N, &mut dx, &mut dy);
        if v_rev != f {
            fail(format!("p_grad returned {v_rev}, primal {f}"));
        }
        let rev: Vec<f64> = dx.iter().chain(&dy).copied().collect();
        for k in 0..dim {
            let name = if k < N_SCALARS {
                format!("x{k}")
            } else {
                format!("y[{}]", k - N_SCALARS)
            };
            // Forward mode along the k-th input.
            let (mut tx, mut ty) = (vec![0.0; N_SCALARS], vec![0.0; Y_LEN]);
            let bump = |tx: &mut [f64], ty: &mut [f64], d: f64| {
                if k < N_SCALARS {
                    tx[k] += d
                } else {
                    ty[k - N_SCALARS] += d
                }
            };
            bump(&mut tx, &mut ty, 1.0);
            let (v_fwd, fwd) = (p.pushforward)(&x, &y, N, &tx, &ty);
            if v_fwd != f {
                fail(format!("p_pushforward returned value {v_fwd}, primal {f}"));
            }
            // Central difference along the k-th input.
            let (mut xp, mut yp, mut xm, mut ym) = (x.clone(), y.clone(), x.clone(), y.clone());
            bump(&mut xp, &mut yp, H);
            bump(&mut xm, &mut ym, -H);
            let fd = ((p.eval)(&xp, &yp, N) - (p.eval)(&xm, &ym, N)) / (2.0 * H);

            stats.components += 1;
            stats.nonzero += usize::from(rev[k] != 0.0);
            let d_ad = (rev[k] - fwd).abs();
            let d_fd = (rev[k] - fd).abs();
            stats.max_rev_fwd = stats.max_rev_fwd.max(d_ad);
            stats.max_rev_fd = stats.max_rev_fd.max(d_fd);
            stats.max_fd_ratio = stats.max_fd_ratio.max(d_fd / tol_fd(rev[k], fd, f));
            if !within(d_ad, tol_ad(rev[k], fwd)) {
                fail(format!(
                    "∂f/∂{name}: reverse {} vs forward {fwd} (diff {d_ad:.2e})",
                    rev[k]
                ));
            }
            if !within(d_fd, tol_fd(rev[k], fd, f)) {
                fail(format!(
                    "∂f/∂{name}: reverse {} vs finite difference {fd} (forward {fwd}, diff {d_fd:.2e})",
                    rev[k]
                ));
            }
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "program `{}` disagrees:\n{}\n{}",
            p.name,
            errors.join("\n"),
            p.source
        ))
    }
}

/// Checks every program of a batch, prints the max differences, and panics with all
/// disagreements.
pub fn check_all(batch: &str, programs: &[Program]) {
    let mut stats = Stats::default();
    let mut failures = Vec::new();
    for (k, p) in programs.iter().enumerate() {
        // Seed the points by program name so that a failure is reproducible alone.
        let seed = p.name.bytes().fold(0xF3_u64, |h, b| {
            h.wrapping_mul(31).wrapping_add(u64::from(b))
        });
        if let Err(e) = check_program(p, seed ^ k as u64, &mut stats) {
            failures.push(e);
        }
    }
    println!(
        "{batch}: {} programs × {} points, {}/{} derivatives non-zero: max |reverse − forward| = {:.2e}, \
         max |reverse − finite difference| = {:.2e} ({:.2} of tolerance)",
        stats.programs,
        POINTS,
        stats.nonzero,
        stats.components,
        stats.max_rev_fwd,
        stats.max_rev_fd,
        stats.max_fd_ratio
    );
    assert!(
        failures.is_empty(),
        "{batch}: {} of {} programs disagree:\n{}",
        failures.len(),
        programs.len(),
        failures.join("\n\n")
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sq(x: &[f64], y: &[f64], _n: usize) -> f64 {
        x[0] * x[0] + 3.0 * y[1]
    }

    fn sq_grad(x: &[f64], _y: &[f64], n: usize, dx: &mut [f64], dy: &mut [f64]) -> f64 {
        dx[0] += 2.0 * x[0];
        dy[1] += 3.0;
        sq(x, _y, n)
    }

    fn sq_fwd(x: &[f64], y: &[f64], n: usize, tx: &[f64], ty: &[f64]) -> (f64, f64) {
        (sq(x, y, n), 2.0 * x[0] * tx[0] + 3.0 * ty[1])
    }

    fn sq_bad_grad(x: &[f64], y: &[f64], n: usize, dx: &mut [f64], dy: &mut [f64]) -> f64 {
        let v = sq_grad(x, y, n, dx, dy);
        dx[0] *= 1.001;
        v
    }

    #[test]
    fn harness_accepts_a_correct_program() {
        let p = Program {
            name: "sq",
            source: "",
            eval: sq,
            grad: sq_grad,
            pushforward: sq_fwd,
        };
        let mut s = Stats::default();
        check_program(&p, 1, &mut s).unwrap();
        assert!(s.max_fd_ratio < 1.0 && s.max_rev_fwd == 0.0, "{s:?}");
    }

    #[test]
    fn harness_rejects_a_wrong_gradient() {
        let p = Program {
            name: "sq",
            source: "fn sq",
            eval: sq,
            grad: sq_bad_grad,
            pushforward: sq_fwd,
        };
        let err = check_program(&p, 1, &mut Stats::default()).unwrap_err();
        assert!(
            err.contains("∂f/∂x0: reverse") && err.contains("fn sq"),
            "{err}"
        );
    }

    #[test]
    fn rng_is_deterministic() {
        let (mut a, mut b) = (Rng::new(7), Rng::new(7));
        assert!((0..100).all(|_| a.next_u64() == b.next_u64()));
        assert!((0..1000)
            .map(|_| a.uniform(-1.5, 1.5))
            .all(|v| (-1.5..1.5).contains(&v)));
    }
}
