//! Synthetic gravitational-wave data: inspiral chirps in whitened Advanced LIGO noise, for a
//! signal-vs-noise classifier (DESIGN.md §6, workload W2).
//!
//! Each example is `n_samples` (2048) samples at `sample_rate` (2048 Hz), i.e. one second of
//! whitened strain, labelled `1` (noise + chirp) or `0` (noise only); exactly half the
//! examples (rounded down) are signals, in a seeded random order.
//!
//! # How one example is made
//! 1. A padded segment of `2 n_samples` samples whose centre half is the output window.
//! 2. Gaussian noise coloured by the aLIGO design PSD ([`aligo_psd`]), drawn in the frequency
//!    domain.
//! 3. For a signal: chirp mass `𝓜 ~ U(mass_range)` M_☉, mass ratio `q ~ U(mass_ratio_range)`,
//!    phase `φ₀ ~ U[0, 2π)`, merger time `~ U(merger_range) × window length`, SNR
//!    `~ U(snr_range)`; the TaylorT3 chirp ([`PnOrder`]; see [`ChirpParams`]) is sampled
//!    on the segment, whitened alone to measure its SNR inside the window, rescaled to the
//!    drawn SNR and added to the noise.
//! 4. The segment is tapered (Tukey, in the padding only), whitened in the frequency domain
//!    (divided by `sqrt(S(f))`, band-limited above `f_low`) and its centre is kept.
//!
//! The whitened noise is white with unit variance per frequency mode in the analysis band,
//! i.e. sample variance ≈ 0.98 (the fraction of 0–1024 Hz above `f_low`). The SNR is the
//! optimal matched-filter SNR of the injection *inside the window*:
//! `ρ² = Σ_window s_w(t)²` with `s_w` the whitened noise-free injection, equal to
//! `4 ∫ |h̃(f)|² / S(f) df` over the band for a chirp wholly inside the window. With that
//! scaling, correlating the data with the unit-norm template has mean `ρ` and variance 1.
//!
//! # Reproducibility
//! Example `i` depends only on `(seed, i)` (ChaCha8, stream `i`) and the configuration, so
//! the same seed gives bit-identical data, and a larger `n_examples` extends a data set
//! without changing the examples both share (the label order does change with `n_examples`).
//! Use different seeds for training and test sets. Stability is promised for one version of
//! this crate and its locked dependencies, not across upgrades of `rand`.

mod chirp;
mod psd;
mod segment;

use std::f64::consts::PI;

use rand::seq::SliceRandom;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

pub use chirp::{gw_frequency, time_to_coalescence, ChirpParams, PnOrder, SOLAR_MASS_SECONDS};
pub use psd::{aligo_psd, ALIGO_F0, ALIGO_S0};

use chirp::Chirp;
use segment::Segment;

use crate::DataError;

/// What to generate. [`GwConfig::default`] is the W2 setting: 2048 samples at 2048 Hz,
/// SNR 8–20, chirp mass 5–40 M_☉.
#[derive(Debug, Clone, PartialEq)]
pub struct GwConfig {
    /// Samples per example (≥ 64).
    pub n_samples: usize,
    /// Sampling rate (Hz).
    pub sample_rate: f64,
    /// Lower edge of the analysis band and start frequency of the chirps (Hz)
    /// (between 10 Hz and a quarter of the sampling rate).
    pub f_low: f64,
    /// Optimal SNR inside the window, drawn uniformly; `(ρ, ρ)` for a fixed SNR.
    pub snr_range: (f64, f64),
    /// Chirp mass range (M_☉), drawn uniformly.
    pub mass_range: (f64, f64),
    /// Mass ratio `q = m₂/m₁` range within `(0, 1]`, drawn uniformly.
    pub mass_ratio_range: (f64, f64),
    /// Merger time as a fraction of the window length, drawn uniformly, within `[0, 1]`.
    pub merger_range: (f64, f64),
    /// Post-Newtonian order of the phase evolution.
    pub pn_order: PnOrder,
    /// Seed of everything random.
    pub seed: u64,
}

impl Default for GwConfig {
    fn default() -> Self {
        GwConfig {
            n_samples: 2048,
            sample_rate: 2048.0,
            f_low: 20.0,
            snr_range: (8.0, 20.0),
            mass_range: (5.0, 40.0),
            mass_ratio_range: (0.5, 1.0),
            merger_range: (0.5, 0.9),
            pn_order: PnOrder::OnePn,
            seed: 0,
        }
    }
}

