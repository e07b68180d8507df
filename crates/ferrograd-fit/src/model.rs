//! The W3 model: a Gaussian signal on an exponential background, each normalised on the
//! observable range `[lo, hi]`, mixed with a signal fraction — RooFit's
//! `RooAddPdf(f·RooGaussian + (1−f)·RooExponential)` written once, as a differentiable NLL.

use ferrograd::differentiable;

/// Number of fit parameters: `[mean, sigma, c, frac]` (`c` is the exponential slope, as in
/// `RooExponential`: `exp(c·x)`).
pub const N_PARAMS: usize = 4;
/// Parameter names, in the order of the parameter vector.
pub const PARAM_NAMES: [&str; N_PARAMS] = ["mean", "sigma", "c", "frac"];

/// The negative log-likelihood `−Σ ln[f·G(x)/I_G + (1−f)·e^{cx}/I_E]` of the events `x` on
/// `[lo, hi]`, `p = [mean, sigma, c, frac]`.
///
/// `I_G = σ√(π/2)·(erf((hi−μ)/(√2σ)) − erf((lo−μ)/(√2σ)))` and `I_E = (e^{c·hi} − e^{c·lo})/c`
/// are the pdfs' integrals over the range (analytic, as RooFit's).
///
/// `parallel`: the event loop is outlined by the AD compiler and runs on SIMD lanes
/// (`F64x8`; `Dual<F64x8>` in the Hessian) split over rayon's threads, in a reduction tree
/// fixed by the event count, so every result is the same whatever the thread count.
#[differentiable(parallel, hessian, wrt(p))]
#[expect(
    clippy::manual_clamp,
    reason = "the AD compiler knows max/min, not clamp"
)]
pub fn nll(p: &[f64], x: &[f64], lo: f64, hi: f64) -> f64 {
    let mean = p[0];
    let sigma = p[1];
    let c = p[2];
    let frac = p[3];
    let s2 = std::f64::consts::SQRT_2 * sigma;
    // erf(a) and erf(b) by the series 2/√π · e^{−x²} · Σ x (2x²)ⁿ / (2n+1)!!: every term has
    // the sign of x, so no cancellation (relative error ~1e-15), and the macro differentiates it
    // (std has no `erf`). Beyond |x| = 6, 1 − |erf| < 2.2e-17: the value is ±1 and its loop
    // runs zero times. Two loops rather than calls to an `erf` function, because a `hessian`
    // function calling another `hessian` function does not compile yet.
    let a = ((lo - mean) / s2).max(-6.0).min(6.0);
    let b = ((hi - mean) / s2).max(-6.0).min(6.0);
    let a2 = a * a;
    let b2 = b * b;
    let mut ta = a;
    let mut tb = b;
    let mut sa = a;
    let mut sb = b;
    let mut na = 200;
    if a.abs() >= 6.0 {
        na = 0;
    }
    let mut nb = 200;
    if b.abs() >= 6.0 {
        nb = 0;
    }
    for n in 0..na {
        ta = ta * 2.0 * a2 / (2.0 * (n as f64) + 3.0);
        sa += ta;
        if ta.abs() <= 1e-17 * sa.abs() {
            break;
        }
    }
    for n in 0..nb {
        tb = tb * 2.0 * b2 / (2.0 * (n as f64) + 3.0);
        sb += tb;
        if tb.abs() <= 1e-17 * sb.abs() {
            break;
        }
    }
    let mut erf_a = std::f64::consts::FRAC_2_SQRT_PI * (-a2).exp() * sa;
    if na == 0 {
        erf_a = a / 6.0;
    }
    let mut erf_b = std::f64::consts::FRAC_2_SQRT_PI * (-b2).exp() * sb;
    if nb == 0 {
        erf_b = b / 6.0;
    }
    let norm_g = sigma * 1.2533141373155003 * (erf_b - erf_a); // √(π/2)·σ·(erf b − erf a)
    let norm_e = ((c * hi).exp() - (c * lo).exp()) / c;
    let wg = frac / norm_g;
    let we = (1.0 - frac) / norm_e;
    let mut s = 0.0;
    for xi in x {
        let z = (xi - mean) / sigma;
        s -= (wg * (-0.5 * z * z).exp() + we * (c * xi).exp()).ln();
    }
    s
}
