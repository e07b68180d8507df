//! What a gradient check reports (a leaf module: `crate::Error` carries a report, and the
//! checks in the parent module return `Error`s, so the report lives below both).

use std::fmt;

/// Step and tolerances.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Options {
    /// Finite-difference step ([`super::gradcheck`] only).
    pub eps: f64,
    /// Absolute tolerance.
    pub atol: f64,
    /// Relative tolerance.
    pub rtol: f64,
}

impl Options {
    /// Defaults for finite differences (PyTorch's: ε = 1e-6, atol = 1e-5, rtol = 1e-3).
    pub const FINITE_DIFFERENCES: Options = Options {
        eps: 1e-6,
        atol: 1e-5,
        rtol: 1e-3,
    };
    /// Defaults for comparing two autograd computations in f64: 1e-10 absolute.
    pub const NATIVE: Options = Options {
        eps: 0.0,
        atol: 1e-10,
        rtol: 0.0,
    };
}

/// Where the largest difference was found.
#[derive(Clone, Debug, PartialEq)]
pub struct Worst {
    /// What differed: "value" (forward outputs) or "jacobian".
    pub kind: &'static str,
    /// Output number and flat element index in it.
    pub output: (usize, usize),
    /// Input number and flat element index in it (Jacobian entries only).
    pub input: Option<(usize, usize)>,
    /// Reference value (finite differences / native).
    pub expected: f64,
    /// Checked value (autograd through `f`).
    pub got: f64,
}

/// Result of a check.
#[derive(Clone, Debug, PartialEq)]
pub struct GradcheckReport {
    /// "finite differences" or "native autograd".
    pub reference: &'static str,
    /// Number of compared entries.
    pub checked: usize,
    /// Largest `|got − expected|`.
    pub max_abs_diff: f64,
    /// The entry with the largest excess over its tolerance (or largest difference).
    pub worst: Option<Worst>,
    /// Entries beyond tolerance.
    pub failures: usize,
    /// Tolerances used.
    pub options: Options,
    worst_score: f64,
}

impl GradcheckReport {
    pub(super) fn new(reference: &'static str, options: Options) -> Self {
        GradcheckReport {
            reference,
            checked: 0,
            max_abs_diff: 0.0,
            worst: None,
            failures: 0,
            options,
            worst_score: 0.0,
        }
    }

    /// Whether every entry was within tolerance.
    pub fn passed(&self) -> bool {
        self.failures == 0
    }

    pub(super) fn record(&mut self, entry: Worst) {
        let diff = (entry.got - entry.expected).abs();
        let allowed = self.options.atol + self.options.rtol * entry.expected.abs();
        // How far past its tolerance an entry is; NaN never passes.
        let score = if diff.is_nan() {
            f64::INFINITY
        } else if allowed > 0.0 {
            diff / allowed
        } else if diff == 0.0 {
            0.0
        } else {
            f64::INFINITY
        };
        self.checked += 1;
        let within = diff <= allowed;
        if !within {
            self.failures += 1;
        }
        if !self.max_abs_diff.is_nan() && (diff.is_nan() || diff > self.max_abs_diff) {
            self.max_abs_diff = diff;
        }
        if self.worst.is_none() || score > self.worst_score {
            self.worst_score = score;
            self.worst = Some(entry);
        }
    }
}

impl fmt::Display for GradcheckReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "vs {}: {} of {} entries beyond atol={:e} rtol={:e}; max |diff| = {:e}",
            self.reference,
            self.failures,
            self.checked,
            self.options.atol,
            self.options.rtol,
            self.max_abs_diff
        )?;
        if let Some(w) = &self.worst {
            write!(
                f,
                "; worst: {} of output {} [{}]",
                w.kind, w.output.0, w.output.1
            )?;
            if let Some((i, k)) = w.input {
                write!(f, " w.r.t. input {i} [{k}]")?;
            }
            write!(f, ": expected {:e}, got {:e}", w.expected, w.got)?;
        }
        Ok(())
    }
}
