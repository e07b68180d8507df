//! Statistical and physical checks of the gravitational-wave generator, through its public API.

use ferrograd_data::gw::{gw_frequency, time_to_coalescence, ChirpParams, PnOrder};
use ferrograd_data::{generate, DataError, GwConfig, GwGenerator};
use realfft::RealFftPlanner;

fn cfg(seed: u64) -> GwConfig {
    GwConfig {
        seed,
        ..GwConfig::default()
    }
}

fn dot(a: &[f32], b: &[f32]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(&x, &y)| f64::from(x) * f64::from(y))
        .sum()
}

fn mean_std(v: &[f64]) -> (f64, f64) {
    let n = v.len() as f64;
    let m = v.iter().sum::<f64>() / n;
    let var = v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (n - 1.0);
    (m, var.sqrt())
}

/// Expected sample variance of the whitened noise: unit variance per mode over the band,
/// i.e. (2/L) Σ_k T_k² on the padded segment of L = 2N samples, T = 0 below 20 Hz, a 4 Hz
/// sin² roll-on (mean square 3/8 · 4 Hz = 1.5 Hz), 1 up to Nyquist (excluded).
fn expected_noise_variance(fs: f64) -> f64 {
    let nyq = fs / 2.0;
    (nyq - 20.0 - 4.0 + 1.5) / nyq
}

#[test]
fn same_seed_gives_identical_data_and_other_seeds_differ() {
    let a = generate(&cfg(7), 24).unwrap();
    let b = generate(&cfg(7), 24).unwrap();
    assert_eq!(
        a, b,
        "same seed must give bit-identical data, labels and parameters"
    );
    let p = ferrograd_data::generate_parallel(&cfg(7), 24, 2).unwrap();
    assert_eq!(a, p, "the result must not depend on the number of threads");
    let p = ferrograd_data::generate_parallel(&cfg(7), 24, 5).unwrap();
    assert_eq!(a, p, "the result must not depend on the number of threads");
    let c = generate(&cfg(8), 24).unwrap();
    assert_ne!(a.x, c.x);
    assert_eq!(a.x.len(), 24 * 2048);
    assert!(a.x.iter().all(|v| v.is_finite()));

    // An example depends on (seed, index) only.
    let mut g = GwGenerator::new(cfg(7)).unwrap();
    let (mut e1, mut e2) = (vec![0.0f32; 2048], vec![0.0f32; 2048]);
    let m1 = g.example_into(5, true, &mut e1).unwrap();
    g.example_into(6, false, &mut e2).unwrap();
    let m2 = g.example_into(5, true, &mut e2).unwrap();
    assert_eq!((e1, m1), (e2, m2));
    let i = a.meta.iter().position(|m| m.label == 1).unwrap();
    let mut e3 = vec![0.0f32; 2048];
    g.example_into(i as u64, true, &mut e3).unwrap();
    assert_eq!(a.example(i).unwrap(), &e3[..]);
}

#[test]
fn labels_are_balanced_shuffled_and_match_the_metadata() {
    for n in [0usize, 1, 10, 101] {
        let d = generate(&cfg(3), n).unwrap();
        assert_eq!(d.len(), n);
        assert_eq!(d.y.iter().filter(|&&l| l == 1).count(), n / 2, "n = {n}");
        for (m, &y) in d.meta.iter().zip(&d.y) {
            assert_eq!(m.label, y);
            assert_eq!(m.chirp.is_some(), y == 1);
        }
    }
    let d = generate(&cfg(3), 101).unwrap();
    let first_half_signals = d.y[..50].iter().filter(|&&l| l == 1).count();
    assert!(
        (10..=40).contains(&first_half_signals),
        "labels look unshuffled: {first_half_signals}"
    );
    // Drawn parameters stay within the configured ranges.
    for c in d.meta.iter().filter_map(|m| m.chirp) {
        assert!((5.0..=40.0).contains(&c.chirp_mass));
        assert!((0.5..=1.0).contains(&c.mass_ratio));
        assert!((8.0..=20.0).contains(&c.snr));
        assert!((0.5..=0.9).contains(&c.merger_time));
    }
}

