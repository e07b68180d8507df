//! Post-Newtonian inspiral chirps in the time domain (TaylorT3).
//!
//! With total mass `M` (in seconds, `G M / c³`), symmetric mass ratio `η = m₁m₂/M²` and
//! time to coalescence `τ = t_c − t`, let `θ = η τ / (5 M)`. Then (Blanchet, Iyer, Will &
//! Wiseman, Class. Quantum Grav. 13, 575 (1996); Blanchet, Living Rev. Relativ. 17, 2 (2014)):
//!
//! ```text
//! orbital phase   φ(τ) = −(1/η) [ θ^(5/8) + a₁ θ^(3/8) ],        a₁ = 3715/8064 + 55/96 η
//! orbital ang. freq ω(τ) = (1/(8M)) [ θ^(−3/8) + b₁ θ^(−5/8) ],  b₁ = 743/2688 + 11/32 η
//! GW frequency   f = ω/π,   GW phase Φ = 2φ,   h(t) ∝ f^(2/3) cos(Φ + φ₀)
//! ```
//!
//! `a₁ = b₁ = 0` is the leading (Newtonian) order, where `f(τ) = (1/π) (5/(256 τ))^(3/8)
//! (G𝓜/c³)^(−5/8)` depends on the chirp mass `𝓜 = η^(3/5) M` alone; `dφ/dt = ω` holds at each
//! order. The amplitude's overall scale is irrelevant here (injections are rescaled to a
//! requested SNR), so `h` is in arbitrary units. The waveform starts smoothly (sin² ramp)
//! where `f` crosses `f_low`, ends at the innermost-stable-circular-orbit frequency
//! `f_isco = 1/(6^(3/2) π M)` — taken as the merger time — with a one-cycle sin² taper up to
//! it, and is zero afterwards (no merger-ringdown model).

use std::f64::consts::PI;

/// `G M_☉ / c³` in seconds.
pub const SOLAR_MASS_SECONDS: f64 = 4.925_490_947e-6;

/// Post-Newtonian order of the phase and frequency evolution.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PnOrder {
    /// Leading order: the evolution depends on the chirp mass only.
    Newtonian,
    /// First post-Newtonian correction (depends on the mass ratio too).
    #[default]
    OnePn,
}

/// The source parameters of one injection.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ChirpParams {
    /// Chirp mass `𝓜 = (m₁m₂)^(3/5) / (m₁+m₂)^(1/5)` in solar masses.
    pub chirp_mass: f64,
    /// Mass ratio `q = m₂/m₁ ∈ (0, 1]`.
    pub mass_ratio: f64,
    /// Phase offset `φ₀` of the GW phase (rad).
    pub phase: f64,
    /// Merger time (where `f` reaches `f_isco`) in seconds from the start of the window.
    pub merger_time: f64,
    /// Optimal SNR of the part of the injection inside the window (see the crate docs).
    pub snr: f64,
}

impl ChirpParams {
    /// Symmetric mass ratio `η = q / (1+q)² ∈ (0, 1/4]`.
    pub fn symmetric_mass_ratio(&self) -> f64 {
        self.mass_ratio / (1.0 + self.mass_ratio).powi(2)
    }

    /// Total mass `M = 𝓜 η^(−3/5)` in solar masses.
    pub fn total_mass(&self) -> f64 {
        self.chirp_mass * self.symmetric_mass_ratio().powf(-0.6)
    }

    /// Component masses `(m₁, m₂)`, `m₁ ≥ m₂`, in solar masses.
    pub fn component_masses(&self) -> (f64, f64) {
        let m = self.total_mass();
        (
            m / (1.0 + self.mass_ratio),
            m * self.mass_ratio / (1.0 + self.mass_ratio),
        )
    }

    /// GW frequency at the innermost stable circular orbit, `1/(6^(3/2) π M)` (Hz)
    /// (≈ 4397 Hz / (M/M_☉)).
    pub fn isco_frequency(&self) -> f64 {
        1.0 / (6f64.powf(1.5) * PI * self.total_mass() * SOLAR_MASS_SECONDS)
    }
}

/// TaylorT3 evolution for one binary.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Taylor3 {
    /// Total mass in seconds.
    m_s: f64,
    eta: f64,
    a1: f64,
    b1: f64,
}

impl Taylor3 {
    pub(crate) fn new(p: &ChirpParams, order: PnOrder) -> Self {
        let eta = p.symmetric_mass_ratio();
        let (a1, b1) = match order {
            PnOrder::Newtonian => (0.0, 0.0),
            PnOrder::OnePn => (
                3715.0 / 8064.0 + 55.0 / 96.0 * eta,
                743.0 / 2688.0 + 11.0 / 32.0 * eta,
            ),
        };
        Taylor3 {
            m_s: p.total_mass() * SOLAR_MASS_SECONDS,
            eta,
            a1,
            b1,
        }
    }

