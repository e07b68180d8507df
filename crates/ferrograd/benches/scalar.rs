//! Issue #2 performance bar: primal vs `f_grad` vs a hand-written gradient, for Rosenbrock
//! (N = 1000, loop form), a 10-parameter unbinned log-likelihood over 10k points, and an
//! explicit-Euler ODE. Target: `f_grad` ≤ 3× primal and ≤ 1.3× the hand-written gradient.

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use ferrograd::differentiable;

#[differentiable]
fn rosenbrock(x: &[f64]) -> f64 {
    let mut s = 0.0;
    for i in 0..x.len() - 1 {
        let a = x[i + 1] - x[i] * x[i];
        let b = 1.0 - x[i];
        s += 100.0 * a * a + b * b;
    }
    s
}

fn rosenbrock_hand(x: &[f64], g: &mut [f64]) -> f64 {
    let mut s = 0.0;
    for i in 0..x.len() - 1 {
        let a = x[i + 1] - x[i] * x[i];
        let b = 1.0 - x[i];
        s += 100.0 * a * a + b * b;
        g[i] += -400.0 * x[i] * a - 2.0 * b;
        g[i + 1] += 200.0 * a;
    }
    s
}

/// NLL of 3 Gaussians + an exponential background, p = (m1 s1 m2 s2 m3 s3 w1 w2 wb λ).
#[differentiable(wrt(p))]
fn nll(p: &[f64], data: &[f64]) -> f64 {
    let c = 0.3989422804014327; // 1/√(2π)
    let w3 = 1.0 - p[6] - p[7] - p[8];
    let mut s = 0.0;
    for x in data {
        let z1 = (x - p[0]) / p[1];
        let z2 = (x - p[2]) / p[3];
        let z3 = (x - p[4]) / p[5];
        let g1 = c / p[1] * (-0.5 * z1 * z1).exp();
        let g2 = c / p[3] * (-0.5 * z2 * z2).exp();
        let g3 = c / p[5] * (-0.5 * z3 * z3).exp();
        let bg = p[9] * (-p[9] * x).exp();
        s -= (p[6] * g1 + p[7] * g2 + w3 * g3 + p[8] * bg).ln();
    }
    s
}

fn nll_hand(p: &[f64], data: &[f64], g: &mut [f64]) -> f64 {
    let c = 0.3989422804014327;
    let w3 = 1.0 - p[6] - p[7] - p[8];
    let mut s = 0.0;
    let mut acc = [0.0; 10];
    for &x in data {
        let z1 = (x - p[0]) / p[1];
        let z2 = (x - p[2]) / p[3];
        let z3 = (x - p[4]) / p[5];
        let g1 = c / p[1] * (-0.5 * z1 * z1).exp();
        let g2 = c / p[3] * (-0.5 * z2 * z2).exp();
        let g3 = c / p[5] * (-0.5 * z3 * z3).exp();
        let e = (-p[9] * x).exp();
        let bg = p[9] * e;
        let l = p[6] * g1 + p[7] * g2 + w3 * g3 + p[8] * bg;
        s -= l.ln();
        let r = -1.0 / l;
        // dg/dm = g z/s, dg/ds = g (z² - 1)/s
        acc[0] += r * p[6] * g1 * z1 / p[1];
        acc[1] += r * p[6] * g1 * (z1 * z1 - 1.0) / p[1];
        acc[2] += r * p[7] * g2 * z2 / p[3];
        acc[3] += r * p[7] * g2 * (z2 * z2 - 1.0) / p[3];
        acc[4] += r * w3 * g3 * z3 / p[5];
        acc[5] += r * w3 * g3 * (z3 * z3 - 1.0) / p[5];
        acc[6] += r * (g1 - g3);
        acc[7] += r * (g2 - g3);
        acc[8] += r * (bg - g3);
        acc[9] += r * p[8] * e * (1.0 - p[9] * x);
    }
    for k in 0..10 {
        g[k] += acc[k];
    }
    s
}