#[test]
fn whitened_noise_has_unit_variance_and_a_flat_spectrum() {
    let n = 2048;
    let fs = 2048.0;
    let examples = 150;
    let mut g = GwGenerator::new(cfg(11)).unwrap();
    let mut x = vec![0.0f32; n];
    let mut planner = RealFftPlanner::<f64>::new();
    let fft = planner.plan_fft_forward(n);
    let mut buf = fft.make_input_vec();
    let mut spec = fft.make_output_vec();
    let mut power = vec![0.0f64; n / 2 + 1];
    let (mut sum, mut sum_sq) = (0.0f64, 0.0f64);
    let (mut edge_sq, mut mid_sq) = (0.0f64, 0.0f64);
    for i in 0..examples {
        g.example_into(i, false, &mut x).unwrap();
        for (j, &v) in x.iter().enumerate() {
            let v = f64::from(v);
            sum += v;
            sum_sq += v * v;
            if !(64..n - 64).contains(&j) {
                edge_sq += v * v;
            } else if (n / 2 - 64..n / 2 + 64).contains(&j) {
                mid_sq += v * v;
            }
        }
        for (b, &v) in buf.iter_mut().zip(&x) {
            *b = f64::from(v);
        }
        fft.process(&mut buf, &mut spec).unwrap();
        for (p, c) in power.iter_mut().zip(&spec) {
            *p += c.norm_sqr() / n as f64;
        }
    }
    let total = (examples as usize * n) as f64;
    let mean = sum / total;
    let var = sum_sq / total - mean * mean;
    let expected = expected_noise_variance(fs);
    println!("whitened noise: mean {mean:.4}, variance {var:.4} (expected {expected:.4})");
    assert!(mean.abs() < 0.01, "mean {mean}");
    assert!(
        (var / expected - 1.0).abs() < 0.02,
        "variance {var}, expected {expected}"
    );
    // No excess or deficit at the window edges (the taper lives in the padding).
    let edge = edge_sq / (examples as f64 * 128.0);
    let mid = mid_sq / (examples as f64 * 128.0);
    assert!(
        (edge / mid - 1.0).abs() < 0.1,
        "edge variance {edge} vs middle {mid}"
    );

    // Periodogram averaged over examples: 1 per mode in band, ~0 below f_low.
    let df = fs / n as f64;
    let band_mean = |lo: f64, hi: f64| {
        let (a, b) = ((lo / df) as usize, (hi / df) as usize);
        power[a..b].iter().sum::<f64>() / (b - a) as f64 / examples as f64
    };
    for (lo, hi) in [
        (30.0, 60.0),
        (60.0, 120.0),
        (120.0, 250.0),
        (250.0, 500.0),
        (500.0, 1000.0),
    ] {
        let p = band_mean(lo, hi);
        println!("  {lo:>5}-{hi:<5} Hz: {p:.3}");
        assert!(
            (p - 1.0).abs() < 0.08,
            "band {lo}-{hi} Hz: mean power {p}, expected 1"
        );
    }
    let low = band_mean(1.0, 15.0);
    assert!(low < 0.05, "power below f_low: {low}");
}

/// Frequency from zero crossings of `x` between samples `a` and `b`.
fn zero_crossing_frequency(x: &[f32], fs: f64, a: usize, b: usize) -> f64 {
    let mut crossings = Vec::new();
    for i in a..b - 1 {
        if (x[i] <= 0.0) != (x[i + 1] <= 0.0) {
            // Linear interpolation of the crossing time.
            let t = i as f64 + f64::from(x[i]) / f64::from(x[i] - x[i + 1]);
            crossings.push(t);
        }
    }
    let (first, last) = (crossings[0], crossings[crossings.len() - 1]);
    // Two crossings per cycle.
    (crossings.len() - 1) as f64 / 2.0 / ((last - first) / fs)
}

#[test]
fn injected_chirp_frequency_rises_and_follows_the_newtonian_law() {
    let fs = 2048.0;
    let config = GwConfig {
        pn_order: PnOrder::Newtonian,
        ..cfg(0)
    };
    let mut g = GwGenerator::new(config).unwrap();
    let p = ChirpParams {
        chirp_mass: 8.0,
        mass_ratio: 1.0,
        phase: 0.3,
        merger_time: 0.9,
        snr: 20.0,
    };
    let mut s = vec![0.0f32; 2048];
    g.injection_into(&p, &mut s).unwrap();
    let tau_end = time_to_coalescence(&p, PnOrder::Newtonian, p.isco_frequency());
    let merger = (p.merger_time * fs) as usize;
    let mut last = 0.0;
    // Windows of 0.1 s ending 0.6, 0.4, 0.2, 0.05 s before the merger.
    for before in [0.6, 0.4, 0.2, 0.05] {
        let b = merger - (before * fs) as usize;
        let a = b - (0.1 * fs) as usize;
        let f = zero_crossing_frequency(&s, fs, a, b);
        // Time to coalescence at the centre of the window.
        let tau = (merger - (a + b) / 2) as f64 / fs + tau_end;
        let theory = gw_frequency(&p, PnOrder::Newtonian, tau);
        println!("τ = {tau:.3} s: zero-crossing f = {f:.2} Hz, Newtonian f = {theory:.2} Hz");
        assert!(f > last, "frequency must rise: {f} after {last}");
        assert!(
            (f / theory - 1.0).abs() < 0.04,
            "τ = {tau}: {f} Hz vs {theory} Hz"
        );
        last = f;
    }
    // The waveform ends at the merger; only the whitening filter's short response remains.
    let peak = s[..merger].iter().fold(0.0f32, |m, v| m.max(v.abs()));
    for ms in [5usize, 10, 25, 50] {
        let after = s[merger + ms * 2048 / 1000..]
            .iter()
            .fold(0.0f32, |m, v| m.max(v.abs()));
        println!("max |s| {ms} ms after merger: {:.2e} of peak", after / peak);
    }
    let after = s[merger + 51..].iter().fold(0.0f32, |m, v| m.max(v.abs()));
    assert!(
        after < 1e-3 * peak,
        "signal 25 ms after merger: {after} vs peak {peak}"
    );
}

