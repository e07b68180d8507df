//! A `hessian` function calling other differentiable functions: another `hessian` function
//! (its generic primal and pullback run on dual numbers) and a function generic over
//! `T: Real`. Checked against forward-over-forward dual numbers on hand-written primal code
//! (no generated code involved) and against finite differences of the generated gradient.

#![expect(
    clippy::needless_range_loop,
    reason = "the functions are written the way users write them"
)]

use ferrograd::{differentiable, Dual, Real};
use ferrograd_testkit::assert_close;
use ferrograd_testkit::fd::central_jacobian;

#[differentiable(hessian)]
fn inner(a: f64, b: f64) -> f64 {
    let mut s = a * a * b + b.sin();
    if a > 0.5 {
        s += (a * b).exp();
    }
    s
}

#[differentiable]
fn cube<T: Real>(x: T) -> T {
    x * x * x
}

#[differentiable(hessian)]
fn outer(x: &[f64], c: f64) -> f64 {
    let mut s = 0.0;
    for i in 0..x.len() {
        s += inner(x[i], c);
    }
    s + cube(c * x[0]) + inner(s * 0.1, x[1])
}

/// The same math, by hand, over any scalar (the oracle's primal code).
fn inner_ref<T: Real>(a: T, b: T) -> T {
    let mut s = a * a * b + b.sin();
    if a > T::from_f64(0.5) {
        s += (a * b).exp();
    }
    s
}

fn outer_ref<T: Real>(x: &[T], c: T) -> T {
    let mut s = T::zero();
    for &xi in x {
        s += inner_ref(xi, c);
    }
    s + (c * x[0]) * (c * x[0]) * (c * x[0]) + inner_ref(s * T::from_f64(0.1), x[1])
}

/// ∂²f/∂z_i∂z_j with z = (x…, c), from second-order dual numbers.
fn oracle_hessian(x: &[f64], c: f64) -> Vec<f64> {
    let n = x.len() + 1;
    let mut h = vec![0.0; n * n];
    for i in 0..n {
        for j in 0..n {
            let seed = |k: usize, v: f64| {
                Dual::new(
                    Dual::new(v, if k == j { 1.0 } else { 0.0 }),
                    Dual::new(if k == i { 1.0 } else { 0.0 }, 0.0),
                )
            };
            let xd: Vec<_> = x.iter().enumerate().map(|(k, &v)| seed(k, v)).collect();
            let y = outer_ref(&xd, seed(n - 1, c));
            h[i * n + j] = y.t.t;
        }
    }
    h
}

#[test]
fn hessian_through_calls_of_hessian_and_generic_functions() {
    for (x, c) in [
        (vec![0.3, 0.9, -0.4], 0.7),
        (vec![1.2, -0.6, 0.8, 0.1], -0.35),
    ] {
        let n = x.len() + 1;
        let mut h = vec![0.0; n * n];
        let v = outer_hessian(&x, c, &mut h).expect("n × n");
        assert_eq!(v, outer(&x, c));
        let want = oracle_hessian(&x, c);
        for k in 0..n * n {
            assert!(
                (h[k] - want[k]).abs() <= 1e-10 * want[k].abs().max(1.0),
                "h[{k}] = {}, oracle {}",
                h[k],
                want[k]
            );
        }
        // Sanity: central differences of the generated gradient.
        let grad = |x: &[f64], c: f64| {
            let (mut dx, mut dc) = (vec![0.0; x.len()], 0.0);
            outer_grad(x, c, &mut dx, &mut dc);
            dx.push(dc);
            dx
        };
        let mut xc = x.clone();
        xc.push(c);
        let cols = central_jacobian(&xc, 1e-6, |v| grad(&v[..n - 1], v[n - 1]));
        for (j, fd) in cols.iter().enumerate() {
            let column: Vec<f64> = (0..n).map(|i| h[i * n + j]).collect();
            assert_close(
                &format!("h[.., {j}] vs finite differences"),
                &column,
                fd,
                1e-5,
            );
        }
    }
}

#[test]
fn the_called_hessian_function_keeps_its_own_hessian() {
    let mut h = [0.0; 4];
    inner_hessian(0.8, 1.1, &mut h).expect("2 × 2");
    let want = {
        let f = |i: usize, j: usize| {
            let s = |k: usize, v: f64| {
                Dual::new(
                    Dual::new(v, if k == j { 1.0 } else { 0.0 }),
                    Dual::new(if k == i { 1.0 } else { 0.0 }, 0.0),
                )
            };
            inner_ref(s(0, 0.8), s(1, 1.1)).t.t
        };
        [f(0, 0), f(0, 1), f(1, 0), f(1, 1)]
    };
    for k in 0..4 {
        assert!((h[k] - want[k]).abs() <= 1e-12 * want[k].abs().max(1.0));
    }
}