impl GwConfig {
    /// Checks every field; the error names the field and the allowed values.
    ///
    /// # Errors
    /// [`DataError::InvalidConfig`] for a value out of range, an inverted range or NaN.
    pub fn validate(&self) -> Result<(), DataError> {
        let bad =
            |field: &'static str, reason: String| Err(DataError::InvalidConfig { field, reason });
        if self.n_samples < 64 {
            return bad(
                "GwConfig::n_samples",
                format!("{} is too few; use at least 64", self.n_samples),
            );
        }
        if self.n_samples > 1 << 24 {
            return bad(
                "GwConfig::n_samples",
                format!("{} is too many; at most 2^24", self.n_samples),
            );
        }
        if !(self.sample_rate.is_finite() && self.sample_rate > 0.0) {
            return bad(
                "GwConfig::sample_rate",
                format!("{} Hz; must be finite and positive", self.sample_rate),
            );
        }
        let quarter = self.sample_rate / 4.0;
        if !(self.f_low >= 10.0 && self.f_low < quarter) {
            return bad(
                "GwConfig::f_low",
                format!(
                    "{} Hz; must lie in [10, {quarter}) Hz (the PSD fit is not valid below 10 Hz)",
                    self.f_low
                ),
            );
        }
        check_range(
            "GwConfig::snr_range",
            self.snr_range,
            0.0,
            f64::INFINITY,
            true,
        )?;
        check_range(
            "GwConfig::mass_range",
            self.mass_range,
            0.0,
            f64::INFINITY,
            false,
        )?;
        check_range(
            "GwConfig::mass_ratio_range",
            self.mass_ratio_range,
            0.0,
            1.0,
            false,
        )?;
        check_range("GwConfig::merger_range", self.merger_range, 0.0, 1.0, true)?;
        // The heaviest binary must still sweep through the band before merging.
        let heaviest = ChirpParams {
            chirp_mass: self.mass_range.1,
            mass_ratio: self.mass_ratio_range.0,
            phase: 0.0,
            merger_time: 0.0,
            snr: 0.0,
        };
        let f_isco = heaviest.isco_frequency();
        if f_isco <= 1.1 * self.f_low {
            return bad(
                "GwConfig::mass_range",
                format!(
                    "a chirp mass of {} M☉ at mass ratio {} merges at {f_isco:.1} Hz, too close to f_low = {} Hz; \
                     lower the masses or f_low",
                    self.mass_range.1, self.mass_ratio_range.0, self.f_low
                ),
            );
        }
        Ok(())
    }
}

/// `lo ≤ hi`, both finite, `min < lo` (or `min ≤ lo` if `min_inclusive`), `hi ≤ max`.
fn check_range(
    field: &'static str,
    (lo, hi): (f64, f64),
    min: f64,
    max: f64,
    min_inclusive: bool,
) -> Result<(), DataError> {
    let reason = if !(lo.is_finite() && hi.is_finite()) {
        Some(format!("({lo}, {hi}) must be finite numbers"))
    } else if lo > hi {
        Some(format!(
            "({lo}, {hi}) is inverted; the first value must not exceed the second"
        ))
    } else if (min_inclusive && lo < min) || (!min_inclusive && lo <= min) || hi > max {
        let open = if min_inclusive { '[' } else { '(' };
        Some(format!("({lo}, {hi}) must lie within {open}{min}, {max}]"))
    } else {
        None
    };
    match reason {
        Some(reason) => Err(DataError::InvalidConfig { field, reason }),
        None => Ok(()),
    }
}

/// What one example contains.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GwExampleMeta {
    /// 1 for noise + chirp, 0 for noise only.
    pub label: u8,
    /// The injection's parameters (for a signal).
    pub chirp: Option<ChirpParams>,
}

/// A generated data set.
#[derive(Debug, Clone, PartialEq)]
pub struct GwDataset {
    /// Whitened strain, shape `[n_examples, 1, n_samples]`, row-major.
    pub x: Vec<f32>,
    /// Labels, shape `[n_examples]`: 1 = signal present, 0 = noise only.
    pub y: Vec<u8>,
    /// Per-example parameters, shape `[n_examples]`.
    pub meta: Vec<GwExampleMeta>,
    /// Samples per example.
    pub n_samples: usize,
}

impl GwDataset {
    /// Number of examples.
    pub fn len(&self) -> usize {
        self.y.len()
    }

    /// Whether there are no examples.
    pub fn is_empty(&self) -> bool {
        self.y.is_empty()
    }

    /// The whitened strain of example `i`, or `None` if out of range.
    pub fn example(&self, i: usize) -> Option<&[f32]> {
        let n = self.n_samples;
        self.x
            .get(i.checked_mul(n)?..i.checked_add(1)?.checked_mul(n)?)
    }
}

