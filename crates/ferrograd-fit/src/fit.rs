//! The model on a range, its checked NLL/gradient/Hessian, and the fit.
#![expect(
    clippy::needless_range_loop,
    reason = "4×4 matrix algebra reads best by index"
)]

use std::time::{Duration, Instant};

use argmin::core::{CostFunction, Executor, Gradient, State};
use argmin::solver::linesearch::MoreThuenteLineSearch;
use argmin::solver::quasinewton::LBFGS;

use crate::model::{nll, nll_grad, nll_hessian, N_PARAMS, PARAM_NAMES};
use crate::FitError;

pub use crate::events::{read_events, write_events};

/// L-BFGS stops when the gradient norm falls below this (the NLL is O(events); its gradient
/// is exact to ~1e-10 here); Newton steps on the exact Hessian then finish the job.
const GRAD_TOL: f64 = 1e-6;
const MAX_ITERS: u64 = 500;
/// At most this many damped Newton steps after L-BFGS (one or two are usual).
const NEWTON_STEPS: usize = 10;
/// Newton stops once the EDM of its step is below this (Minuit's default goal is 1e-3).
const EDM_DONE: f64 = 1e-12;

/// The physics parameters of the model (see [`crate::model::nll`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Params {
    pub mean: f64,
    pub sigma: f64,
    /// Exponential slope, `exp(c·x)` (negative for a falling background); nonzero.
    pub c: f64,
    /// Signal fraction in [0, 1].
    pub frac: f64,
}

impl Params {
    pub fn to_array(&self) -> [f64; N_PARAMS] {
        [self.mean, self.sigma, self.c, self.frac]
    }
    pub fn from_array(p: [f64; N_PARAMS]) -> Self {
        Params {
            mean: p[0],
            sigma: p[1],
            c: p[2],
            frac: p[3],
        }
    }
}

/// Gaussian + exponential on the observable range `[lo, hi]`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Model {
    pub(crate) lo: f64,
    pub(crate) hi: f64,
}

/// Where the time of a fit went (reported, never asserted on).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Timings {
    /// Everything in [`Model::fit`]: checks, minimisation, Hessian, inversion.
    pub total: Duration,
    /// Start-point scaling, L-BFGS and the Newton polish.
    pub minimise: Duration,
    /// The final `nll_hessian` sum over all events.
    pub hessian: Duration,
    /// NLL evaluations and gradient evaluations requested by the minimiser.
    pub nll_calls: u64,
    pub grad_calls: u64,
    pub lbfgs_iterations: u64,
    pub newton_steps: usize,
}

/// Result of [`Model::fit`].
#[derive(Debug, Clone, PartialEq)]
pub struct FitResult {
    /// `[mean, sigma, c, frac]` at the minimum.
    pub values: [f64; N_PARAMS],
    /// `sqrt(diag(covariance))`.
    pub errors: [f64; N_PARAMS],
    /// Inverse of the NLL Hessian at the minimum, row-major.
    pub covariance: [[f64; N_PARAMS]; N_PARAMS],
    pub min_nll: f64,
    /// Minuit's estimated distance to minimum, `½ gᵀ H⁻¹ g`.
    pub edm: f64,
    pub timings: Timings,
}

impl FitResult {
    /// Parameter names in the order of `values`.
    pub fn names(&self) -> [&'static str; N_PARAMS] {
        PARAM_NAMES
    }
}

impl Model {
    pub fn new(lo: f64, hi: f64) -> Result<Self, FitError> {
        if !(lo.is_finite() && hi.is_finite() && lo < hi) {
            return Err(FitError::BadRange { lo, hi });
        }
        Ok(Model { lo, hi })
    }

    pub fn range(&self) -> (f64, f64) {
        (self.lo, self.hi)
    }

    /// Every event finite and inside the range, at least one.
    pub fn check_events(&self, x: &[f64]) -> Result<(), FitError> {
        if x.is_empty() {
            return Err(FitError::NoEvents);
        }
        match x
            .iter()
            .position(|v| !(v.is_finite() && *v >= self.lo && *v <= self.hi))
        {
            Some(index) => Err(FitError::BadEvent {
                index,
                value: x[index],
                lo: self.lo,
                hi: self.hi,
            }),
            None => Ok(()),
        }
    }