#[test]
fn injection_norm_is_the_requested_snr() {
    let mut g = GwGenerator::new(cfg(0)).unwrap();
    let mut s = vec![0.0f32; 2048];
    for (mc, q, t, snr) in [
        (5.0, 1.0, 0.6, 8.0),
        (25.0, 0.5, 0.8, 12.5),
        (40.0, 0.5, 0.5, 30.0),
    ] {
        let p = ChirpParams {
            chirp_mass: mc,
            mass_ratio: q,
            phase: 1.0,
            merger_time: t,
            snr,
        };
        g.injection_into(&p, &mut s).unwrap();
        let norm = dot(&s, &s).sqrt();
        assert!((norm / snr - 1.0).abs() < 1e-5, "{p:?}: ‖s‖ = {norm}");
    }
}

/// The matched-filter SNR measured in the noisy data — the correlation with the unit-norm
/// template, normalised by its spread over noise-only data — matches the requested SNR.
#[test]
fn matched_filter_recovers_the_requested_snr() {
    let snr = 10.0;
    let config = GwConfig {
        snr_range: (snr, snr),
        ..cfg(21)
    };
    let data = generate(&config, 400).unwrap();
    let mut g = GwGenerator::new(config).unwrap();
    let mut tpl = vec![0.0f32; 2048];
    let (mut on_signal, mut on_noise) = (Vec::new(), Vec::new());
    let signal_params: Vec<ChirpParams> = data.meta.iter().filter_map(|m| m.chirp).collect();
    for (i, m) in data.meta.iter().enumerate() {
        let x = data.example(i).unwrap();
        match m.chirp {
            Some(p) => {
                g.injection_into(&p, &mut tpl).unwrap();
                on_signal.push(dot(x, &tpl) / snr);
            }
            None => {
                // A noise example against a signal template it does not contain.
                let p = signal_params[i % signal_params.len()];
                g.injection_into(&p, &mut tpl).unwrap();
                on_noise.push(dot(x, &tpl) / snr);
            }
        }
    }
    let (m_sig, s_sig) = mean_std(&on_signal);
    let (m_noise, s_noise) = mean_std(&on_noise);
    println!(
        "signal: {m_sig:.3} ± {s_sig:.3}; noise: {m_noise:.3} ± {s_noise:.3}; measured SNR {:.3}",
        m_sig / s_noise
    );
    // 200 examples each: the mean is known to ±0.07 (1σ), the spread to ±5 %.
    assert!(
        (m_sig / snr - 1.0).abs() < 0.03,
        "mean matched-filter output {m_sig}, requested SNR {snr}"
    );
    assert!(m_noise.abs() < 0.25, "noise-only mean {m_noise}");
    assert!(
        (s_noise - 1.0).abs() < 0.15 && (s_sig - 1.0).abs() < 0.15,
        "spreads {s_noise} {s_sig}"
    );
}

/// Area under the ROC curve of a statistic (fraction of signal/noise pairs ranked correctly).
fn auc(signal: &[f64], noise: &[f64]) -> f64 {
    let mut good = 0.0;
    for s in signal {
        for n in noise {
            good += if s > n {
                1.0
            } else if s == n {
                0.5
            } else {
                0.0
            };
        }
    }
    good / (signal.len() * noise.len()) as f64
}