#[differentiable]
fn euler(y0: f64, k: f64, omega: f64, steps: usize) -> f64 {
    let dt = 1.0 / (steps as f64);
    let mut y = y0;
    let mut t = 0.0;
    for _ in 0..steps {
        y = y + dt * (-k * y + (omega * t).sin());
        t += dt;
    }
    y
}

/// Hand-written adjoint of the Euler loop: forward pass storing nothing (y is affine in the
/// previous y), backward recurrence for λ = ∂y_T/∂y_i.
fn euler_hand(y0: f64, k: f64, omega: f64, steps: usize) -> (f64, [f64; 3]) {
    let dt = 1.0 / (steps as f64);
    let a = 1.0 - dt * k;
    let mut y = y0;
    let mut t = 0.0;
    let mut ys = 0.0; // Σ λ_{i+1} y_i  for ∂/∂k
    let mut ws = 0.0; // Σ λ_{i+1} t_i cos(ω t_i) for ∂/∂ω
                      // λ_{i+1} = a^(steps-1-i): accumulate in forward order with a running power.
    let mut pw = a.powi(steps as i32 - 1);
    let inv_a = 1.0 / a;
    for _ in 0..steps {
        ys += pw * y;
        ws += pw * t * (omega * t).cos();
        y = y + dt * (-k * y + (omega * t).sin());
        t += dt;
        pw *= inv_a;
    }
    (y, [a.powi(steps as i32), -dt * ys, dt * ws])
}

fn benches(c: &mut Criterion) {
    let x: Vec<f64> = (0..1000)
        .map(|i| ((i * 37 % 101) as f64) / 50.0 - 1.0)
        .collect();
    let mut g = vec![0.0; 1000];
    let mut grp = c.benchmark_group("rosenbrock_n1000");
    grp.bench_function("primal", |b| b.iter(|| rosenbrock(black_box(&x))));
    grp.bench_function("f_grad", |b| {
        b.iter(|| rosenbrock_grad(black_box(&x), &mut g))
    });
    grp.bench_function("hand", |b| {
        b.iter(|| rosenbrock_hand(black_box(&x), &mut g))
    });
    grp.finish();

    let data: Vec<f64> = (0..10_000)
        .map(|i| ((i * 7919 % 10_007) as f64) / 1000.0)
        .collect();
    let p = [2.0, 0.5, 5.0, 1.0, 7.5, 0.8, 0.2, 0.3, 0.2, 0.4];
    let mut gp = [0.0; 10];
    let mut grp = c.benchmark_group("loglik_10p_10k");
    grp.bench_function("primal", |b| {
        b.iter(|| nll(black_box(&p), black_box(&data)))
    });
    grp.bench_function("f_grad", |b| {
        b.iter(|| nll_grad(black_box(&p), black_box(&data), &mut gp))
    });
    grp.bench_function("hand", |b| {
        b.iter(|| nll_hand(black_box(&p), black_box(&data), &mut gp))
    });
    grp.finish();

    let mut grp = c.benchmark_group("euler_ode_1000");
    let (mut a, mut b2, mut c2) = (0.0, 0.0, 0.0);
    grp.bench_function("primal", |b| {
        b.iter(|| euler(black_box(1.0), 0.7, 3.0, 1000))
    });
    grp.bench_function("f_grad", |b| {
        b.iter(|| euler_grad(black_box(1.0), 0.7, 3.0, 1000, &mut a, &mut b2, &mut c2))
    });
    grp.bench_function("hand", |b| {
        b.iter(|| euler_hand(black_box(1.0), 0.7, 3.0, 1000))
    });
    grp.finish();
}

criterion_group! {
    name = scalar;
    config = Criterion::default().sample_size(30).measurement_time(std::time::Duration::from_secs(2)).warm_up_time(std::time::Duration::from_millis(500));
    targets = benches
}
criterion_main!(scalar);

#[cfg(test)]
mod tests {
    // The hand-written gradients are checked against the generated ones in `tests/bench_oracles.rs`.
}
