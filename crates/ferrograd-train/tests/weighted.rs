//! The event-weighted softmax cross-entropy: its pullback against central finite differences
//! (in f64 of the f32 kernel, along random directions), equality with the unweighted loss at
//! unit weights, and the weighted MLP's gradient through the arena.

mod common;

use common::Rng;
use ferrograd::kernels::{softmax_cross_entropy, softmax_cross_entropy_pullback};
use ferrograd_train::weighted::{
    weighted_softmax_cross_entropy, weighted_softmax_cross_entropy_pullback,
};
use ferrograd_train::{Dataset, ModelSpec, Network};

const B: usize = 7;
const C: usize = 4;

fn loss(logits: &[f32], labels: &[usize], w: &[f32]) -> f64 {
    let mut p = vec![0.0; B * C];
    f64::from(weighted_softmax_cross_entropy(&mut p, logits, labels, w, B, C).unwrap())
}

#[test]
fn pullback_matches_finite_differences() {
    let mut rng = Rng::new(7);
    let logits = common::uniform_vec(&mut rng, B * C, -2.0, 2.0);
    let w = common::uniform_vec(&mut rng, B, 0.0, 3.0);
    let labels: Vec<usize> = (0..B).map(|i| (i * 3 + 1) % C).collect();
    let mut p = vec![0.0; B * C];
    weighted_softmax_cross_entropy(&mut p, &logits, &labels, &w, B, C).unwrap();
    let d_ret = 1.7f32;
    let (mut d_logits, mut d_w) = (vec![0.0f32; B * C], vec![0.0f32; B]);
    weighted_softmax_cross_entropy_pullback(
        &mut p,
        &logits,
        &labels,
        &w,
        B,
        C,
        d_ret,
        &mut [],
        &mut d_logits,
        &mut d_w,
    )
    .unwrap();
    let h = 1e-2f32;
    let mut worst = 0.0f64;
    for trial in 0..6 {
        let (dl, dw) = if trial % 2 == 0 {
            (
                common::uniform_vec(&mut rng, B * C, -1.0, 1.0),
                vec![0.0; B],
            )
        } else {
            (
                vec![0.0; B * C],
                common::uniform_vec(&mut rng, B, -1.0, 1.0),
            )
        };
        let shift = |s: f32| {
            let l: Vec<f32> = logits.iter().zip(&dl).map(|(a, d)| a + s * d).collect();
            let ww: Vec<f32> = w.iter().zip(&dw).map(|(a, d)| a + s * d).collect();
            loss(&l, &labels, &ww)
        };
        let fd = f64::from(d_ret) * (shift(h) - shift(-h)) / (2.0 * f64::from(h));
        let an: f64 = dl
            .iter()
            .zip(&d_logits)
            .chain(dw.iter().zip(&d_w))
            .map(|(&d, &g)| f64::from(d) * f64::from(g))
            .sum();
        let err = (an - fd).abs() / an.abs().max(fd.abs()).max(1e-2);
        worst = worst.max(err);
        assert!(
            err < 2e-3,
            "analytic {an:.6e} vs finite difference {fd:.6e}"
        );
    }
    println!("weighted CE pullback: max relative error {worst:.2e}");
}

#[test]
fn unit_weights_give_the_unweighted_loss_and_gradient() {
    let mut rng = Rng::new(3);
    let logits = common::uniform_vec(&mut rng, B * C, -3.0, 3.0);
    let labels: Vec<usize> = (0..B).map(|i| i % C).collect();
    let ones = vec![1.0f32; B];
    let (mut p1, mut p2) = (vec![0.0; B * C], vec![0.0; B * C]);
    let a = weighted_softmax_cross_entropy(&mut p1, &logits, &labels, &ones, B, C).unwrap();
    let b = softmax_cross_entropy(&mut p2, &logits, &labels, B, C).unwrap();
    assert!((a - b).abs() < 1e-6, "{a} vs {b}");
    let (mut g1, mut g2) = (vec![0.0f32; B * C], vec![0.0f32; B * C]);
    weighted_softmax_cross_entropy_pullback(
        &mut p1,
        &logits,
        &labels,
        &ones,
        B,
        C,
        1.0,
        &mut [],
        &mut g1,
        &mut [],
    )
    .unwrap();
    softmax_cross_entropy_pullback(&mut p2, &logits, &labels, B, C, 1.0, &mut [], &mut g2).unwrap();
    for (x, y) in g1.iter().zip(&g2) {
        assert!((x - y).abs() < 1e-6, "{x} vs {y}");
    }
}

#[test]
fn bad_shapes_are_errors() {
    let logits = vec![0.0f32; B * C];
    let labels = vec![0usize; B];
    let mut p = vec![0.0; B * C];
    let e = weighted_softmax_cross_entropy(&mut p, &logits, &labels, &[1.0; 3], B, C);
    assert!(e
        .unwrap_err()
        .to_string()
        .contains("`weights` has length 3"));
    let bad = vec![C; B];
    let e = weighted_softmax_cross_entropy(&mut p, &logits, &bad, &[1.0; B], B, C);
    assert!(e.is_err());
}