    fn theta(&self, tau: f64) -> f64 {
        self.eta * tau / (5.0 * self.m_s)
    }

    /// GW frequency (Hz) at `tau > 0` seconds before coalescence.
    pub(crate) fn frequency(&self, tau: f64) -> f64 {
        let th = self.theta(tau);
        let t38 = th.powf(-0.375);
        (t38 + self.b1 * t38 * th.powf(-0.25)) / (8.0 * PI * self.m_s)
    }

    /// GW phase `Φ = 2φ` (rad) at `tau` seconds before coalescence.
    pub(crate) fn phase(&self, tau: f64) -> f64 {
        let th = self.theta(tau);
        -2.0 / self.eta * (th.powf(0.625) + self.a1 * th.powf(0.375))
    }

    /// The `τ` at which the GW frequency equals `f` (bisection; `f` is monotone in `τ`).
    pub(crate) fn tau_at_frequency(&self, f: f64) -> f64 {
        // Newtonian guess brackets the root within a factor of a few.
        let (mut lo, mut hi) = (1e-9_f64, 1e-3_f64);
        while self.frequency(hi) > f && hi < 1e9 {
            hi *= 4.0;
        }
        for _ in 0..200 {
            let mid = 0.5 * (lo + hi);
            if self.frequency(mid) > f {
                lo = mid;
            } else {
                hi = mid;
            }
            if hi - lo <= 1e-12 * hi {
                break;
            }
        }
        0.5 * (lo + hi)
    }
}

/// The time-domain waveform sampled on a grid.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Chirp {
    t3: Taylor3,
    phase0: f64,
    /// Coalescence time (where TaylorT3 diverges) (s, window time).
    t_c: f64,
    /// Time to coalescence at merger (f = f_isco).
    tau_end: f64,
    /// Time to coalescence where f = f_low, and where the start ramp ends.
    tau_start: f64,
    tau_ramp_end: f64,
    /// Duration of the end taper: one GW cycle at f_isco.
    end_taper: f64,
}

impl Chirp {
    /// Ramps in from `f_low` to `1.2 f_low`; requires `f_low < f_isco` (checked by the caller).
    pub(crate) fn new(p: &ChirpParams, order: PnOrder, f_low: f64) -> Self {
        let t3 = Taylor3::new(p, order);
        let f_isco = p.isco_frequency();
        let tau_end = t3.tau_at_frequency(f_isco);
        let tau_start = t3.tau_at_frequency(f_low);
        let tau_ramp_end = t3.tau_at_frequency((1.2 * f_low).min(0.5 * (f_low + f_isco)));
        Chirp {
            t3,
            phase0: p.phase,
            t_c: p.merger_time + tau_end,
            tau_end,
            tau_start,
            tau_ramp_end,
            end_taper: 1.0 / f_isco,
        }
    }

    /// Writes `h(t₀ + n/fs)` into `out`; `t₀` is in window time (0 = window start).
    pub(crate) fn sample_into(&self, t0: f64, fs: f64, out: &mut [f64]) {
        for (n, h) in out.iter_mut().enumerate() {
            let tau = self.t_c - (t0 + n as f64 / fs);
            *h = self.at(tau);
        }
    }

    fn at(&self, tau: f64) -> f64 {
        if tau < self.tau_end || tau > self.tau_start {
            return 0.0;
        }
        let mut w = 1.0;
        if tau > self.tau_ramp_end {
            // sin² ramp in from the start.
            let s = (self.tau_start - tau) / (self.tau_start - self.tau_ramp_end);
            w = (0.5 * PI * s).sin().powi(2);
        }
        let since_end = tau - self.tau_end;
        if since_end < self.end_taper {
            w *= (0.5 * PI * since_end / self.end_taper).sin().powi(2);
        }
        let f = self.t3.frequency(tau);
        // Amplitude ∝ f^(2/3), in units of its value at 100 Hz.
        w * (f / 100.0).powf(2.0 / 3.0) * (self.t3.phase(tau) + self.phase0).cos()
    }
}

/// GW frequency (Hz) of the binary `p` a time `tau` seconds before coalescence, at PN
/// order `order`. (Coalescence is where the point-particle formula diverges, slightly after
/// the merger time of [`ChirpParams::merger_time`].)
pub fn gw_frequency(p: &ChirpParams, order: PnOrder, tau: f64) -> f64 {
    Taylor3::new(p, order).frequency(tau)
}

