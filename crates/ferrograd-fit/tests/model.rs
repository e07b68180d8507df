//! The generated NLL, gradient and Hessian against independent computations, and the fit
//! against the truth of generated samples. Tolerances are stated; failures print the gap.
#![expect(
    clippy::needless_range_loop,
    reason = "parameter-by-parameter comparisons"
)]

use ferrograd_fit::{model, FitError, Model, Params};

const TRUTH: Params = Params {
    mean: 3.0,
    sigma: 0.8,
    c: -0.3,
    frac: 0.3,
};

fn model010() -> Model {
    Model::new(0.0, 10.0).unwrap()
}

#[test]
fn normalisation_matches_quadrature() {
    // ∫ pdf dx over the range is 1: Simpson on 20001 points of exp(−NLL of one event).
    let m = model010();
    for p in [
        [3.0, 0.8, -0.3, 0.3],
        [0.5, 2.0, 0.4, 0.7],
        [9.0, 0.3, -1.5, 0.5],
    ] {
        let n = 20_000;
        let h = 10.0 / n as f64;
        let mut s = 0.0;
        for k in 0..=n {
            let x = k as f64 * h;
            let w = if k == 0 || k == n {
                1.0
            } else if k % 2 == 1 {
                4.0
            } else {
                2.0
            };
            s += w * (-m.nll(&p, &[x]).unwrap()).exp();
        }
        let integral = s * h / 3.0;
        println!("p = {p:?}: ∫pdf = {integral:.15}");
        assert!((integral - 1.0).abs() < 1e-10, "∫pdf = {integral}");
    }
}

#[test]
fn gradient_and_hessian_match_finite_differences() {
    let m = model010();
    let x = m.generate(&TRUTH, 2_000, 7).unwrap();
    let p = [3.1, 0.75, -0.28, 0.33];
    let mut g = [0.0; 4];
    m.nll_and_grad(&p, &x, &mut g).unwrap();
    let h = m.hessian(&p, &x).unwrap();
    // Rounding in the sums over events scales with the largest terms, not with entries that
    // cancel to a small value (H[2][3] ≈ 6 next to H[2][2] ≈ 8e3), so symmetry is checked
    // relative to the largest entry.
    let h_max = h.iter().flatten().fold(0.0f64, |m, v| m.max(v.abs()));
    for k in 0..4 {
        let e = 1e-5 * p[k].abs();
        let (mut pp, mut pm) = (p, p);
        pp[k] += e;
        pm[k] -= e;
        let fd = (m.nll(&pp, &x).unwrap() - m.nll(&pm, &x).unwrap()) / (2.0 * e);
        println!("dNLL/d{k}: AD {} FD {fd}", g[k]);
        assert!(
            (g[k] - fd).abs() <= 1e-5 * fd.abs().max(1.0),
            "gradient {k}"
        );
        let (mut gp, mut gm) = ([0.0; 4], [0.0; 4]);
        m.nll_and_grad(&pp, &x, &mut gp).unwrap();
        m.nll_and_grad(&pm, &x, &mut gm).unwrap();
        for i in 0..4 {
            let fd = (gp[i] - gm[i]) / (2.0 * e);
            println!("H[{i}][{k}]: AD {} FD {fd}", h[i][k]);
            assert!(
                (h[i][k] - fd).abs() <= 1e-5 * fd.abs().max(1.0),
                "hessian ({i},{k})"
            );
            assert!(
                (h[i][k] - h[k][i]).abs() <= 1e-12 * h_max,
                "hessian symmetric"
            );
        }
    }
}

