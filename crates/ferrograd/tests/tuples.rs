//! Local tuples by scalar replacement (issue 13, item 5): tuple locals, destructuring, element
//! reads and writes, swaps, tuples of arrays' elements inside loops.

mod common;
use common::{assert_close, fd_grad};
use ferrograd::differentiable;

#[differentiable]
fn tuples(x: f64, y: f64) -> f64 {
    let (a, b) = (x * x, y);
    let mut t = (a + b, a * b, 3);
    t.0 *= y;
    let u = t;
    t = (t.1, t.0, t.2 + 1);
    let (p, _, k) = t;
    let mut s = 0.0;
    for i in 0..k {
        let (c, d) = (p * i as f64, u.1.sin());
        s += c * d;
    }
    s + u.0 - t.1
}

#[test]
fn tuples_are_exact() {
    for p in [[0.7, -1.3], [1.2, 0.4]] {
        let (mut dx, mut dy) = (0.0, 0.0);
        let v = tuples_grad(p[0], p[1], &mut dx, &mut dy);
        assert_eq!(v, tuples(p[0], p[1]));
        let fd = fd_grad(&p, |q| tuples(q[0], q[1]));
        assert_close("tuples reverse vs fd", &[dx, dy], &fd, 1e-6);
        let (_, tx) = tuples_pushforward(p[0], p[1], 1.0, 0.0);
        let (_, ty) = tuples_pushforward(p[0], p[1], 0.0, 1.0);
        assert!((tx - dx).abs() <= 1e-12 * dx.abs().max(1.0), "{tx} vs {dx}");
        assert!((ty - dy).abs() <= 1e-12 * dy.abs().max(1.0), "{ty} vs {dy}");
    }
}
