//! Classic AD test functions: gradients against analytic derivatives and finite differences,
//! Hessians against finite differences of the gradient.

#![expect(
    clippy::needless_range_loop,
    reason = "index loops are the construct under test"
)]

mod common;
use common::{assert_close, fd_grad};
use ferrograd::differentiable;

#[differentiable(hessian)]
pub fn rosenbrock(x: &[f64]) -> f64 {
    let mut s = 0.0;
    for i in 0..x.len() - 1 {
        let a = x[i + 1] - x[i] * x[i];
        let b = 1.0 - x[i];
        s += 100.0 * a * a + b * b;
    }
    s
}

#[differentiable(hessian)]
fn himmelblau(x: f64, y: f64) -> f64 {
    (x * x + y - 11.0).powi(2) + (x + y * y - 7.0).powi(2)
}

#[differentiable(hessian)]
fn beale(x: f64, y: f64) -> f64 {
    (1.5 - x + x * y).powi(2) + (2.25 - x + x * y * y).powi(2) + (2.625 - x + x * y * y * y).powi(2)
}

/// Polynomial by Horner's rule; coefficients highest degree first.
#[differentiable(hessian)]
fn horner(c: &[f64], x: f64) -> f64 {
    let mut acc = 0.0;
    for k in 0..c.len() {
        acc = acc * x + c[k];
    }
    acc
}

/// Explicit Euler for dy/dt = -k·y + sin(ω t), y(0) = y0, returns y(T).
#[differentiable(hessian)]
pub fn euler_ode(y0: f64, k: f64, omega: f64, steps: usize) -> f64 {
    let dt = 1.0 / (steps as f64);
    let mut y = y0;
    let mut t = 0.0;
    for _ in 0..steps {
        y = y + dt * (-k * y + (omega * t).sin());
        t += dt;
    }
    y
}

#[differentiable(hessian)]
fn logsumexp(x: &[f64]) -> f64 {
    let mut m = x[0];
    for i in 1..x.len() {
        m = m.max(x[i]);
    }
    let mut s = 0.0;
    for v in x {
        s += (v - m).exp();
    }
    m + s.ln()
}

fn check_hessian(name: &str, x: &[f64], grad: impl Fn(&[f64]) -> Vec<f64>, hess: &[f64]) {
    let n = x.len();
    for j in 0..n {
        let col = fd_grad(x, |v| grad(v)[j]);
        let got: Vec<f64> = (0..n).map(|i| hess[j * n + i]).collect();
        assert_close(&format!("{name} hessian row {j}"), &got, &col, 1e-5);
    }
    for i in 0..n {
        for j in 0..n {
            assert!(
                (hess[i * n + j] - hess[j * n + i]).abs() < 1e-8,
                "{name}: hessian symmetric"
            );
        }
    }
}

#[test]
fn rosenbrock_gradient_and_hessian() {
    let x = [-1.2, 1.0, 0.5, 0.8, -0.3];
    let mut g = [0.0; 5];
    let v = rosenbrock_grad(&x, &mut g);
    assert_eq!(v, rosenbrock(&x));
    // analytic gradient
    let n = x.len();
    let mut want = vec![0.0; n];
    for i in 0..n - 1 {
        want[i] += -400.0 * x[i] * (x[i + 1] - x[i] * x[i]) - 2.0 * (1.0 - x[i]);
        want[i + 1] += 200.0 * (x[i + 1] - x[i] * x[i]);
    }
    assert_close("rosenbrock analytic", &g, &want, 1e-12);
    assert_close("rosenbrock fd", &g, &fd_grad(&x, rosenbrock), 1e-6);
    let mut h = [0.0; 25];
    rosenbrock_hessian(&x, &mut h).unwrap();
    check_hessian(
        "rosenbrock",
        &x,
        |v| {
            let mut g = vec![0.0; v.len()];
            rosenbrock_grad(v, &mut g);
            g
        },
        &h,
    );
    assert!((h[0] - (1200.0 * x[0] * x[0] - 400.0 * x[1] + 2.0)).abs() < 1e-9);
    assert!(rosenbrock_hessian(&x, &mut [0.0; 24]).is_err());
    // The minimum has zero gradient.
    let mut g1 = [0.0; 5];
    rosenbrock_grad(&[1.0; 5], &mut g1);
    assert!(g1.iter().all(|v| v.abs() < 1e-14));
}

