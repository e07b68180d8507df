//! Model gradients (through the arena) against central finite differences of the loss, on
//! tiny instances of both models: directional derivatives along random directions restricted
//! to each parameter tensor, plus single elements. f32 forward passes, so the tolerance is
//! stated relative to the derivative's scale.

mod common;

use common::Rng;
use ferrograd_train::models::gpt::MiniGpt;
use ferrograd_train::{Model, ModelSpec, Network};

/// The piecewise-linear state of the last pass: which activations are positive (ReLU
/// inputs among them) and which elements won each max-pool window. Finite differences are
/// only meaningful when it is the same at `p ± h·d` as at `p`.
fn pattern<M: Model>(net: &Network<M>) -> (Vec<bool>, Vec<usize>) {
    (
        net.activations().iter().map(|&v| v > 0.0).collect(),
        net.pool_argmax().to_vec(),
    )
}

/// Checks `net`'s gradient at its current parameters on the batch `(x, labels)` along random
/// directions in each parameter tensor (and its first and last element); directions whose
/// finite difference crosses a ReLU kink or a max-pool switch are skipped (at most half may
/// be). Returns the worst relative error.
fn check<M: Model>(net: &mut Network<M>, x: &[f32], labels: &[usize], h: f32, tol: f64) -> f64 {
    check_with(net, x, labels, h, tol, true)
}

/// [`check`]; `kinks == false` for a smooth model (no ReLU or max-pool: every direction is
/// checked, since sign changes of activations mean nothing there).
fn check_with<M: Model>(
    net: &mut Network<M>,
    x: &[f32],
    labels: &[usize],
    h: f32,
    tol: f64,
    kinks: bool,
) -> f64 {
    let loss = net.loss_and_grad(x, labels).unwrap();
    assert!(loss.is_finite());
    let base = pattern(net);
    let grads = net.grads().to_vec();
    let p0 = net.params().to_vec();
    let infos = net.param_infos().to_vec();
    let mut rng = Rng::new(99);
    let (mut worst, mut checked, mut skipped) = (0.0f64, 0, 0);
    let f = |net: &mut Network<M>, p: &[f32]| -> (f64, bool) {
        net.params_mut().copy_from_slice(p);
        let l = f64::from(net.forward(x, labels).unwrap());
        (l, !kinks || pattern(net) == base)
    };
    let mut off = 0;
    for info in &infos {
        let n = info.len();
        let mut dirs: Vec<Vec<f32>> = (0..3)
            .map(|_| common::uniform_vec(&mut rng, n, -1.0, 1.0))
            .collect();
        for e in [0, n - 1] {
            let mut d = vec![0.0; n];
            d[e] = 1.0;
            dirs.push(d);
        }
        for d in dirs {
            let norm = d.iter().map(|v| v * v).sum::<f32>().sqrt();
            let (mut plus, mut minus) = (p0.clone(), p0.clone());
            for (i, &v) in d.iter().enumerate() {
                plus[off + i] += h * v / norm;
                minus[off + i] -= h * v / norm;
            }
            let ((lp, same_p), (lm, same_m)) = (f(net, &plus), f(net, &minus));
            if !(same_p && same_m) {
                skipped += 1;
                continue;
            }
            checked += 1;
            let fd = (lp - lm) / (2.0 * f64::from(h));
            let an: f64 = d
                .iter()
                .zip(&grads[off..off + n])
                .map(|(&v, &g)| f64::from(v / norm) * f64::from(g))
                .sum();
            // f32 losses: the finite difference resolves ~1e-5, so compare relative to at
            // least 1e-2.
            let scale = an.abs().max(fd.abs()).max(1e-2);
            let err = (an - fd).abs() / scale;
            worst = worst.max(err);
            if std::env::var_os("FG_VERBOSE").is_some() {
                println!("{}: an {an:.6e} fd {fd:.6e} err {err:.2e}", info.name);
            }
            assert!(
                err < tol,
                "{}: analytic {an:.6e} vs finite difference {fd:.6e} (rel. error {err:.2e})",
                info.name
            );
        }
        off += n;
    }
    assert!(
        checked >= skipped,
        "only {checked} of {} directions were kink-free",
        checked + skipped
    );
    println!("{checked} directions checked, {skipped} skipped (kink crossed)");
    net.params_mut().copy_from_slice(&p0);
    worst
}