/// The weighted MLP's parameter gradient through the arena against finite differences of
/// its weighted loss, and a zero weight removes an example from the loss.
#[test]
fn weighted_mlp_gradient_matches_finite_differences() {
    let spec = ModelSpec::Mlp {
        in_features: 5,
        hidden: 6,
        classes: 2,
    };
    let rows = 8;
    let mut net = Network::new(spec, rows, 11).unwrap();
    let mut rng = Rng::new(5);
    let x = common::uniform_vec(&mut rng, rows * 5, -1.0, 1.0);
    let labels: Vec<usize> = (0..rows).map(|i| i % 2).collect();
    let mut w = common::uniform_vec(&mut rng, rows, 0.2, 2.0);
    w[3] = 0.0;
    net.loss_and_grad_weighted(&x, &labels, &w).unwrap();
    let g = net.grads().to_vec();
    let p0 = net.params().to_vec();
    let h = 1e-2f32;
    let mut worst = 0.0f64;
    for _ in 0..6 {
        let d = common::uniform_vec(&mut rng, p0.len(), -1.0, 1.0);
        let at = |net: &mut Network, s: f32| {
            let p: Vec<f32> = p0.iter().zip(&d).map(|(a, b)| a + s * b).collect();
            net.params_mut().copy_from_slice(&p);
            f64::from(net.forward_weighted(&x, &labels, &w).unwrap())
        };
        let fd = (at(&mut net, h) - at(&mut net, -h)) / (2.0 * f64::from(h));
        let an: f64 = d.iter().zip(&g).map(|(&a, &b)| f64::from(a * b)).sum();
        let err = (an - fd).abs() / an.abs().max(fd.abs()).max(1e-2);
        worst = worst.max(err);
        // A ReLU kink crossed by ±h would show as a large error; these inputs keep clear of
        // them at this step, so the tolerance is that of f32 finite differences.
        assert!(
            err < 2e-2,
            "analytic {an:.6e} vs finite difference {fd:.6e}"
        );
    }
    println!("weighted MLP gradient: max relative error {worst:.2e}");
    // Example 3 has weight 0: changing its label does not change the loss.
    net.params_mut().copy_from_slice(&p0);
    let l0 = net.forward_weighted(&x, &labels, &w).unwrap();
    let mut flipped = labels.clone();
    flipped[3] = 1 - flipped[3];
    let l1 = net.forward_weighted(&x, &flipped, &w).unwrap();
    assert_eq!(l0, l1);
    // Weighted data sets reject non-finite weights and wrong lengths.
    let y: Vec<u8> = labels.iter().map(|&l| l as u8).collect();
    let ds = Dataset::new(&x, &y, 5).unwrap();
    assert!(ds.with_weights(&w[..3]).is_err());
    let mut nan = w.clone();
    nan[0] = f32::NAN;
    assert!(ds.with_weights(&nan).is_err());
    assert_eq!(ds.with_weights(&w).unwrap().take(4).w.unwrap().len(), 4);
}

/// Weights steer training: with class 0 weighted 0.01 and class 1 weighted 1, the trained
/// model calls far more examples class 1 than the unweighted one does, on the same data,
/// seed and schedule.
#[test]
fn weights_steer_the_trained_classifier() {
    use ferrograd_train::{evaluate, OptimizerConfig, TrainConfig, Trainer};
    let spec = ModelSpec::Mlp {
        in_features: 8,
        hidden: 16,
        classes: 2,
    };
    let n = 1000;
    let (x, y) = common::synthetic(n, 8, 2, 21);
    let w: Vec<f32> = y.iter().map(|&l| if l == 1 { 1.0 } else { 0.01 }).collect();
    let plain = Dataset::new(&x, &y, 8).unwrap();
    let called_one = |data: &Dataset<'_>| {
        let cfg = TrainConfig::new(5, 32, 3, OptimizerConfig::adam(1e-2));
        let mut t = Trainer::new(spec, cfg, n).unwrap();
        t.fit(data, None, &mut |_| {}).unwrap();
        let net = t.network_mut();
        let report = evaluate(net, &plain, 0.01).unwrap();
        let labels: Vec<usize> = y.iter().map(|&l| usize::from(l)).collect();
        let mut ones = 0;
        for (xc, lc) in x.chunks(32 * 8).zip(labels.chunks(32)) {
            net.forward(xc, lc).unwrap();
            ones += net.logits().chunks_exact(2).filter(|r| r[1] > r[0]).count();
        }
        (ones, report.accuracy)
    };
    let (ones_plain, acc_plain) = called_one(&plain);
    let (ones_weighted, acc_weighted) = called_one(&plain.with_weights(&w).unwrap());
    let truth = y.iter().filter(|&&l| l == 1).count();
    println!(
        "class 1: {truth} true, {ones_plain} called unweighted ({:.1}%), {ones_weighted} weighted ({:.1}%)",
        100.0 * acc_plain,
        100.0 * acc_weighted
    );
    assert!(acc_plain > 0.9, "unweighted accuracy {acc_plain}");
    assert!(
        ones_weighted > ones_plain + n / 20,
        "weighted {ones_weighted} vs unweighted {ones_plain} (true {truth})"
    );
}
