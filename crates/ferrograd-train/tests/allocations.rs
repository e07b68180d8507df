//! A steady-state training step — batch gather, forward, backward, optimizer update — performs
//! zero heap allocations, for both models and both optimizers. Counted with
//! `allocation-counter` (a counting global allocator; it counts the calling thread, which with
//! one kernel thread is all the work. The kernels' own `tests/alloc.rs` covers two threads).

mod common;

use ferrograd_train::{Dataset, ModelSpec, OptimizerConfig, TrainConfig, Trainer};

fn steady_state_allocations(spec: ModelSpec, opt: OptimizerConfig, batch: usize, n: usize) {
    ferrograd::kernels::set_num_threads(1);
    let (x, y) = common::synthetic(n, spec.input_len(), spec.classes(), 4);
    let data = Dataset::new(&x, &y, spec.input_len()).unwrap();
    let cfg = TrainConfig::new(1000, batch, 1, opt);
    let mut t = Trainer::new(spec, cfg, n).unwrap();
    // Warm-up: the first steps may grow per-thread scratch (conv1d's im2col buffer).
    for _ in 0..3 {
        t.train_step(&data).unwrap();
    }
    let mut steps = 0;
    let info = allocation_counter::measure(|| {
        // Several epochs' worth, including the epoch boundaries (reshuffles) and a short
        // last batch.
        for _ in 0..(3 * n).div_ceil(batch) + 3 {
            if t.train_step(&data).unwrap().is_some() {
                steps += 1;
            }
        }
    });
    assert!(steps > 0);
    assert_eq!(
        info.count_total,
        0,
        "{} with {}: {} allocations ({} bytes) in {steps} steps",
        spec.tag(),
        opt.kind(),
        info.count_total,
        info.bytes_total
    );
}

#[test]
fn mlp_sgd_step_does_not_allocate() {
    steady_state_allocations(ModelSpec::W1A, OptimizerConfig::sgd(0.01, 0.9), 64, 200);
}

#[test]
fn mlp_adam_step_does_not_allocate() {
    let spec = ModelSpec::Mlp {
        in_features: 784,
        hidden: 512,
        classes: 10,
    };
    steady_state_allocations(spec, OptimizerConfig::adam(1e-3), 32, 70);
}

#[test]
fn cnn_step_does_not_allocate() {
    let spec = ModelSpec::GwCnn {
        len: 512,
        classes: 2,
    };
    steady_state_allocations(spec, OptimizerConfig::sgd(0.01, 0.9), 8, 20);
}

#[test]
fn evaluation_forward_does_not_allocate() {
    let spec = ModelSpec::W1A;
    let mut net = ferrograd_train::Network::new(spec, 16, 0).unwrap();
    let (x, y) = common::synthetic(16, 784, 10, 1);
    let labels: Vec<usize> = y.iter().map(|&v| usize::from(v)).collect();
    net.forward(&x, &labels).unwrap();
    let info = allocation_counter::measure(|| {
        for _ in 0..5 {
            net.forward(&x, &labels).unwrap();
        }
    });
    assert_eq!(info.count_total, 0, "{info:?}");
}

#[test]
fn mlp_weighted_step_does_not_allocate() {
    ferrograd::kernels::set_num_threads(1);
    let (spec, batch, n) = (ModelSpec::W1A, 64, 200);
    let (x, y) = common::synthetic(n, spec.input_len(), spec.classes(), 4);
    let w: Vec<f32> = (0..n).map(|i| 0.5 + (i % 3) as f32 * 0.5).collect();
    let data = Dataset::new(&x, &y, spec.input_len())
        .unwrap()
        .with_weights(&w)
        .unwrap();
    let cfg = TrainConfig::new(1000, batch, 1, OptimizerConfig::adam(1e-3));
    let mut t = Trainer::new(spec, cfg, n).unwrap();
    for _ in 0..3 {
        t.train_step(&data).unwrap();
    }
    let mut steps = 0;
    let info = allocation_counter::measure(|| {
        for _ in 0..(3 * n).div_ceil(batch) + 3 {
            if t.train_step(&data).unwrap().is_some() {
                steps += 1;
            }
        }
    });
    assert!(steps > 0);
    assert_eq!(
        info.count_total, 0,
        "weighted MLP: {info:?} in {steps} steps"
    );
}

/// W4's model (smaller): the GPT's step loops over its stacked layers, and its gradient tapes
/// only the run-time record decisions (no buffer: the layers' ranges are disjoint), on the
/// pooled tape; AdamW's update is fused. No allocation after the first steps.
#[test]
fn gpt_adamw_step_does_not_allocate() {
    use ferrograd_train::models::gpt::MiniGpt;
    use ferrograd_train::{Network, Optimizer};
    ferrograd::kernels::set_num_threads(1);
    let model = MiniGpt {
        vocab: 65,
        seq: 16,
        dim: 32,
        heads: 4,
        layers: 2,
    };
    let mut net = Network::new(model, 4, 0).unwrap();
    let mut opt = Optimizer::new(OptimizerConfig::adamw(1e-3, 0.1), net.params().len()).unwrap();
    let x: Vec<f32> = (0..4 * 16).map(|i| ((i * 7) % 65) as f32).collect();
    let labels: Vec<usize> = (0..4 * 16).map(|i| (i * 7 + 7) % 65).collect();
    let mut step = |net: &mut Network<MiniGpt>| {
        net.loss_and_grad(&x, &labels).unwrap();
        net.step(&mut opt).unwrap();
    };
    for _ in 0..3 {
        step(&mut net);
    }
    let info = allocation_counter::measure(|| {
        for _ in 0..5 {
            step(&mut net);
        }
    });
    assert_eq!(info.count_total, 0, "{info:?}");
}
