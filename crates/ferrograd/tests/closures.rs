//! Closures defined and called inside differentiable code, inlined at their calls (issue 13,
//! item 4): captures of active variables, closures calling closures, shadowing after the
//! definition, loops in closure bodies, closures that write captured arrays.

#![expect(
    clippy::needless_range_loop,
    reason = "the constructs under test are written the way users write them"
)]

mod common;
use common::{assert_close, fd_grad};
use ferrograd::differentiable;

#[differentiable]
fn captures(x: f64, y: f64) -> f64 {
    let scale = |a: f64| a * y;
    let sq = |a| scale(a) * a;
    let y = 10.0; // shadows after the definitions: the closures keep the parameter `y`
    let mut s = 0.0;
    for i in 0..3 {
        s += sq(x + i as f64) + scale(y);
    }
    s
}

#[differentiable]
fn closure_with_loop(x: f64, w: &[f64]) -> f64 {
    let poly = |t: f64| {
        let mut p = 0.0;
        for k in 0..w.len() {
            p = p * t + w[k];
        }
        p
    };
    poly(x) * poly(x * x)
}

#[differentiable]
fn closure_writes_capture(x: f64, y: f64) -> f64 {
    let mut acc = [0.0; 3];
    let mut push = |k: usize, v: f64| {
        acc[k] += v * y;
    };
    push(0, x);
    push(1, x * x);
    push(0, y);
    acc[0] * acc[1] + acc[2]
}

#[test]
fn closures_are_inlined_with_their_captures() {
    for p in [[0.7, -1.3], [1.2, 0.4]] {
        let (mut dx, mut dy) = (0.0, 0.0);
        let v = captures_grad(p[0], p[1], &mut dx, &mut dy);
        assert_eq!(v, captures(p[0], p[1]));
        let fd = fd_grad(&p, |q| captures(q[0], q[1]));
        assert_close("captures reverse vs fd", &[dx, dy], &fd, 1e-6);
        let (_, tx) = captures_pushforward(p[0], p[1], 1.0, 0.0);
        assert!((tx - dx).abs() <= 1e-12 * dx.abs().max(1.0));

        let (mut dx, mut dy) = (0.0, 0.0);
        let v = closure_writes_capture_grad(p[0], p[1], &mut dx, &mut dy);
        assert_eq!(v, closure_writes_capture(p[0], p[1]));
        let fd = fd_grad(&p, |q| closure_writes_capture(q[0], q[1]));
        assert_close("closure_writes_capture reverse vs fd", &[dx, dy], &fd, 1e-6);
        let (_, ty) = closure_writes_capture_pushforward(p[0], p[1], 0.0, 1.0);
        assert!((ty - dy).abs() <= 1e-12 * dy.abs().max(1.0));
    }
    let w = [0.5, -1.0, 2.0];
    let x = 0.8;
    let (mut dx, mut dw) = (0.0, [0.0; 3]);
    let v = closure_with_loop_grad(x, &w, &mut dx, &mut dw);
    assert_eq!(v, closure_with_loop(x, &w));
    let mut all = vec![x];
    all.extend_from_slice(&w);
    let fd = fd_grad(&all, |q| closure_with_loop(q[0], &q[1..]));
    let mut got = vec![dx];
    got.extend_from_slice(&dw);
    assert_close("closure_with_loop reverse vs fd", &got, &fd, 1e-6);
    for i in 0..3 {
        let mut tw = [0.0; 3];
        tw[i] = 1.0;
        let (_, d) = closure_with_loop_pushforward(x, &w, 0.0, &tw);
        assert!((d - dw[i]).abs() <= 1e-12 * dw[i].abs().max(1.0));
    }
}
