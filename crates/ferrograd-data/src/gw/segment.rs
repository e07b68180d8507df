//! The analysis segment: noise colouring, windowing and whitening on a padded segment whose
//! centre is the output window.
//!
//! Layout (`N` = window samples, `P = N/2` padding each side, `L = N + 2P`):
//!
//! ```text
//! |<- P ->|<-------- N (output window) -------->|<- P ->|
//!  Tukey taper over the outer P/2 of each pad; the window itself is untouched.
//! ```
//!
//! Whitening of a tapered segment `x` is, with `X = rfft(x)` (unnormalised DFT) and
//! `T(f)` the analysis band (0 below `f_low`, a sin² roll-on to `f_low + 4 Hz`, 1 up to just
//! below Nyquist, 0 at DC and Nyquist):
//!
//! ```text
//! Y_k = X_k · T(f_k) · sqrt(2 / (fs · S(f_k))),      y = irfft(Y) / L,
//! ```
//!
//! which maps Gaussian noise of one-sided PSD `S` to noise with unit variance per frequency
//! mode inside the band (sample variance `(2/L) Σ_k T_k²`, ≈ 0.98 for the defaults), and for a
//! signal `h` gives `‖y‖² = (4/(fs·L)) Σ_k T_k² |H_k|²/S_k = 4 ∫ T² |h̃|²/S df`: the optimal
//! matched-filter SNR² in the band. Coloured noise is drawn in the frequency domain with
//! `E|X_k|² = L · fs · S_k / 2`, for `f ≥ f_low − 5 Hz` (as if high-passed there; lower
//! frequencies carry no information after whitening and would only leak through the taper).

use std::f64::consts::PI;
use std::sync::Arc;

use rand::Rng;
use rand_distr::{Distribution, StandardNormal};
use realfft::num_complex::Complex;
use realfft::{ComplexToReal, RealFftPlanner, RealToComplex};

use super::psd::aligo_psd;
use crate::DataError;

/// Width of the sin² roll-on of the analysis band above `f_low` (Hz).
pub(crate) const BAND_ROLL_ON_HZ: f64 = 4.0;
/// Noise is generated from this far below `f_low` (Hz).
pub(crate) const NOISE_BELOW_F_LOW_HZ: f64 = 5.0;

/// The band weight `T(f)` of the whitening filter.
pub(crate) fn band_weight(f: f64, f_low: f64, nyquist: f64) -> f64 {
    if f < f_low || f >= nyquist {
        0.0
    } else if f < f_low + BAND_ROLL_ON_HZ {
        (0.5 * PI * (f - f_low) / BAND_ROLL_ON_HZ).sin().powi(2)
    } else {
        1.0
    }
}

pub(crate) struct Segment {
    n: usize,
    pad: usize,
    len: usize,
    /// Tukey window over the segment.
    taper: Vec<f64>,
    /// Whitening filter per rfft bin.
    filter: Vec<f64>,
    /// Noise amplitude per rfft bin: sqrt(L fs S / 4) per real and imaginary part.
    noise_amp: Vec<f64>,
    r2c: Arc<dyn RealToComplex<f64>>,
    c2r: Arc<dyn ComplexToReal<f64>>,
    spectrum: Vec<Complex<f64>>,
    scratch: Vec<Complex<f64>>,
}

