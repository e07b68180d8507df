//! W3: generate events with a seed, fit them, print the result and timings.
//!
//! `cargo run --release -p ferrograd-fit --example fit_w3 -- [EVENTS] [SEED] [OUT.txt]`
//! (defaults 100000, 1; with OUT the events are written there, one per line, for RooFit).

use std::time::Instant;

use ferrograd_fit::{model, write_events, Model, Params, PARAM_NAMES};

/// Truth of the generated sample, and the fit's start point (RooFit's script uses the same).
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

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let n: usize = args.first().map_or(Ok(100_000), |s| s.parse())?;
    let seed: u64 = args.get(1).map_or(Ok(1), |s| s.parse())?;
    let m = Model::new(0.0, 10.0)?;
    let x = m.generate(&TRUTH, n, seed)?;
    if let Some(out) = args.get(2) {
        write_events(std::path::Path::new(out), &x)?;
    }
    let fit = m.fit(&x, &START)?;
    for (k, name) in PARAM_NAMES.iter().enumerate() {
        println!("{name:>5} = {:.6} ± {:.6}", fit.values[k], fit.errors[k]);
    }
    println!("min NLL = {:.6}, EDM = {:.3e}", fit.min_nll, fit.edm);
    let t = &fit.timings;
    println!(
        "fit {:.2} ms (minimise {:.2} ms: {} L-BFGS iterations, {} NLL + {} gradient calls, {} Newton steps; Hessian {:.2} ms)",
        t.total.as_secs_f64() * 1e3,
        t.minimise.as_secs_f64() * 1e3,
        t.lbfgs_iterations,
        t.nll_calls,
        t.grad_calls,
        t.newton_steps,
        t.hessian.as_secs_f64() * 1e3
    );
    let p = fit.values;
    let (lo, hi) = m.range();
    let reps = 50;
    let t0 = Instant::now();
    for _ in 0..reps {
        std::hint::black_box(model::nll(&p, &x, lo, hi));
    }
    let t_nll = t0.elapsed().as_secs_f64() / reps as f64;
    let mut g = [0.0; 4];
    let t0 = Instant::now();
    for _ in 0..reps {
        std::hint::black_box(model::nll_grad(&p, &x, lo, hi, &mut g));
    }
    let t_grad = t0.elapsed().as_secs_f64() / reps as f64;
    println!(
        "per call ({n} events): NLL {:.3} ms, NLL+gradient {:.3} ms",
        t_nll * 1e3,
        t_grad * 1e3
    );
    Ok(())
}