    /// Parameters where the pdf is defined: all finite, `sigma > 0`, `c ≠ 0`, `0 ≤ frac ≤ 1`.
    pub fn check_params(&self, p: &[f64]) -> Result<(), FitError> {
        if p.len() != N_PARAMS {
            return Err(FitError::Length {
                name: "params",
                got: p.len(),
                expected: N_PARAMS,
            });
        }
        for (k, &v) in p.iter().enumerate() {
            let why = if !v.is_finite() {
                Some("not finite")
            } else if k == 1 && v <= 0.0 {
                Some("sigma must be > 0")
            } else if k == 2 && v == 0.0 {
                Some("the slope must be nonzero")
            } else if k == 3 && !(0.0..=1.0).contains(&v) {
                Some("the fraction must lie in [0, 1]")
            } else {
                None
            };
            if let Some(why) = why {
                return Err(FitError::BadParameter {
                    name: PARAM_NAMES[k],
                    value: v,
                    why,
                });
            }
        }
        Ok(())
    }

    /// The NLL at `p` (checked inputs; a non-finite result is an error).
    pub fn nll(&self, p: &[f64], x: &[f64]) -> Result<f64, FitError> {
        self.check_params(p)?;
        self.check_events(x)?;
        finite(nll(p, x, self.lo, self.hi), p)
    }

    /// The NLL and its gradient (written into `grad`, length 4) by the generated `nll_grad`.
    pub fn nll_and_grad(&self, p: &[f64], x: &[f64], grad: &mut [f64]) -> Result<f64, FitError> {
        self.check_params(p)?;
        self.check_events(x)?;
        if grad.len() != N_PARAMS {
            return Err(FitError::Length {
                name: "grad",
                got: grad.len(),
                expected: N_PARAMS,
            });
        }
        grad.fill(0.0);
        let v = nll_grad(p, x, self.lo, self.hi, grad);
        finite(v, p)?;
        if grad.iter().all(|g| g.is_finite()) {
            Ok(v)
        } else {
            Err(FitError::NonFinite { params: p.to_vec() })
        }
    }

    /// The 4×4 parameter Hessian of the NLL (row-major), from the generated `nll_hessian`.
    pub fn hessian(&self, p: &[f64], x: &[f64]) -> Result<[[f64; N_PARAMS]; N_PARAMS], FitError> {
        self.check_params(p)?;
        self.check_events(x)?;
        // `#[differentiable(parallel, hessian, wrt(p))]`: one forward-over-reverse sweep per
        // parameter, its event loop vectorised and split over rayon's threads in a reduction
        // tree fixed by the event count (the same bits on any machine).
        let n = N_PARAMS;
        let mut buf = [0.0; N_PARAMS * N_PARAMS];
        nll_hessian(p, x, self.lo, self.hi, &mut buf).map_err(|e| FitError::Length {
            name: e.name,
            got: e.got,
            expected: e.expected,
        })?;
        let total: Mat = std::array::from_fn(|i| std::array::from_fn(|j| buf[i * n + j]));
        if total.iter().flatten().all(|h: &f64| h.is_finite()) {
            Ok(total)
        } else {
            Err(FitError::NonFinite { params: p.to_vec() })
        }
    }

    /// The parameter Hessian by central differences of the generated gradient (8 gradient
    /// calls, ~100× cheaper than [`Model::hessian`] and accurate to ~1e-7 relative): what the
    /// minimiser steers by. The reported covariance uses the exact [`Model::hessian`].
    pub fn hessian_from_gradient(
        &self,
        p: &[f64],
        x: &[f64],
    ) -> Result<[[f64; N_PARAMS]; N_PARAMS], FitError> {
        self.check_params(p)?;
        let mut h = [[0.0; N_PARAMS]; N_PARAMS];
        for k in 0..N_PARAMS {
            let e = 1e-5 * p[k].abs().max(1e-2);
            let (mut pp, mut pm) = (p.to_vec(), p.to_vec());
            pp[k] += e;
            pm[k] -= e;
            let (mut gp, mut gm) = ([0.0; N_PARAMS], [0.0; N_PARAMS]);
            self.nll_and_grad(&pp, x, &mut gp)?;
            self.nll_and_grad(&pm, x, &mut gm)?;
            for i in 0..N_PARAMS {
                h[i][k] = (gp[i] - gm[i]) / (2.0 * e);
            }
        }
        for i in 0..N_PARAMS {
            for k in 0..i {
                let m = 0.5 * (h[i][k] + h[k][i]);
                h[i][k] = m;
                h[k][i] = m;
            }
        }
        Ok(h)
    }