#[test]
fn mlp_gradient_matches_finite_differences() {
    let spec = ModelSpec::Mlp {
        in_features: 7,
        hidden: 5,
        classes: 3,
    };
    let mut net = Network::new(spec, 4, 11).unwrap();
    let mut rng = Rng::new(1);
    let x = common::uniform_vec(&mut rng, 4 * 7, -2.0, 2.0);
    let labels = [0usize, 2, 1, 2];
    let worst = check(&mut net, &x, &labels, 1e-2, 2e-3);
    println!("MLP: worst relative error {worst:.2e}");
    // A smaller batch than the arena holds uses a prefix of every buffer.
    let worst = check(&mut net, &x[..2 * 7], &labels[..2], 1e-2, 2e-3);
    println!("MLP, batch 2 of 4: worst relative error {worst:.2e}");
}

#[test]
fn cnn_gradient_matches_finite_differences() {
    // The shortest input is ~219 samples; 256 gives 241 → 60 → 53 → 13 → 6 → 1 (flat 64).
    let spec = ModelSpec::GwCnn {
        len: 256,
        classes: 2,
    };
    let mut net = Network::new(spec, 2, 5).unwrap();
    let mut rng = Rng::new(2);
    let x = common::uniform_vec(&mut rng, 2 * 256, -2.0, 2.0);
    let labels = [1usize, 0];
    let worst = check(&mut net, &x, &labels, 2e-3, 5e-3);
    println!("CNN: worst relative error {worst:.2e}");
}

/// The GPT (W4's model, tiny): embeddings, two pre-LN blocks with causal attention and a GELU
/// MLP (stacked layers: the loss loops over layers with sub-slices of each buffer), the tied
/// output projection. Smooth, so every direction counts. The GPT-2 initialisation (std 0.02)
/// makes the loss almost flat; the parameters are spread to a larger scale first, so that the
/// attention is far from uniform and every path carries a derivative the check can see.
#[test]
fn gpt_gradient_matches_finite_differences() {
    let model = MiniGpt {
        vocab: 11,
        seq: 6,
        dim: 8,
        heads: 2,
        layers: 2,
    };
    let mut net = Network::new(model, 3, 4).unwrap();
    let mut rng = Rng::new(5);
    let spread = common::uniform_vec(&mut rng, net.params().len(), -0.5, 0.5);
    for (p, s) in net.params_mut().iter_mut().zip(spread) {
        *p += s;
    }
    let ids: Vec<usize> = (0..3 * 7).map(|i| (i * 7 + i / 3) % 11).collect();
    let x: Vec<f32> = (0..3)
        .flat_map(|b| ids[b * 7..b * 7 + 6].iter().map(|&t| t as f32))
        .collect();
    let labels: Vec<usize> = (0..3)
        .flat_map(|b| ids[b * 7 + 1..b * 7 + 7].to_vec())
        .collect();
    let worst = check_with(&mut net, &x, &labels, 1e-2, 5e-3, false);
    println!("GPT: worst relative error {worst:.2e}");
    // Two of three sequences: a prefix of every buffer, including the stacked ones.
    let worst = check_with(&mut net, &x[..2 * 6], &labels[..2 * 6], 1e-2, 5e-3, false);
    println!("GPT, batch 2 of 3: worst relative error {worst:.2e}");
    // Token ids that are not whole numbers in 0..vocab are an error, not a panic.
    let mut bad = x.clone();
    bad[4] = 11.0;
    assert!(net.loss_and_grad(&bad, &labels).is_err());
    bad[4] = 2.5;
    assert!(net.forward(&bad, &labels).is_err());
    assert!(net.loss_and_grad(&x, &labels[..17]).is_err());
}

#[test]
fn gradient_is_zeroed_between_calls_and_arena_errors_are_reported() {
    let mut net = Network::new(ModelSpec::W1A, 8, 0).unwrap();
    let mut rng = Rng::new(3);
    let x = common::uniform_vec(&mut rng, 8 * 784, -1.0, 1.0);
    let labels = [0usize, 1, 2, 3, 4, 5, 6, 7];
    net.loss_and_grad(&x, &labels).unwrap();
    let g1 = net.grads().to_vec();
    net.loss_and_grad(&x, &labels).unwrap();
    assert_eq!(
        g1,
        net.grads(),
        "gradients must be recomputed, not accumulated"
    );
    // wrong sizes and labels: errors, not panics
    assert!(net.loss_and_grad(&x[..10], &labels).is_err());
    assert!(net.loss_and_grad(&x, &[0; 9]).is_err());
    assert!(net.loss_and_grad(&x[..0], &[]).is_err());
    let bad = [0usize, 1, 2, 3, 4, 5, 6, 10];
    assert!(net.loss_and_grad(&x, &bad).is_err());
    // after a failed call the next one is still right
    net.loss_and_grad(&x, &labels).unwrap();
    assert_eq!(g1, net.grads());
}
