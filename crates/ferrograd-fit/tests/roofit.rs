//! The W3 fit against real RooFit: the same 100k events fitted by ferrograd (L-BFGS + exact
//! Hessian) and by RooFit/Minuit2 (MIGRAD + HESSE) in ROOT 6.40 from the project venv
//! (`FERROGRAD_TORCH_VENV`, set by `source scripts/env.sh`; ROOT by scripts/setup-root.sh).
//! Parameters must agree to 1e-4 relative and errors to 1%. Times are printed, not asserted.

use std::path::PathBuf;
use std::process::Command;

use ferrograd_fit::{model, write_events, Model, Params, PARAM_NAMES};

const TRUTH: Params = Params {
    mean: 3.0,
    sigma: 0.8,
    c: -0.3,
    frac: 0.3,
};
const START: Params = Params {
    mean: 2.8,
    sigma: 1.0,
    c: -0.2,
    frac: 0.5,
};

fn venv_python() -> PathBuf {
    let venv = std::env::var_os("FERROGRAD_TORCH_VENV").expect(
        "FERROGRAD_TORCH_VENV is not set: run `source scripts/env.sh` (and scripts/setup-root.sh) first",
    );
    let py = PathBuf::from(venv).join("bin/python");
    assert!(py.exists(), "no python at {}", py.display());
    py
}

#[test]
fn fit_agrees_with_roofit_migrad_hesse() {
    let m = Model::new(0.0, 10.0).unwrap();
    let x = m.generate(&TRUTH, 100_000, 1).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let events = dir.path().join("events.txt");
    write_events(&events, &x).unwrap();

    let fit = m.fit(&x, &START).unwrap();

    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/roofit_fit.py");
    let s = START.to_array();
    let out = Command::new(venv_python())
        .arg(&script)
        .arg(&events)
        .args(["0", "10"])
        .args(s.iter().map(|v| v.to_string()))
        .output()
        .expect("run the RooFit script");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "RooFit script failed: {}\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let line = stdout
        .lines()
        .last()
        .expect("JSON line from the RooFit script");
    let r: serde_json::Value = serde_json::from_str(line).expect("JSON from the RooFit script");
    assert_eq!(r["status"], 0, "MIGRAD status: {r}");
    assert_eq!(r["cov_qual"], 3, "HESSE covariance quality: {r}");
    assert_eq!(r["n_events"], 100_000);
    let vals: Vec<f64> = serde_json::from_value(r["values"].clone()).unwrap();
    let errs: Vec<f64> = serde_json::from_value(r["errors"].clone()).unwrap();

    println!(
        "param      ferrograd                  RooFit                     rel.diff value / error"
    );
    let mut worst = (0.0f64, 0.0f64);
    for k in 0..4 {
        let dv = (fit.values[k] - vals[k]).abs() / vals[k].abs();
        let de = (fit.errors[k] - errs[k]).abs() / errs[k];
        worst = (worst.0.max(dv), worst.1.max(de));
        println!(
            "{:>6} {:>12.8} ± {:.8}   {:>12.8} ± {:.8}   {dv:.2e} / {de:.2e}",
            PARAM_NAMES[k], fit.values[k], fit.errors[k], vals[k], errs[k]
        );
    }
    println!(
        "min NLL: ferrograd {:.6} RooFit {}; EDM ferrograd {:.2e} RooFit {}",
        fit.min_nll, r["min_nll"], fit.edm, r["edm"]
    );
    let t = &fit.timings;
    println!(
        "wall: ferrograd fit {:.1} ms (minimise {:.1} ms, final Hessian {:.1} ms; {} L-BFGS iterations, {} NLL + {} gradient calls, {} Newton steps) — RooFit MIGRAD {:.1} ms + HESSE {:.1} ms",
        t.total.as_secs_f64() * 1e3,
        t.minimise.as_secs_f64() * 1e3,
        t.hessian.as_secs_f64() * 1e3,
        t.lbfgs_iterations,
        t.nll_calls,
        t.grad_calls,
        t.newton_steps,
        r["t_migrad_s"].as_f64().unwrap() * 1e3,
        r["t_hesse_s"].as_f64().unwrap() * 1e3
    );
    let (lo, hi) = m.range();
    let reps = 10;
    let mut g = [0.0; 4];
    let t0 = std::time::Instant::now();
    for _ in 0..reps {
        std::hint::black_box(model::nll_grad(&fit.values, &x, lo, hi, &mut g));
    }
    let t_grad = t0.elapsed().as_secs_f64() / reps as f64;
    let t_nll_roofit = r["t_nll_cpu_s"].as_f64().unwrap();
    println!(
        "gradient: ferrograd NLL+gradient {:.3} ms (this build's profile) — RooFit NLL {:.3} ms, numeric gradient (2 NLL per parameter) ≈ {:.3} ms; codegen: {}",
        t_grad * 1e3,
        t_nll_roofit * 1e3,
        8.0 * t_nll_roofit * 1e3,
        r.get("t_grad_codegen_s")
            .map(|v| format!("{:.3} ms", v.as_f64().unwrap_or(f64::NAN) * 1e3))
            .unwrap_or_else(|| r["codegen_error"].to_string())
    );
    assert!(
        worst.0 <= 1e-4,
        "parameters differ by {:.2e} relative",
        worst.0
    );
    assert!(worst.1 <= 1e-2, "errors differ by {:.2e} relative", worst.1);
    // The minimum itself: the same NLL up to MIGRAD's distance to it.
    let nll_roofit = r["min_nll"].as_f64().unwrap();
    assert!(
        (fit.min_nll - nll_roofit).abs() < 1e-3,
        "NLL at the minima: {} vs {nll_roofit}",
        fit.min_nll
    );
}
