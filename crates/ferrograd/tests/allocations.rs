//! Generated derivatives allocate nothing per call: none at all without loops, and none in
//! steady state with loops (the tape comes from a per-thread pool and keeps its capacity).

#![expect(
    clippy::needless_range_loop,
    reason = "index loops are the construct under test"
)]

use ferrograd::differentiable;

#[differentiable]
fn straight(x: f64, y: f64) -> f64 {
    let mut a = x * y;
    a = a.sin() * a + y.exp();
    a / (1.0 + x * x)
}

#[differentiable]
fn looped(x: &[f64], k: f64) -> f64 {
    let mut s = 0.1;
    for i in 0..x.len() {
        s = s * k + (x[i] * s).tanh();
        if s > 10.0 {
            s = s.sqrt();
        }
    }
    s
}

#[test]
fn no_allocation_without_loops() {
    let (mut dx, mut dy) = (0.0, 0.0);
    let info = allocation_counter::measure(|| {
        for _ in 0..100 {
            straight_grad(0.3, 1.7, &mut dx, &mut dy);
            let _ = straight_pushforward(0.3, 1.7, 1.0, 0.0);
        }
    });
    assert_eq!(info.count_total, 0, "{info:?}");
    assert!(dx != 0.0);
    assert!(straight(0.3, 1.7).is_finite());
}

#[test]
fn no_allocation_in_steady_state_with_loops() {
    let x: Vec<f64> = (0..500).map(|i| (i as f64) * 0.001).collect();
    let mut dx = vec![0.0; 500];
    let mut dk = 0.0;
    looped_grad(&x, 0.9, &mut dx, &mut dk); // warm-up: the pooled tape grows once
    let info = allocation_counter::measure(|| {
        for _ in 0..100 {
            looped_grad(&x, 0.9, &mut dx, &mut dk);
        }
    });
    assert_eq!(info.count_total, 0, "{info:?}");
    assert!(dk.is_finite() && dk != 0.0);
    assert!(looped(&x, 0.9).is_finite());
}