    /// Minimises the NLL of the events `x` from `start`: argmin's L-BFGS (More–Thuente line
    /// search) on the generated gradient, in coordinates whitened by the Hessian at the start
    /// (so its first step is a Newton step, not a step of size |gradient| ~ 1e4), then damped
    /// Newton steps until the EDM is at rounding level (both steer by
    /// [`Model::hessian_from_gradient`]); the covariance is the inverse of the exact generated
    /// Hessian ([`Model::hessian`]) at the minimum.
    pub fn fit(&self, x: &[f64], start: &Params) -> Result<FitResult, FitError> {
        let t0 = Instant::now();
        let p0 = start.to_array();
        self.check_params(&p0)?;
        self.check_events(x)?;
        self.nll(&p0, x)?;
        let l = whitening(&self.hessian_from_gradient(&p0, x)?);
        let problem = Problem {
            model: *self,
            x,
            p0,
            l,
            calls: Default::default(),
        };
        let solver = LBFGS::new(MoreThuenteLineSearch::new(), 7)
            .with_tolerance_grad(GRAD_TOL)
            .and_then(|s| s.with_tolerance_cost(0.0))
            .map_err(|e| FitError::Minimiser(e.to_string()))?;
        let res = Executor::new(problem, solver)
            .configure(|s| s.param(vec![0.0; N_PARAMS]).max_iters(MAX_ITERS))
            .run()
            .map_err(|e| FitError::Minimiser(e.to_string()))?;
        let state = res.state();
        let lbfgs_iterations = state.get_iter();
        let best = state
            .get_best_param()
            .ok_or_else(|| FitError::Minimiser("no best parameters".into()))?;
        let (nll_calls, grad_calls) = res
            .problem
            .problem
            .as_ref()
            .map_or((0, 0), |pr| pr.calls.get());
        let mut p = to_physical(&p0, &l, best);
        if self.check_params(&p).is_err() {
            p = p0;
        }

        // Damped Newton on the gradient-difference Hessian: halve the step until the NLL does
        // not rise; stop when the step's EDM is at rounding level or it no longer descends.
        let mut newton_steps = 0;
        let mut grad = [0.0; N_PARAMS];
        let mut f = self.nll_and_grad(&p, x, &mut grad)?;
        while newton_steps < NEWTON_STEPS {
            let step = cholesky_solve(&self.hessian_from_gradient(&p, x)?, &grad)?;
            let edm: f64 = 0.5 * step.iter().zip(&grad).map(|(s, g)| s * g).sum::<f64>();
            if edm < EDM_DONE {
                break;
            }
            let mut t = 1.0;
            let mut accepted = false;
            for _ in 0..30 {
                let q: [f64; N_PARAMS] = std::array::from_fn(|k| p[k] - t * step[k]);
                let mut gq = [0.0; N_PARAMS];
                if let Ok(fq) = self.nll_and_grad(&q, x, &mut gq) {
                    if fq <= f {
                        accepted = q != p;
                        (p, f, grad) = (q, fq, gq);
                        break;
                    }
                }
                t *= 0.5;
            }
            newton_steps += 1;
            if !accepted {
                break;
            }
        }
        let minimise = t0.elapsed();

        let th = Instant::now();
        let h = self.hessian(&p, x)?;
        let hessian = th.elapsed();
        let covariance = cholesky_inverse(&h)?;
        let mut errors = [0.0; N_PARAMS];
        let mut edm = 0.0;
        for i in 0..N_PARAMS {
            errors[i] = covariance[i][i].sqrt();
            for j in 0..N_PARAMS {
                edm += 0.5 * grad[i] * covariance[i][j] * grad[j];
            }
        }
        Ok(FitResult {
            values: p,
            errors,
            covariance,
            min_nll: f,
            edm,
            timings: Timings {
                total: t0.elapsed(),
                minimise,
                hessian,
                nll_calls,
                grad_calls,
                lbfgs_iterations,
                newton_steps,
            },
        })
    }
}

/// `L` with `H ≈ L Lᵀ` at the start: the Cholesky factor, or where `H` is not positive definite
/// (far from the minimum) the diagonal `sqrt|H_kk|`.
fn whitening(h: &Mat) -> Mat {
    cholesky(h).unwrap_or_else(|_| {
        let mut l = [[0.0; N_PARAMS]; N_PARAMS];
        for k in 0..N_PARAMS {
            l[k][k] = h[k][k].abs().sqrt().max(1e-8);
        }
        l
    })
}

/// Physical parameters from whitened ones: `p = p0 + L⁻ᵀ u`.
fn to_physical(p0: &[f64; N_PARAMS], l: &Mat, u: &[f64]) -> [f64; N_PARAMS] {
    let mut d = [0.0; N_PARAMS];
    for i in (0..N_PARAMS).rev() {
        let mut s = u.get(i).copied().unwrap_or(0.0);
        for k in i + 1..N_PARAMS {
            s -= l[k][i] * d[k];
        }
        d[i] = s / l[i][i];
    }
    std::array::from_fn(|k| p0[k] + d[k])
}