#[test]
fn energy_detector_separates_snr_20_signals_from_noise() {
    let config = GwConfig {
        snr_range: (20.0, 20.0),
        ..cfg(5)
    };
    let d = generate(&config, 120).unwrap();
    let energy = |i: usize| {
        d.example(i)
            .unwrap()
            .iter()
            .map(|&v| f64::from(v).powi(2))
            .sum::<f64>()
    };
    let sig: Vec<f64> = (0..d.len()).filter(|&i| d.y[i] == 1).map(energy).collect();
    let noise: Vec<f64> = (0..d.len()).filter(|&i| d.y[i] == 0).map(energy).collect();
    let a = auc(&sig, &noise);
    let excess = mean_std(&sig).0 - mean_std(&noise).0;
    println!("energy detector AUC {a:.3}, mean excess energy {excess:.1} (ρ² = 400)");
    assert!(a > 0.98, "AUC {a}");
    // E[‖n + s‖²] − E[‖n‖²] = ‖s‖² = ρ²; the difference of means is known to about ±20.
    assert!((excess / 400.0 - 1.0).abs() < 0.15, "{excess}");

    // At SNR 0 the two classes are indistinguishable.
    let config = GwConfig {
        snr_range: (0.0, 0.0),
        ..cfg(5)
    };
    let d = generate(&config, 120).unwrap();
    let energy = |i: usize| {
        d.example(i)
            .unwrap()
            .iter()
            .map(|&v| f64::from(v).powi(2))
            .sum::<f64>()
    };
    let sig: Vec<f64> = (0..d.len()).filter(|&i| d.y[i] == 1).map(energy).collect();
    let noise: Vec<f64> = (0..d.len()).filter(|&i| d.y[i] == 0).map(energy).collect();
    let a0 = auc(&sig, &noise);
    assert!((a0 - 0.5).abs() < 0.15, "AUC at SNR 0: {a0}");
}

#[test]
fn bad_configurations_are_errors_that_name_the_field() {
    let cases: Vec<(GwConfig, &str)> = vec![
        (
            GwConfig {
                n_samples: 0,
                ..cfg(0)
            },
            "n_samples",
        ),
        (
            GwConfig {
                sample_rate: f64::NAN,
                ..cfg(0)
            },
            "sample_rate",
        ),
        (
            GwConfig {
                sample_rate: -1.0,
                ..cfg(0)
            },
            "sample_rate",
        ),
        (
            GwConfig {
                f_low: 5.0,
                ..cfg(0)
            },
            "f_low",
        ),
        (
            GwConfig {
                f_low: 600.0,
                ..cfg(0)
            },
            "f_low",
        ),
        (
            GwConfig {
                snr_range: (20.0, 8.0),
                ..cfg(0)
            },
            "snr_range",
        ),
        (
            GwConfig {
                snr_range: (f64::NAN, 8.0),
                ..cfg(0)
            },
            "snr_range",
        ),
        (
            GwConfig {
                snr_range: (-1.0, 8.0),
                ..cfg(0)
            },
            "snr_range",
        ),
        (
            GwConfig {
                mass_range: (0.0, 10.0),
                ..cfg(0)
            },
            "mass_range",
        ),
        (
            GwConfig {
                mass_range: (10.0, f64::INFINITY),
                ..cfg(0)
            },
            "mass_range",
        ),
        (
            GwConfig {
                mass_range: (5.0, 400.0),
                ..cfg(0)
            },
            "mass_range",
        ),
        (
            GwConfig {
                mass_ratio_range: (0.0, 1.0),
                ..cfg(0)
            },
            "mass_ratio_range",
        ),
        (
            GwConfig {
                mass_ratio_range: (0.5, 2.0),
                ..cfg(0)
            },
            "mass_ratio_range",
        ),
        (
            GwConfig {
                merger_range: (0.5, 1.5),
                ..cfg(0)
            },
            "merger_range",
        ),
    ];
    for (c, field) in cases {
        let err = generate(&c, 4).unwrap_err();
        match &err {
            DataError::InvalidConfig { field: f, .. } => {
                assert!(f.contains(field), "{field}: {err}")
            }
            other => panic!("{field}: expected InvalidConfig, got {other:?}"),
        }
        assert!(GwGenerator::new(c).is_err());
    }
    // Fixed values (lo == hi) are valid.
    let fixed = GwConfig {
        snr_range: (10.0, 10.0),
        mass_range: (20.0, 20.0),
        mass_ratio_range: (1.0, 1.0),
        merger_range: (0.7, 0.7),
        ..cfg(0)
    };
    let d = generate(&fixed, 4).unwrap();
    let c = d.meta.iter().find_map(|m| m.chirp).unwrap();
    assert_eq!(
        (c.snr, c.chirp_mass, c.mass_ratio, c.merger_time),
        (10.0, 20.0, 1.0, 0.7)
    );

    let mut g = GwGenerator::new(cfg(0)).unwrap();
    let mut short = vec![0.0f32; 100];
    assert!(matches!(
        g.example_into(0, true, &mut short),
        Err(DataError::BadLength { expected: 2048, .. })
    ));
    let mut ok = vec![0.0f32; 2048];
    let nan = ChirpParams {
        chirp_mass: f64::NAN,
        mass_ratio: 1.0,
        phase: 0.0,
        merger_time: 0.5,
        snr: 10.0,
    };
    assert!(matches!(
        g.injection_into(&nan, &mut ok),
        Err(DataError::InvalidConfig { .. })
    ));
}
