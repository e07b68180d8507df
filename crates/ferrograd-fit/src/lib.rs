//! Unbinned maximum-likelihood fits whose gradient and Hessian ferrograd writes at compile time
//! (the DESIGN.md workload W3).
//!
//! The model is a Gaussian signal on an exponential background with a signal fraction, both
//! pdfs normalised on a fixed observable range — RooFit's
//! `RooAddPdf(frac·RooGaussian + (1−frac)·RooExponential)`. Its NLL is written once, in
//! [`model::nll`], with `#[differentiable(hessian, wrt(p))]`; the macro generates `nll_grad`
//! (reverse mode) and `nll_hessian` (forward-over-reverse).
//!
//! [`Model::fit`] minimises with argmin's L-BFGS fed by the generated gradient, polishes with
//! damped Newton steps, and reports values, errors and covariance from the inverse of the exact
//! generated Hessian (Minuit's HESSE convention for an NLL, `UP = 0.5`), and timings.
//! The integration test `roofit` fits the same events with RooFit (MIGRAD + HESSE) in real
//! ROOT and compares.
//!
//! ```
//! use ferrograd_fit::{Model, Params};
//! let model = Model::new(0.0, 10.0).unwrap();
//! let truth = Params { mean: 3.0, sigma: 0.8, c: -0.3, frac: 0.3 };
//! let events = model.generate(&truth, 5_000, 1).unwrap();
//! let fit = model.fit(&events, &truth).unwrap();
//! assert!((fit.values[0] - 3.0).abs() < 5.0 * fit.errors[0]);
//! ```

mod error;
mod events;
mod fit;
pub mod model;

pub use error::FitError;
pub use fit::{read_events, write_events, FitResult, Model, Params, Timings};
pub use model::{N_PARAMS, PARAM_NAMES};