fn finite(v: f64, p: &[f64]) -> Result<f64, FitError> {
    if v.is_finite() {
        Ok(v)
    } else {
        Err(FitError::NonFinite { params: p.to_vec() })
    }
}

/// argmin's view of the NLL, in whitened coordinates `u` (`p = p0 + L⁻ᵀ u`, gradient
/// `L⁻¹ ∇p`). Outside the parameter domain the cost is +∞ and the gradient an error (the fit
/// then continues from the best point with damped Newton steps); counts calls for [`Timings`].
struct Problem<'a> {
    model: Model,
    x: &'a [f64],
    p0: [f64; N_PARAMS],
    l: Mat,
    calls: std::cell::Cell<(u64, u64)>,
}

impl CostFunction for Problem<'_> {
    type Param = Vec<f64>;
    type Output = f64;
    fn cost(&self, u: &Vec<f64>) -> Result<f64, argmin::core::Error> {
        let (n, g) = self.calls.get();
        self.calls.set((n + 1, g));
        let p = to_physical(&self.p0, &self.l, u);
        if self.model.check_params(&p).is_err() {
            return Ok(f64::INFINITY);
        }
        let v = nll(&p, self.x, self.model.lo, self.model.hi);
        Ok(if v.is_finite() { v } else { f64::INFINITY })
    }
}

impl Gradient for Problem<'_> {
    type Param = Vec<f64>;
    type Gradient = Vec<f64>;
    fn gradient(&self, u: &Vec<f64>) -> Result<Vec<f64>, argmin::core::Error> {
        let (n, g) = self.calls.get();
        self.calls.set((n, g + 1));
        let p = to_physical(&self.p0, &self.l, u);
        let mut d = [0.0; N_PARAMS];
        self.model
            .nll_and_grad(&p, self.x, &mut d)
            .map_err(argmin::core::Error::new)?;
        // L⁻¹ d by forward substitution.
        let mut gu = vec![0.0; N_PARAMS];
        for i in 0..N_PARAMS {
            let mut s = d[i];
            for k in 0..i {
                s -= self.l[i][k] * gu[k];
            }
            gu[i] = s / self.l[i][i];
        }
        Ok(gu)
    }
}

type Mat = [[f64; N_PARAMS]; N_PARAMS];

/// Lower Cholesky factor of a symmetric matrix; an error if it is not positive definite (then
/// the point is no minimum and there are no errors to report).
fn cholesky(a: &Mat) -> Result<Mat, FitError> {
    let mut l = [[0.0; N_PARAMS]; N_PARAMS];
    for i in 0..N_PARAMS {
        for j in 0..=i {
            let mut s = a[i][j];
            for k in 0..j {
                s -= l[i][k] * l[j][k];
            }
            if i == j {
                if s.is_nan() || s <= 0.0 {
                    return Err(FitError::NotPositiveDefinite { pivot: i, value: s });
                }
                l[i][i] = s.sqrt();
            } else {
                l[i][j] = s / l[j][j];
            }
        }
    }
    Ok(l)
}

fn solve_with(l: &Mat, b: &[f64; N_PARAMS]) -> [f64; N_PARAMS] {
    let mut y = [0.0; N_PARAMS];
    for i in 0..N_PARAMS {
        let mut s = b[i];
        for k in 0..i {
            s -= l[i][k] * y[k];
        }
        y[i] = s / l[i][i];
    }
    let mut z = [0.0; N_PARAMS];
    for i in (0..N_PARAMS).rev() {
        let mut s = y[i];
        for k in i + 1..N_PARAMS {
            s -= l[k][i] * z[k];
        }
        z[i] = s / l[i][i];
    }
    z
}

fn cholesky_solve(a: &Mat, b: &[f64; N_PARAMS]) -> Result<[f64; N_PARAMS], FitError> {
    Ok(solve_with(&cholesky(a)?, b))
}

fn cholesky_inverse(a: &Mat) -> Result<Mat, FitError> {
    let l = cholesky(a)?;
    let mut inv = [[0.0; N_PARAMS]; N_PARAMS];
    for j in 0..N_PARAMS {
        let mut e = [0.0; N_PARAMS];
        e[j] = 1.0;
        let col = solve_with(&l, &e);
        for i in 0..N_PARAMS {
            inv[i][j] = col[i];
        }
    }
    Ok(inv)
}