impl Segment {
    /// `n` window samples at `fs`, analysis band from `f_low`. The caller validated the values.
    pub(crate) fn new(n: usize, fs: f64, f_low: f64) -> Self {
        let pad = n / 2;
        let len = n + 2 * pad;
        let ramp = (pad / 2).max(1);
        let taper = (0..len)
            .map(|i| {
                let edge = i.min(len - 1 - i);
                if edge >= ramp {
                    1.0
                } else {
                    (0.5 * PI * (edge as f64 + 0.5) / ramp as f64).sin().powi(2)
                }
            })
            .collect();
        let bins = len / 2 + 1;
        let df = fs / len as f64;
        let nyquist = if len.is_multiple_of(2) {
            fs / 2.0
        } else {
            f64::INFINITY
        };
        let filter = (0..bins)
            .map(|k| {
                let f = k as f64 * df;
                let t = band_weight(f, f_low, nyquist);
                if t == 0.0 {
                    0.0
                } else {
                    t * (2.0 / (fs * aligo_psd(f))).sqrt()
                }
            })
            .collect();
        let f_noise = (f_low - NOISE_BELOW_F_LOW_HZ).max(df);
        let noise_amp = (0..bins)
            .map(|k| {
                let f = k as f64 * df;
                if f < f_noise || f >= nyquist {
                    0.0
                } else {
                    (len as f64 * fs * aligo_psd(f) / 4.0).sqrt()
                }
            })
            .collect();
        let mut planner = RealFftPlanner::<f64>::new();
        let r2c = planner.plan_fft_forward(len);
        let c2r = planner.plan_fft_inverse(len);
        let scratch_len = r2c.get_scratch_len().max(c2r.get_scratch_len());
        Segment {
            n,
            pad,
            len,
            taper,
            filter,
            noise_amp,
            spectrum: r2c.make_output_vec(),
            scratch: vec![Complex::default(); scratch_len],
            r2c,
            c2r,
        }
    }

    /// Samples in the padded segment.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Start of the output window within the segment.
    pub(crate) fn pad(&self) -> usize {
        self.pad
    }

    /// Fills `out` (length `len`) with Gaussian noise of PSD `S` (above `f_low − 5 Hz`).
    pub(crate) fn colored_noise_into<R: Rng + ?Sized>(
        &mut self,
        rng: &mut R,
        out: &mut [f64],
    ) -> Result<(), DataError> {
        for (x, &a) in self.spectrum.iter_mut().zip(&self.noise_amp) {
            let re: f64 = StandardNormal.sample(rng);
            let im: f64 = StandardNormal.sample(rng);
            *x = Complex::new(a * re, a * im);
        }
        // DC and Nyquist bins carry no noise (noise_amp is 0 there); keep them real.
        self.c2r
            .process_with_scratch(&mut self.spectrum, out, &mut self.scratch)
            .map_err(fft_err)?;
        let inv = 1.0 / self.len as f64;
        for v in out.iter_mut() {
            *v *= inv;
        }
        Ok(())
    }

    /// Tapers `data` (length `len`, destroyed), whitens it and writes the central `n` samples
    /// to `out`.
    pub(crate) fn whiten_into(
        &mut self,
        data: &mut [f64],
        out: &mut [f64],
    ) -> Result<(), DataError> {
        for (x, &w) in data.iter_mut().zip(&self.taper) {
            *x *= w;
        }
        self.r2c
            .process_with_scratch(data, &mut self.spectrum, &mut self.scratch)
            .map_err(fft_err)?;
        for (x, &w) in self.spectrum.iter_mut().zip(&self.filter) {
            *x *= w;
        }
        self.c2r
            .process_with_scratch(&mut self.spectrum, data, &mut self.scratch)
            .map_err(fft_err)?;
        let inv = 1.0 / self.len as f64;
        for (o, &x) in out.iter_mut().zip(&data[self.pad..self.pad + self.n]) {
            *o = x * inv;
        }
        Ok(())
    }
}

