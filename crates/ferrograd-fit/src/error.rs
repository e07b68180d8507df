use thiserror::Error;

/// Why a model could not be built, evaluated or fitted. Every public function returns this
/// instead of panicking on bad input.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum FitError {
    #[error("invalid range [{lo}, {hi}]: need finite lo < hi")]
    BadRange { lo: f64, hi: f64 },
    #[error("no events")]
    NoEvents,
    #[error("event {index} = {value} is not finite or lies outside the range [{lo}, {hi}]")]
    BadEvent {
        index: usize,
        value: f64,
        lo: f64,
        hi: f64,
    },
    #[error("parameter `{name}` = {value} is invalid: {why}")]
    BadParameter {
        name: &'static str,
        value: f64,
        why: &'static str,
    },
    #[error("`{name}` has length {got}, expected {expected}")]
    Length {
        name: &'static str,
        got: usize,
        expected: usize,
    },
    #[error("the NLL is not finite at the parameters {params:?}")]
    NonFinite { params: Vec<f64> },
    #[error("the Hessian at the minimum is not positive definite (pivot {pivot} = {value})")]
    NotPositiveDefinite { pivot: usize, value: f64 },
    #[error("minimiser failed: {0}")]
    Minimiser(String),
    #[error("could not generate events: {0}")]
    Generation(String),
}