/// Time to coalescence (s) at which the binary `p` radiates at GW frequency `f` (the inverse
/// of [`gw_frequency`]). At `f = p.isco_frequency()` this is the gap between the merger time
/// and the coalescence time.
pub fn time_to_coalescence(p: &ChirpParams, order: PnOrder, f: f64) -> f64 {
    Taylor3::new(p, order).tau_at_frequency(f)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(chirp_mass: f64, mass_ratio: f64) -> ChirpParams {
        ChirpParams {
            chirp_mass,
            mass_ratio,
            phase: 0.0,
            merger_time: 0.0,
            snr: 1.0,
        }
    }

    #[test]
    fn masses_are_consistent() {
        let p = params(30.0, 0.5);
        let (m1, m2) = p.component_masses();
        let mc = (m1 * m2).powf(0.6) / (m1 + m2).powf(0.2);
        assert!((mc - 30.0).abs() < 1e-9, "{mc}");
        assert!((m2 / m1 - 0.5).abs() < 1e-12);
        // Equal masses: η = 1/4, M = 𝓜 · 4^(3/5).
        let p = params(10.0, 1.0);
        assert_eq!(p.symmetric_mass_ratio(), 0.25);
        assert!((p.total_mass() - 10.0 * 4f64.powf(0.6)).abs() < 1e-9);
        // f_isco ≈ 4397 Hz / M.
        assert!((p.isco_frequency() * p.total_mass() - 4397.0).abs() < 1.0);
    }

    #[test]
    fn newtonian_frequency_matches_the_textbook_chirp_mass_formula() {
        // f(τ) = (1/π) (5/(256 τ))^(3/8) (G𝓜/c³)^(−5/8), independent of the mass ratio.
        for (mc, q) in [(5.0f64, 1.0), (20.0, 0.3), (40.0, 0.8)] {
            for tau in [0.01f64, 0.1, 1.0] {
                let textbook =
                    (5.0 / (256.0 * tau)).powf(0.375) * (mc * SOLAR_MASS_SECONDS).powf(-0.625) / PI;
                let f = gw_frequency(&params(mc, q), PnOrder::Newtonian, tau);
                assert!(
                    (f / textbook - 1.0).abs() < 1e-12,
                    "{mc} {q} {tau}: {f} vs {textbook}"
                );
            }
        }
    }

    #[test]
    fn phase_derivative_is_two_pi_f_at_each_order() {
        for order in [PnOrder::Newtonian, PnOrder::OnePn] {
            let t3 = Taylor3::new(&params(12.0, 0.6), order);
            for tau in [0.02, 0.2, 2.0] {
                let h = tau * 1e-6;
                // Φ decreases with τ: dΦ/dt = −dΦ/dτ.
                let dphi_dt = -(t3.phase(tau + h) - t3.phase(tau - h)) / (2.0 * h);
                let two_pi_f = 2.0 * PI * t3.frequency(tau);
                assert!(
                    (dphi_dt / two_pi_f - 1.0).abs() < 1e-6,
                    "{order:?} τ={tau}: {dphi_dt} vs {two_pi_f}"
                );
            }
        }
    }

    #[test]
    fn one_pn_correction_is_a_few_percent_early_and_grows_toward_merger() {
        let p = params(20.0, 1.0);
        let n = Taylor3::new(&p, PnOrder::Newtonian);
        let one = Taylor3::new(&p, PnOrder::OnePn);
        // The relative correction is b₁ θ^(−1/4): at τ = 10 s, θ = ητ/(5M) ≈ 2212 and
        // b₁ = 743/2688 + 11/128 ≈ 0.362, so ≈ 5.3 %; it grows toward merger.
        let early = one.frequency(10.0) / n.frequency(10.0) - 1.0;
        let late = one.frequency(0.01) / n.frequency(0.01) - 1.0;
        assert!((early - 0.0529).abs() < 1e-3, "{early}");
        assert!(late > 4.0 * early, "{early} {late}");
    }

    #[test]
    fn tau_at_frequency_inverts_frequency() {
        let t3 = Taylor3::new(&params(7.0, 0.9), PnOrder::OnePn);
        for f in [20.0, 60.0, 300.0] {
            let tau = t3.tau_at_frequency(f);
            assert!((t3.frequency(tau) / f - 1.0).abs() < 1e-9);
        }
    }

    #[test]
    fn waveform_is_zero_outside_its_support_and_bounded() {
        let p = ChirpParams {
            merger_time: 0.5,
            ..params(30.0, 1.0)
        };
        let c = Chirp::new(&p, PnOrder::OnePn, 20.0);
        let fs = 2048.0;
        let mut h = vec![0.0; 4096];
        c.sample_into(-1.0, fs, &mut h);
        // After the merger (t > 0.5 s, i.e. n > 1.5 s · fs) nothing.
        assert!(h[(1.5 * fs) as usize + 1..].iter().all(|&v| v == 0.0));
        assert!(h.iter().any(|&v| v != 0.0));
        let peak = h.iter().fold(0.0f64, |a, &v| a.max(v.abs()));
        // f^(2/3) amplitude normalised at 100 Hz; f_isco ≈ 64 Hz here.
        assert!(peak > 0.3 && peak < 1.0, "{peak}");
    }
}
