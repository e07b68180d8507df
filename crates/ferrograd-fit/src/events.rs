//! Event generation (seeded) and the plain-text event files shared with RooFit.

use std::io::{BufRead, BufWriter, Write};
use std::path::Path;

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal};

use crate::{FitError, Model, Params};

/// Rejection sampling of the truncated Gaussian gives up after this many draws per event (an
/// acceptance below 1e-6 means the signal lies outside the range).
const MAX_TRIES: usize = 1_000_000;

impl Model {
    /// `n` events drawn from the model at `truth`, reproducibly from `seed` (ChaCha8): each event
    /// is signal with probability `frac` (a Gaussian truncated to the range by rejection), else
    /// background (inverse CDF of the truncated exponential).
    pub fn generate(&self, truth: &Params, n: usize, seed: u64) -> Result<Vec<f64>, FitError> {
        self.check_params(&truth.to_array())?;
        let (lo, hi) = (self.lo, self.hi);
        let gauss = Normal::new(truth.mean, truth.sigma)
            .map_err(|e| FitError::Generation(e.to_string()))?;
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let (elo, ehi) = ((truth.c * lo).exp(), (truth.c * hi).exp());
        let mut x = Vec::with_capacity(n);
        for _ in 0..n {
            if rng.random::<f64>() < truth.frac {
                let mut tries = 0;
                loop {
                    let v = gauss.sample(&mut rng);
                    if (lo..=hi).contains(&v) {
                        x.push(v);
                        break;
                    }
                    tries += 1;
                    if tries == MAX_TRIES {
                        return Err(FitError::Generation(format!(
                            "the Gaussian N({}, {}) has almost no mass in [{lo}, {hi}]",
                            truth.mean, truth.sigma
                        )));
                    }
                }
            } else {
                let u: f64 = rng.random();
                let v = (elo + u * (ehi - elo)).ln() / truth.c;
                x.push(v.clamp(lo, hi));
            }
        }
        Ok(x)
    }
}

/// Writes one event per line in Rust's shortest round-trip decimal form, so a reader (numpy,
/// ROOT) gets the identical `f64`s back.
pub fn write_events(path: &Path, x: &[f64]) -> std::io::Result<()> {
    let mut w = BufWriter::new(std::fs::File::create(path)?);
    for v in x {
        writeln!(w, "{v}")?;
    }
    w.flush()
}

/// Reads a file written by [`write_events`] (one number per line; blank lines skipped).
pub fn read_events(path: &Path) -> std::io::Result<Vec<f64>> {
    let r = std::io::BufReader::new(std::fs::File::open(path)?);
    let mut x = Vec::new();
    for (k, line) in r.lines().enumerate() {
        let line = line?;
        let t = line.trim();
        if t.is_empty() {
            continue;
        }
        x.push(t.parse().map_err(|e| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("line {}: `{t}`: {e}", k + 1),
            )
        })?);
    }
    Ok(x)
}