/// Generates `n_examples` examples (half of them, rounded down, with a chirp) on one thread.
///
/// # Errors
/// [`DataError::InvalidConfig`] for an invalid configuration (see [`GwConfig::validate`]) or a
/// data set too large to address.
pub fn generate(cfg: &GwConfig, n_examples: usize) -> Result<GwDataset, DataError> {
    generate_parallel(cfg, n_examples, 1)
}

/// As [`generate`], spread over `threads` threads (0 is taken as 1). The result does not
/// depend on the number of threads: example `i` depends only on `(seed, i)`.
///
/// # Errors
/// As [`generate`].
pub fn generate_parallel(
    cfg: &GwConfig,
    n_examples: usize,
    threads: usize,
) -> Result<GwDataset, DataError> {
    cfg.validate()?;
    let n = cfg.n_samples;
    let total = n_examples
        .checked_mul(n)
        .ok_or_else(|| DataError::InvalidConfig {
            field: "n_examples",
            reason: format!("{n_examples} × {n} samples overflows memory"),
        })?;
    let labels = balanced_labels(cfg.seed, n_examples);
    let mut x = vec![0.0f32; total];
    let mut meta = vec![
        GwExampleMeta {
            label: 0,
            chirp: None
        };
        n_examples
    ];
    let per_thread = n_examples.div_ceil(threads.max(1)).max(1);
    let work = |first: usize, x: &mut [f32], meta: &mut [GwExampleMeta]| -> Result<(), DataError> {
        let mut gen = GwGenerator::new(cfg.clone())?;
        for (j, (row, m)) in x.chunks_exact_mut(n).zip(meta.iter_mut()).enumerate() {
            let i = first + j;
            *m = gen.example_into(i as u64, labels[i] == 1, row)?;
        }
        Ok(())
    };
    if threads <= 1 || n_examples <= per_thread {
        work(0, &mut x, &mut meta)?;
    } else {
        std::thread::scope(|scope| {
            let handles: Vec<_> = x
                .chunks_mut(per_thread * n)
                .zip(meta.chunks_mut(per_thread))
                .enumerate()
                .map(|(t, (xs, ms))| scope.spawn(move || work(t * per_thread, xs, ms)))
                .collect();
            handles.into_iter().try_for_each(|h| {
                // A worker only panics on a bug; re-raise it rather than hide it.
                h.join().unwrap_or_else(|p| std::panic::resume_unwind(p))
            })
        })?;
    }
    Ok(GwDataset {
        x,
        y: labels,
        meta,
        n_samples: n,
    })
}

/// `n` labels, `n/2` (rounded down) of them 1, in an order shuffled by `seed`.
fn balanced_labels(seed: u64, n: usize) -> Vec<u8> {
    let mut labels: Vec<u8> = (0..n).map(|i| u8::from(i < n / 2)).collect();
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(u64::MAX);
    labels.shuffle(&mut rng);
    labels
}

/// Generates examples one at a time into caller-owned buffers, reusing its FFT plans and
/// scratch (no allocation per example).
pub struct GwGenerator {
    cfg: GwConfig,
    segment: Segment,
    /// Segment-length buffers: noise (+ signal), the signal alone, scratch.
    data: Vec<f64>,
    signal: Vec<f64>,
    spare: Vec<f64>,
    /// Window-length buffers: whitened data and whitened signal.
    white: Vec<f64>,
    white_signal: Vec<f64>,
}

impl std::fmt::Debug for GwGenerator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GwGenerator")
            .field("cfg", &self.cfg)
            .finish_non_exhaustive()
    }
}

impl GwGenerator {
    /// Plans the FFTs and precomputes the filters for `cfg`.
    ///
    /// # Errors
    /// [`DataError::InvalidConfig`] for an invalid configuration.
    pub fn new(cfg: GwConfig) -> Result<Self, DataError> {
        cfg.validate()?;
        let segment = Segment::new(cfg.n_samples, cfg.sample_rate, cfg.f_low);
        let len = segment.len();
        Ok(GwGenerator {
            data: vec![0.0; len],
            signal: vec![0.0; len],
            spare: vec![0.0; len],
            white: vec![0.0; cfg.n_samples],
            white_signal: vec![0.0; cfg.n_samples],
            segment,
            cfg,
        })
    }

    /// The configuration.
    pub fn config(&self) -> &GwConfig {
        &self.cfg
    }