fn fft_err(e: realfft::FftError) -> DataError {
    DataError::Fft {
        reason: e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gw::chirp::{Chirp, ChirpParams, PnOrder};
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    #[test]
    fn colored_noise_has_the_aligo_psd() {
        // Average periodogram of the coloured (unwhitened) noise vs the model:
        // E|X_k|² = L fs S(f_k) / 2 for the unnormalised DFT.
        let (n, fs) = (2048usize, 2048.0);
        let mut seg = Segment::new(n, fs, 20.0);
        let len = seg.len();
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let mut x = vec![0.0; len];
        let mut planner = RealFftPlanner::<f64>::new();
        let fft = planner.plan_fft_forward(len);
        let mut spec = fft.make_output_vec();
        let mut power = vec![0.0; len / 2 + 1];
        let draws = 200;
        for _ in 0..draws {
            seg.colored_noise_into(&mut rng, &mut x).unwrap();
            fft.process(&mut x, &mut spec).unwrap();
            for (p, c) in power.iter_mut().zip(&spec) {
                *p += c.norm_sqr() / draws as f64;
            }
        }
        let df = fs / len as f64;
        // Bands of 40 bins: 200 × 40 exponential variables → ±1.6 % (1σ).
        for f0 in [16.0, 30.0, 100.0, 215.0, 800.0] {
            let k0 = (f0 / df) as usize;
            let ratio = (k0..k0 + 40)
                .map(|k| power[k] / (len as f64 * fs * aligo_psd(k as f64 * df) / 2.0))
                .sum::<f64>()
                / 40.0;
            assert!(
                (ratio - 1.0).abs() < 0.07,
                "{f0} Hz: measured/model PSD = {ratio}"
            );
        }
        let below = power[(10.0 / df) as usize] / power[(100.0 / df) as usize];
        assert!(
            below < 1e-12,
            "noise below f_low − 5 Hz: relative power {below}"
        );
    }

    #[test]
    fn whitened_norm_equals_the_frequency_domain_snr_integral() {
        // For a chirp wholly inside the window the whitened norm must equal the textbook
        // optimal SNR ρ² = 4 ∫ T(f)² |h̃(f)|² / S(f) df, with h̃ = H/fs and df = fs/L.
        let (n, fs, f_low) = (2048usize, 2048.0, 20.0);
        let mut seg = Segment::new(n, fs, f_low);
        let len = seg.len();
        for (mc, q) in [(30.0, 1.0), (40.0, 0.5), (35.0, 0.9)] {
            let p = ChirpParams {
                chirp_mass: mc,
                mass_ratio: q,
                phase: 0.4,
                merger_time: 0.95,
                snr: 1.0,
            };
            let chirp = Chirp::new(&p, PnOrder::OnePn, f_low);
            let mut h = vec![0.0; len];
            chirp.sample_into(-(seg.pad() as f64) / fs, fs, &mut h);
            // Support check: the chirp starts after the window start.
            assert!(
                h[..seg.pad()].iter().all(|&v| v == 0.0),
                "chirp {mc} starts before the window"
            );

            let mut planner = RealFftPlanner::<f64>::new();
            let fft = planner.plan_fft_forward(len);
            let mut spec = fft.make_output_vec();
            fft.process(&mut h.clone(), &mut spec).unwrap();
            let df = fs / len as f64;
            let rho2_fd: f64 = spec
                .iter()
                .enumerate()
                .skip(1)
                .map(|(k, c)| {
                    let f = k as f64 * df;
                    // T(f), written out independently of `band_weight`.
                    let t = if !(20.0..1024.0).contains(&f) {
                        0.0
                    } else if f < 24.0 {
                        (std::f64::consts::PI / 8.0 * (f - 20.0)).sin().powi(2)
                    } else {
                        1.0
                    };
                    4.0 * t * t * (c.norm_sqr() / (fs * fs)) / aligo_psd(f) * df
                })
                .sum();

            let mut white = vec![0.0; n];
            seg.whiten_into(&mut h, &mut white).unwrap();
            let rho2_td: f64 = white.iter().map(|v| v * v).sum();
            let rel = rho2_td / rho2_fd - 1.0;
            println!("𝓜 = {mc}: ρ² time domain {rho2_td:.4e}, frequency domain {rho2_fd:.4e}, rel {rel:.2e}");
            assert!(rel.abs() < 0.01, "𝓜 = {mc}: {rho2_td} vs {rho2_fd}");
        }
    }
}
