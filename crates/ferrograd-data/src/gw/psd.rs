//! The detector noise model: an analytic fit to the Advanced LIGO design sensitivity.

/// Reference frequency `f₀` of the fit (Hz).
pub const ALIGO_F0: f64 = 215.0;
/// Scale `S₀` of the fit (1/Hz).
pub const ALIGO_S0: f64 = 1e-49;

/// One-sided noise power spectral density of Advanced LIGO at design sensitivity (1/Hz),
/// the standard analytic fit
///
/// ```text
/// S(f) = S₀ [ x^(−4.14) − 5 x^(−2) + 111 (1 − x² + x⁴/2) / (1 + x²/2) ],   x = f / f₀,
/// S₀ = 10⁻⁴⁹ Hz⁻¹,  f₀ = 215 Hz,
/// ```
///
/// from B. S. Sathyaprakash & B. F. Schutz, Living Rev. Relativ. 12, 2 (2009), Table 1
/// (after Arun et al., Phys. Rev. D 71, 084008 (2005)). It follows the zero-detuned,
/// high-power design curve to within tens of percent from 10 Hz to a few kHz: a seismic/
/// suspension wall below ~20 Hz, a minimum of ≈ 3.3·10⁻⁴⁸ Hz⁻¹ (≈ 1.8·10⁻²⁴ /√Hz) near
/// 200 Hz and shot noise rising as f² above. It is not meant for f < 10 Hz; the generator
/// only uses it above its `f_low`. Returns `+∞` for `f ≤ 0` or NaN.
pub fn aligo_psd(f: f64) -> f64 {
    if f.is_nan() || f <= 0.0 {
        return f64::INFINITY;
    }
    let x = f / ALIGO_F0;
    let x2 = x * x;
    ALIGO_S0 * (x.powf(-4.14) - 5.0 / x2 + 111.0 * (1.0 - x2 + 0.5 * x2 * x2) / (1.0 + 0.5 * x2))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shape_of_the_design_curve() {
        // Values computed by hand from the formula.
        // f = f0: x = 1 → 1 − 5 + 111·0.5/1.5 = 33.
        assert!((aligo_psd(215.0) / 3.3e-48 - 1.0).abs() < 1e-12);
        // Positive and finite over the band used, with a bucket between 100 and 400 Hz.
        let min_f = (10..=1024)
            .map(f64::from)
            .min_by(|a, b| aligo_psd(*a).total_cmp(&aligo_psd(*b)))
            .unwrap();
        assert!((100.0..400.0).contains(&min_f), "minimum at {min_f} Hz");
        for f in 10..=4096 {
            let s = aligo_psd(f64::from(f));
            assert!(s.is_finite() && s > 0.0, "S({f}) = {s}");
        }
        // Seismic wall: 10 Hz is orders of magnitude above the bucket; shot noise rises ∝ f².
        assert!(aligo_psd(10.0) > 1e3 * aligo_psd(215.0));
        let r = aligo_psd(4000.0) / aligo_psd(2000.0);
        assert!((3.5..4.5).contains(&r), "{r}");
        assert!(aligo_psd(0.0).is_infinite() && aligo_psd(f64::NAN).is_infinite());
    }
}
