//! Functions returning tuples: one seed per element in reverse mode, tuples of values and
//! tangents in forward mode, one Jacobian row per element, and `let (a, b) = g(..)` inside
//! differentiable callers, against hand-derived derivatives (1e-12 relative).

use ferrograd::{differentiable, Real};

fn assert_close(got: f64, want: f64, what: &str) {
    assert!(
        (got - want).abs() <= 1e-12 * (1.0 + got.abs().max(want.abs())),
        "{what}: got {got}, want {want}"
    );
}

#[differentiable]
fn polar(x: f64, y: f64) -> (f64, f64) {
    let r = (x * x + y * y).sqrt();
    if r > 10.0 {
        return (r, 0.0);
    }
    (r, y.atan2(x))
}

#[test]
fn pullback_takes_one_seed_per_element() {
    let (x, y) = (1.2, -0.7);
    let r = (x * x + y * y).sqrt();
    assert_eq!(polar(x, y), (r, f64::atan2(y, x)));
    let (mut dx, mut dy) = (0.0, 0.0);
    polar_pullback(x, y, 1.0, 0.0, &mut dx, &mut dy);
    assert_close(dx, x / r, "dr/dx");
    assert_close(dy, y / r, "dr/dy");
    let (mut dx, mut dy) = (0.0, 0.0);
    polar_pullback(x, y, 0.0, 2.0, &mut dx, &mut dy);
    assert_close(dx, 2.0 * -y / (r * r), "2 dphi/dx");
    assert_close(dy, 2.0 * x / (r * r), "2 dphi/dy");

    // The early return.
    let (mut dx, mut dy) = (0.0, 0.0);
    polar_pullback(30.0, 40.0, 1.0, 1.0, &mut dx, &mut dy);
    assert_close(dx, 30.0 / 50.0, "early return dr/dx");
    assert_close(dy, 40.0 / 50.0, "early return dr/dy");
}

#[test]
fn pushforward_and_jacobian() {
    let (x, y) = (0.4, 0.9);
    let r2 = x * x + y * y;
    let r = r2.sqrt();
    let ((vr, vphi), (tr, tphi)) = polar_pushforward(x, y, 1.0, 0.0);
    assert_eq!((vr, vphi), polar(x, y));
    assert_close(tr, x / r, "tangent of r along x");
    assert_close(tphi, -y / r2, "tangent of phi along x");
    let mut jac = [0.0; 4];
    polar_jacobian(x, y, &mut jac).expect("2x2");
    let want = [x / r, y / r, -y / r2, x / r2];
    for (g, w) in jac.iter().zip(want) {
        assert_close(*g, w, "jacobian");
    }
}

#[differentiable]
fn uses_polar(x: f64, y: f64) -> f64 {
    let (r, phi) = polar(x, y);
    r * phi.sin() + r
}

#[test]
fn destructuring_a_tuple_call_in_differentiable_code() {
    let (x, y) = (1.1, 0.3);
    // r·sin(φ) = y, so the function is y + r.
    let r = (x * x + y * y).sqrt();
    let (mut dx, mut dy) = (0.0, 0.0);
    let v = uses_polar_grad(x, y, &mut dx, &mut dy);
    assert_close(v, y + r, "value");
    assert_eq!(v, uses_polar(x, y));
    assert_close(dx, x / r, "d/dx");
    assert_close(dy, 1.0 + y / r, "d/dy");
    let (fv, ft) = uses_polar_pushforward(x, y, 0.0, 1.0);
    assert_eq!(fv, v);
    assert_close(ft, 1.0 + y / r, "tangent along y");
}

#[differentiable]
fn moments(xs: &[f64]) -> (f64, f64) {
    let mut s = 0.0;
    let mut s2 = 0.0;
    for &v in xs.iter() {
        s += v;
        s2 += v * v;
    }
    (s, s2)
}

#[test]
fn slices_in_tuple_functions() {
    let xs = [0.5, -1.0, 2.0];
    assert_eq!(moments(&xs), (1.5, 5.25));
    let mut d = [0.0; 3];
    moments_pullback(&xs, 1.0, 0.5, &mut d);
    for (g, v) in d.iter().zip(xs) {
        assert_close(*g, 1.0 + v, "d(s + s2/2)/dx");
    }
}

#[differentiable]
fn sin_cos<T: Real>(x: T) -> (T, T) {
    (x.sin(), x.cos())
}

#[test]
fn generic_tuple_functions() {
    assert_eq!(sin_cos(0.3f64), (0.3f64.sin(), 0.3f64.cos()));
    let mut d = 0.0f64;
    sin_cos_pullback(0.3f64, 1.0, 1.0, &mut d);
    assert_close(d, 0.3f64.cos() - 0.3f64.sin(), "f64");
    let mut d32 = 0.0f32;
    sin_cos_pullback(0.3f32, 0.0, 1.0, &mut d32);
    assert!((d32 + 0.3f32.sin()).abs() < 1e-6);
}

#[differentiable]
fn sin_plus_cos<T: Real>(x: T) -> T {
    let (s, c) = sin_cos(x);
    s + c
}

#[test]
fn generic_callers_destructure_tuple_results() {
    let mut d = 0.0f64;
    let v = sin_plus_cos_grad(0.7f64, &mut d);
    assert_eq!(v, sin_plus_cos(0.7f64));
    assert_close(v, 0.7f64.sin() + 0.7f64.cos(), "value");
    assert_close(d, 0.7f64.cos() - 0.7f64.sin(), "derivative");
}