#[test]
fn himmelblau_and_beale() {
    for (x, y) in [(3.0, 2.0), (-2.805118, 3.131312), (0.5, -1.5)] {
        let (mut dx, mut dy) = (0.0, 0.0);
        himmelblau_grad(x, y, &mut dx, &mut dy);
        let wx = 4.0 * x * (x * x + y - 11.0) + 2.0 * (x + y * y - 7.0);
        let wy = 2.0 * (x * x + y - 11.0) + 4.0 * y * (x + y * y - 7.0);
        assert_close("himmelblau", &[dx, dy], &[wx, wy], 1e-12);
        let mut h = [0.0; 4];
        himmelblau_hessian(x, y, &mut h).unwrap();
        let want = [
            12.0 * x * x + 4.0 * y - 42.0,
            4.0 * (x + y),
            4.0 * (x + y),
            4.0 * x + 12.0 * y * y - 26.0,
        ];
        assert_close("himmelblau hessian", &h, &want, 1e-10);
    }
    let (mut dx, mut dy) = (0.0, 0.0);
    beale_grad(3.0, 0.5, &mut dx, &mut dy);
    assert!(
        dx.abs() < 1e-12 && dy.abs() < 1e-12,
        "beale minimum at (3, 0.5)"
    );
    let p = [1.0, 1.5];
    beale_grad(p[0], p[1], &mut dx, &mut dy);
    assert_close(
        "beale fd",
        &[dx, dy],
        &fd_grad(&p, |v| beale(v[0], v[1])),
        1e-6,
    );
    let mut h = [0.0; 4];
    beale_hessian(p[0], p[1], &mut h).unwrap();
    check_hessian(
        "beale",
        &p,
        |v| {
            let (mut a, mut b) = (0.0, 0.0);
            beale_grad(v[0], v[1], &mut a, &mut b);
            vec![a, b]
        },
        &h,
    );
}

#[test]
fn horner_polynomial() {
    let c = [2.0, -3.0, 0.5, 4.0]; // 2x³ - 3x² + 0.5x + 4
    let x = 1.3;
    let mut dc = [0.0; 4];
    let mut dx = 0.0;
    let v = horner_grad(&c, x, &mut dc, &mut dx);
    assert!((v - (2.0 * x * x * x - 3.0 * x * x + 0.5 * x + 4.0)).abs() < 1e-12);
    assert!((dx - (6.0 * x * x - 6.0 * x + 0.5)).abs() < 1e-12);
    assert_close("horner dc", &dc, &[x * x * x, x * x, x, 1.0], 1e-12);
    let mut h = [0.0; 25];
    horner_hessian(&c, x, &mut h).unwrap();
    assert!((h[24] - (12.0 * x - 6.0)).abs() < 1e-10, "d²p/dx²");
    assert!((h[4] - 3.0 * x * x).abs() < 1e-10, "d²p/dc0dx");
}

#[test]
fn euler_ode_matches_finite_differences_and_hessian() {
    let p = [1.0, 0.7, 3.0];
    let f = |v: &[f64]| euler_ode(v[0], v[1], v[2], 200);
    let (mut a, mut b, mut c) = (0.0, 0.0, 0.0);
    euler_ode_grad(p[0], p[1], p[2], 200, &mut a, &mut b, &mut c);
    assert_close("euler fd", &[a, b, c], &fd_grad(&p, f), 1e-6);
    // dy(T)/dy0 = (1 - k dt)^steps exactly for explicit Euler.
    assert!((a - (1.0 - 0.7 / 200.0f64).powi(200)).abs() < 1e-12);
    let mut h = [0.0; 9];
    euler_ode_hessian(p[0], p[1], p[2], 200, &mut h).unwrap();
    check_hessian(
        "euler",
        &p,
        |v| {
            let (mut a, mut b, mut c) = (0.0, 0.0, 0.0);
            euler_ode_grad(v[0], v[1], v[2], 200, &mut a, &mut b, &mut c);
            vec![a, b, c]
        },
        &h,
    );
    let (_, t) = euler_ode_pushforward(p[0], p[1], p[2], 200, 0.0, 1.0, 0.0);
    assert!((t - b).abs() < 1e-12);
}

#[test]
fn logsumexp_is_softmax_gradient() {
    let x = [0.3, -1.2, 2.5, 0.9];
    let mut g = [0.0; 4];
    let v = logsumexp_grad(&x, &mut g);
    let z: f64 = x.iter().map(|v| v.exp()).sum();
    assert!((v - z.ln()).abs() < 1e-12);
    let soft: Vec<f64> = x.iter().map(|v| v.exp() / z).collect();
    assert_close("logsumexp", &g, &soft, 1e-12);
    let mut h = [0.0; 16];
    logsumexp_hessian(&x, &mut h).unwrap();
    for i in 0..4 {
        for j in 0..4 {
            let want = if i == j {
                soft[i] - soft[i] * soft[j]
            } else {
                -soft[i] * soft[j]
            };
            assert!(
                (h[i * 4 + j] - want).abs() < 1e-12,
                "logsumexp hessian ({i},{j})"
            );
        }
    }
}