#[test]
fn erf_in_the_normalisation_is_exact_to_1e14() {
    // A pure-Gaussian model (frac = 1) has NLL(x) = ½z² + ln(σ√(π/2)(erf b − erf a)); compare
    // against erf values from Python's math.erf (libm).
    let m = model010();
    // (mean, sigma, math.erf((10-mean)/(√2σ)) - math.erf((0-mean)/(√2σ)))
    let cases: [(f64, f64, f64); 3] = [
        (3.0, 0.8, 1.9998231654295984),
        (5.0, 3.0, 1.808838590908741),
        (1.0, 0.5, 1.9544997361036416),
    ];
    for (mean, sigma, de) in cases {
        let want = (sigma * (std::f64::consts::PI / 2.0).sqrt() * de).ln();
        let got = m.nll(&[mean, sigma, -0.3, 1.0], &[mean]).unwrap();
        println!("mean {mean} sigma {sigma}: {got} vs {want}");
        assert!((got - want).abs() < 1e-14 * want.abs().max(1.0));
    }
}

#[test]
fn fit_recovers_the_truth() {
    let m = model010();
    let x = m.generate(&TRUTH, 20_000, 3).unwrap();
    let start = Params {
        mean: 2.8,
        sigma: 1.0,
        c: -0.2,
        frac: 0.5,
    };
    let fit = m.fit(&x, &start).unwrap();
    println!("{fit:#?}");
    let t = TRUTH.to_array();
    for k in 0..4 {
        let pull = (fit.values[k] - t[k]) / fit.errors[k];
        assert!(pull.abs() < 4.0, "param {k}: pull {pull}");
    }
    assert!(fit.edm < 1e-8, "EDM {}", fit.edm);
    let mut g = [0.0; 4];
    m.nll_and_grad(&fit.values, &x, &mut g).unwrap();
    assert!(
        g.iter().all(|v| v.abs() < 1e-3),
        "gradient at minimum {g:?}"
    );
}

#[test]
fn bad_input_is_an_error() {
    assert!(matches!(
        Model::new(1.0, 1.0),
        Err(FitError::BadRange { .. })
    ));
    assert!(Model::new(f64::NAN, 1.0).is_err());
    let m = model010();
    let p = TRUTH.to_array();
    assert_eq!(m.nll(&p, &[]), Err(FitError::NoEvents));
    assert!(matches!(
        m.nll(&p, &[1.0, f64::NAN]),
        Err(FitError::BadEvent { index: 1, .. })
    ));
    assert!(matches!(
        m.nll(&p, &[11.0]),
        Err(FitError::BadEvent { index: 0, .. })
    ));
    assert!(matches!(
        m.nll(&[3.0, -1.0, -0.3, 0.3], &[1.0]),
        Err(FitError::BadParameter { name: "sigma", .. })
    ));
    assert!(matches!(
        m.nll(&[3.0, 1.0, -0.3, 1.5], &[1.0]),
        Err(FitError::BadParameter { name: "frac", .. })
    ));
    assert!(matches!(
        m.nll(&[3.0, 1.0], &[1.0]),
        Err(FitError::Length { .. })
    ));
    let mut g = [0.0; 3];
    assert!(m.nll_and_grad(&p, &[1.0], &mut g).is_err());
    let bad_truth = Params {
        sigma: 0.0,
        ..TRUTH
    };
    assert!(m.generate(&bad_truth, 10, 0).is_err());
    let far = Params {
        mean: 1e6,
        sigma: 1e-3,
        ..TRUTH
    };
    assert!(matches!(
        m.generate(&far, 10, 0),
        Err(FitError::Generation(_))
    ));
}

#[test]
fn event_files_round_trip_exactly() {
    let m = model010();
    let x = m.generate(&TRUTH, 1000, 9).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.txt");
    ferrograd_fit::write_events(&path, &x).unwrap();
    assert_eq!(ferrograd_fit::read_events(&path).unwrap(), x);
    std::fs::write(&path, "1.5\nnot-a-number\n").unwrap();
    let err = ferrograd_fit::read_events(&path).unwrap_err();
    assert!(err.to_string().contains("line 2"), "{err}");
}

#[test]
fn generation_is_reproducible() {
    let m = model010();
    assert_eq!(
        m.generate(&TRUTH, 100, 5).unwrap(),
        m.generate(&TRUTH, 100, 5).unwrap()
    );
    let _ = model::N_PARAMS;
}
