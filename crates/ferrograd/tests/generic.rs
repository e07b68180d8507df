//! Functions generic over the scalar type (`fn f<T: Real>`): the generated derivatives are
//! generic too, so one definition serves `f32`, `f64` and dual numbers (issue 13, item 3).

#![expect(
    clippy::needless_range_loop,
    reason = "directions are indexed the way the math is written"
)]

mod common;
use common::{assert_close, fd_grad};
use ferrograd::{differentiable, Dual, Real};

#[differentiable]
fn rosen<T: Real>(x: &[T]) -> T {
    let mut s = T::zero();
    for i in 0..x.len() - 1 {
        let a = x[i + 1] - x[i] * x[i];
        let b = T::one() - x[i];
        s += T::from_f64(100.0) * a * a + b * b;
    }
    s
}

#[differentiable]
fn mixed<T: Real>(x: T, y: T, k: usize) -> T {
    let v = [x, x * y, y.sin()];
    let mut s = T::from_f64(0.5) * x;
    for (i, &c) in v.iter().enumerate() {
        if c > T::zero() {
            s += c.exp() * T::from_f64(i as f64 + 1.0);
        } else {
            s -= (c * c + T::one()).ln();
        }
    }
    s * rosen(&v) / T::from_f64(k as f64 + 2.0)
}

#[test]
fn one_definition_for_f64_f32_and_dual_numbers() {
    let x = [0.7, -1.3, 0.4, 1.1];
    // f64: reverse against finite differences, forward against reverse.
    let mut g = vec![0.0; 4];
    let v = rosen_grad(&x, &mut g);
    assert_eq!(v, rosen(&x));
    assert_close("rosen f64 reverse vs fd", &g, &fd_grad(&x, rosen), 1e-6);
    for i in 0..4 {
        let mut t = [0.0; 4];
        t[i] = 1.0;
        let (_, d) = rosen_pushforward(&x, &t);
        assert!(
            (d - g[i]).abs() <= 1e-12 * g[i].abs().max(1.0),
            "{d} vs {}",
            g[i]
        );
    }
    // f32: the same generated code at the other precision.
    let xf: Vec<f32> = x.iter().map(|&v| v as f32).collect();
    let mut gf = vec![0.0f32; 4];
    rosen_grad(&xf, &mut gf);
    for (a, b) in gf.iter().zip(&g) {
        assert!(
            (f64::from(*a) - b).abs() <= 1e-4 * b.abs().max(1.0),
            "{a} vs {b}"
        );
    }
    // Dual numbers through the primal itself: an oracle that shares no code with the
    // source transformation, exact to rounding.
    for i in 0..4 {
        let xd: Vec<Dual<f64>> = x
            .iter()
            .enumerate()
            .map(|(j, &v)| Dual::new(v, if i == j { 1.0 } else { 0.0 }))
            .collect();
        let d = rosen(&xd).t;
        assert!(
            (d - g[i]).abs() <= 1e-12 * g[i].abs().max(1.0),
            "{d} vs {}",
            g[i]
        );
    }
    // Forward-over-reverse by hand: the pullback over dual numbers gives a Hessian column.
    let xd: Vec<Dual<f64>> = x
        .iter()
        .enumerate()
        .map(|(j, &v)| Dual::new(v, if j == 1 { 1.0 } else { 0.0 }))
        .collect();
    let mut hd = vec![Dual::<f64>::default(); 4];
    rosen_pullback(&xd, Dual::constant(1.0), &mut hd);
    // ∂²f/∂x1∂x0 = -400·x0, ∂²f/∂x1² = 200 + 1200·x1² - 400·x2 + 2
    assert!((hd[0].t - (-400.0 * x[0])).abs() < 1e-9, "{:?}", hd[0]);
    let want = 200.0 + 1200.0 * x[1] * x[1] - 400.0 * x[2] + 2.0;
    assert!((hd[1].t - want).abs() < 1e-9, "{} vs {want}", hd[1].t);
}

#[test]
fn generic_functions_compose() {
    for (x, y) in [(0.7, -1.3), (1.2, 0.4), (-0.5, 0.9)] {
        let (mut dx, mut dy) = (0.0, 0.0);
        let v = mixed_grad(x, y, 3, &mut dx, &mut dy);
        assert_eq!(v, mixed(x, y, 3));
        let fd = fd_grad(&[x, y], |p| mixed(p[0], p[1], 3));
        assert_close("mixed reverse vs fd", &[dx, dy], &fd, 1e-6);
        let (_, tx) = mixed_pushforward(x, y, 3, 1.0, 0.0);
        let dual = mixed(Dual::new(x, 1.0), Dual::constant(y), 3).t;
        assert!(
            (tx - dx).abs() <= 1e-12 * dx.abs().max(1.0)
                && (dual - dx).abs() <= 1e-12 * dx.abs().max(1.0)
        );
    }
}