    /// Writes example `index` (deterministic in `(seed, index)`) into `x` (length
    /// `n_samples`): whitened noise, plus a random chirp if `signal`.
    ///
    /// # Errors
    /// [`DataError::BadLength`] if `x` is not `n_samples` long.
    pub fn example_into(
        &mut self,
        index: u64,
        signal: bool,
        x: &mut [f32],
    ) -> Result<GwExampleMeta, DataError> {
        self.check_out(x.len())?;
        let mut rng = ChaCha8Rng::seed_from_u64(self.cfg.seed);
        rng.set_stream(index);
        let params = self.draw_params(&mut rng);
        self.segment.colored_noise_into(&mut rng, &mut self.data)?;
        let chirp = if signal {
            let scale = self.whitened_signal(&params)?;
            for (d, &s) in self.data.iter_mut().zip(&self.signal) {
                *d += scale * s;
            }
            Some(params)
        } else {
            None
        };
        self.segment.whiten_into(&mut self.data, &mut self.white)?;
        for (o, &v) in x.iter_mut().zip(&self.white) {
            *o = v as f32;
        }
        Ok(GwExampleMeta {
            label: u8::from(signal),
            chirp,
        })
    }

    /// Writes the noise-free whitened injection for `params` (scaled to `params.snr`) into
    /// `out` (length `n_samples`): the matched-filter template, or the signal part of an
    /// example with these parameters.
    ///
    /// # Errors
    /// [`DataError::BadLength`] if `out` is not `n_samples` long; [`DataError::InvalidConfig`]
    /// if the parameters are non-finite or out of the physical range.
    pub fn injection_into(
        &mut self,
        params: &ChirpParams,
        out: &mut [f32],
    ) -> Result<(), DataError> {
        self.check_out(out.len())?;
        let ok = [
            params.chirp_mass,
            params.mass_ratio,
            params.phase,
            params.merger_time,
            params.snr,
        ]
        .iter()
        .all(|v| v.is_finite())
            && params.chirp_mass > 0.0
            && params.mass_ratio > 0.0
            && params.mass_ratio <= 1.0
            && params.snr >= 0.0
            && params.isco_frequency() > 1.1 * self.cfg.f_low;
        if !ok {
            return Err(DataError::InvalidConfig {
                field: "ChirpParams",
                reason: format!(
                    "{params:?}: values must be finite, masses positive, mass ratio in (0, 1], SNR ≥ 0, \
                     and the binary must reach the band above f_low before merging"
                ),
            });
        }
        let scale = self.whitened_signal(params)?;
        for (o, &v) in out.iter_mut().zip(&self.white_signal) {
            *o = (scale * v) as f32;
        }
        Ok(())
    }

    fn check_out(&self, len: usize) -> Result<(), DataError> {
        if len != self.cfg.n_samples {
            return Err(DataError::BadLength {
                what: "output buffer (n_samples)",
                expected: self.cfg.n_samples,
                found: len,
            });
        }
        Ok(())
    }

    fn draw_params(&self, rng: &mut ChaCha8Rng) -> ChirpParams {
        let c = &self.cfg;
        let window = c.n_samples as f64 / c.sample_rate;
        ChirpParams {
            chirp_mass: uniform(rng, c.mass_range),
            mass_ratio: uniform(rng, c.mass_ratio_range),
            phase: rng.random_range(0.0..2.0 * PI),
            merger_time: uniform(rng, c.merger_range) * window,
            snr: uniform(rng, c.snr_range),
        }
    }

    /// Samples the chirp into `self.signal`, whitens it into `self.white_signal` and returns
    /// the factor that scales it to `params.snr`.
    fn whitened_signal(&mut self, params: &ChirpParams) -> Result<f64, DataError> {
        let fs = self.cfg.sample_rate;
        let chirp = Chirp::new(params, self.cfg.pn_order, self.cfg.f_low);
        let t0 = -(self.segment.pad() as f64) / fs;
        chirp.sample_into(t0, fs, &mut self.signal);
        // whiten_into destroys its input: whiten a copy.
        self.spare.copy_from_slice(&self.signal);
        self.segment
            .whiten_into(&mut self.spare, &mut self.white_signal)?;
        let norm = self.white_signal.iter().map(|v| v * v).sum::<f64>().sqrt();
        if norm > 0.0 && norm.is_finite() {
            Ok(params.snr / norm)
        } else {
            // The chirp has no power in the window (cannot happen for a merger inside it).
            Ok(0.0)
        }
    }
}

/// Uniform on `[lo, hi]`; exactly `lo` when `lo == hi`.
fn uniform(rng: &mut ChaCha8Rng, (lo, hi): (f64, f64)) -> f64 {
    if lo == hi {
        lo
    } else {
        rng.random_range(lo..=hi)
    }
}
