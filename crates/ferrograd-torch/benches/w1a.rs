//! W1a step time (DESIGN.md §7): MLP 784→128 ReLU→10, softmax cross-entropy (mean),
//! batch 64, f32, 2 threads; one step = zero_grad + forward + loss + backward + SGD
//! update (`tch::nn::Sgd`, lr 0.01). Median of 300 steps after 20 warm-up steps, all
//! engines in this process, same initialisation and data (synthetic: step time does not
//! depend on the values).
//!
//! `cargo bench -p ferrograd-torch --bench w1a [-- TORCH_THREADS KERNEL_THREADS [NODE_TORCH]]`
//! (after `source scripts/env.sh`; both thread counts default to 2).
//!
//! Threads: (a), (b) and (c) run LibTorch on TORCH_THREADS; in (c) the node's kernels run
//! on those same LibTorch threads (`ferrograd_torch::parallel_for` as the kernels' parallel
//! backend: one team of workers, and each thread updates in the optimizer the gradient rows it
//! computed). (c') and the reference instead run the kernels on KERNEL_THREADS in a rayon pool
//! with its workers kept spinning (`keep_warm`), and LibTorch's own work in (c') on NODE_TORCH
//! threads (default 1 when KERNEL_THREADS > 1: with 2 + 2 spinning threads on 2 cores, (c')
//! measured 0.353 ms instead of 0.219).
//!
//! (a) native tch autograd; (b) tensor-level generated backward (one node whose backward
//! ferrograd generated from LibTorch-op code); (c) one slice-level node: `slice_node` +
//! pullback (recomputes the forward in backward) and `value_and_grad_node` (value and
//! gradients in one sweep); plus, for reference, the same kernels without LibTorch
//! (`mlp_loss_grad` + a plain SGD loop).

#[path = "../examples/w1a/mod.rs"]
mod w1a;

use std::hint::black_box;
use std::time::Instant;

use ferrograd_torch::Error;
use tch::nn::{self, OptimizerConfig, VarStore};
use tch::{Device, Kind, Tensor};
use w1a::{Activations, Mlp, NodeKind, BATCH, CLASSES, D_HIDDEN, D_IN};

const WARMUP: usize = 20;
const STEPS: usize = 300;
const THREADS: usize = 2;
const LR: f64 = 0.01;

fn median_ms(mut step: impl FnMut() -> Result<(), Error>) -> Result<f64, Error> {
    for _ in 0..WARMUP {
        step()?;
    }
    let mut t = Vec::with_capacity(STEPS);
    for _ in 0..STEPS {
        let start = Instant::now();
        step()?;
        t.push(start.elapsed().as_secs_f64() * 1e3);
    }
    t.sort_by(f64::total_cmp);
    Ok(t[STEPS / 2])
}

struct Setup {
    /// Owns the variables the model and optimizer use.
    _vs: VarStore,
    model: Mlp,
    opt: nn::Optimizer,
}

impl Setup {
    /// One training step: zero_grad, `loss(model)`, backward, optimizer step.
    fn step(&mut self, loss: impl FnOnce(&Mlp) -> Result<Tensor, Error>) -> Result<(), Error> {
        self.opt.zero_grad();
        let loss = loss(&self.model)?;
        ferrograd_torch::backward(&loss)?;
        self.opt.step();
        black_box(&loss);
        Ok(())
    }
}

fn setup(init: &VarStore) -> Result<Setup, Error> {
    let mut vs = VarStore::new(Device::Cpu);
    let model = Mlp::new(&vs.root(), D_IN, D_HIDDEN, CLASSES);
    vs.copy(init)?;
    let opt = nn::Sgd::default().build(&vs, LR)?;
    Ok(Setup {
        _vs: vs,
        model,
        opt,
    })
}

fn init_vectors(init: &VarStore) -> Result<Vec<Vec<f32>>, Error> {
    Ok(init
        .trainable_variables()
        .iter()
        .map(|t| Vec::<f32>::try_from(&t.detach().reshape([-1])))
        .collect::<Result<_, _>>()?)
}

/// (reference) The kernels alone: `mlp_loss_grad` on Rust buffers + `p -= lr·g`.
fn kernels_only(mut params: Vec<Vec<f32>>, x: &[f32], labels: &[usize]) -> Result<f64, Error> {
    // VarStore order is by name: fc1.bias, fc1.weight, fc2.bias, fc2.weight (any order
    // works for timing, lengths are what matter).
    params.sort_by_key(|p| std::cmp::Reverse(p.len()));
    let mut grads: Vec<Vec<f32>> = params.iter().map(|p| vec![0.0; p.len()]).collect();
    let by_len = |ps: &[Vec<f32>], n: usize| ps.iter().position(|p| p.len() == n);
    let (i_w1, i_b1, i_w2, i_b2) = (
        by_len(&params, D_HIDDEN * D_IN),
        by_len(&params, D_HIDDEN),
        by_len(&params, CLASSES * D_HIDDEN),
        by_len(&params, CLASSES),
    );
    let (Some(i_w1), Some(i_b1), Some(i_w2), Some(i_b2)) = (i_w1, i_b1, i_w2, i_b2) else {
        return Err(Error::msg("unexpected parameter shapes"));
    };
    let mut a = Activations::zeros(BATCH, D_HIDDEN, CLASSES);
    let mut da = Activations::zeros(BATCH, D_HIDDEN, CLASSES);
    median_ms(|| {
        for g in &mut grads {
            g.fill(0.0);
        }
        let [g_w1, g_b1, g_w2, g_b2] = grads
            .get_disjoint_mut([i_w1, i_b1, i_w2, i_b2])
            .map_err(|e| Error::msg(e.to_string()))?;
        let loss = w1a::mlp_loss_grad(
            &mut a.h_pre,
            &mut a.h,
            &mut a.logits,
            &mut a.probs,
            x,
            &params[i_w1],
            &params[i_b1],
            &params[i_w2],
            &params[i_b2],
            labels,
            BATCH,
            D_IN,
            D_HIDDEN,
            CLASSES,
            &mut da.h_pre,
            &mut da.h,
            &mut da.logits,
            &mut da.probs,
            g_w1,
            g_b1,
            g_w2,
            g_b2,
        )
        .map_err(|e| Error::msg(e.to_string()))?;
        black_box(loss);
        for (p, g) in params.iter_mut().zip(&grads) {
            for (pv, gv) in p.iter_mut().zip(g) {
                *pv -= LR as f32 * gv;
            }
        }
        Ok(())
    })
}

fn main() -> Result<(), Error> {
    let arg = |i: usize| {
        std::env::args()
            .nth(i)
            .and_then(|a| a.parse::<usize>().ok())
    };
    let torch_threads = arg(1).unwrap_or(THREADS).max(1);
    let kernel_threads = arg(2).unwrap_or(THREADS).max(1);
    tch::set_num_threads(torch_threads as i32);
    ferrograd_kernels::set_num_threads(kernel_threads);
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(kernel_threads)
        .build()
        .map_err(|e| Error::msg(e.to_string()))?;
    let node_torch_threads = arg(3).unwrap_or(if kernel_threads > 1 { 1 } else { torch_threads });
    tch::manual_seed(0);
    let init = VarStore::new(Device::Cpu);
    let _ = Mlp::new(&init.root(), D_IN, D_HIDDEN, CLASSES);
    let x = Tensor::randn([BATCH as i64, D_IN as i64], (Kind::Float, Device::Cpu));
    let labels: Vec<usize> = (0..BATCH).map(|i| (i * 7 + 3) % CLASSES).collect();
    let labels_t = Tensor::from_slice(&labels.iter().map(|&l| l as i64).collect::<Vec<_>>());

    // (a) native tch autograd
    let mut a = setup(&init)?;
    let native = median_ms(|| a.step(|m| Ok(w1a::native_loss(m, &x, &labels_t))))?;

    // (b) tensor-level generated backward: the same step as (a) with the loss computed by
    // `mlp_tensor_loss_autograd` (LibTorch forward, ferrograd-generated backward, one node).
    let mut b = setup(&init)?;
    let tensor_level = median_ms(|| b.step(|m| w1a::tensor_level_loss(m, &x, &labels_t)))?;

    // (c) one slice-level node, both flavours, its kernels on LibTorch's own intra-op threads
    // (one team of workers for everything, as in (a)).
    ferrograd_kernels::set_parallel_backend(Some(ferrograd_torch::parallel_for));
    ferrograd_kernels::set_num_threads(torch_threads);
    let mut node_ms = Vec::new();
    for kind in [NodeKind::Pullback, NodeKind::Grad] {
        let mut s = setup(&init)?;
        let mut scratch = w1a::Scratch::new();
        let ms = median_ms(|| s.step(|m| w1a::node_loss(kind, m, &x, &labels, &mut scratch)))?;
        node_ms.push((kind, "LibTorch's threads", ms));
    }
    ferrograd_kernels::set_parallel_backend(None);
    ferrograd_kernels::set_num_threads(kernel_threads);

    // (c') the value-and-grad node with its kernels in a kept-warm rayon pool instead, and
    // LibTorch on NODE_TORCH threads.
    tch::set_num_threads(node_torch_threads as i32);
    {
        // Moved into the pool's thread (tch tensors are `Send`, not `Sync`).
        let mut s = setup(&init)?;
        let (xs, ls) = (x.shallow_clone(), labels.clone());
        let mut scratch = w1a::Scratch::new();
        let ms = pool.install(move || {
            ferrograd_kernels::keep_warm(|| {
                median_ms(|| s.step(|m| w1a::node_loss(NodeKind::Grad, m, &xs, &ls, &mut scratch)))
            })
        })?;
        node_ms.push((NodeKind::Grad, "a rayon pool (c')", ms));
    }

    let x_vec = Vec::<f32>::try_from(&x.reshape([-1]))?;
    let init_params = init_vectors(&init)?;
    let kernels = pool
        .install(|| ferrograd_kernels::keep_warm(|| kernels_only(init_params, &x_vec, &labels)))?;

    println!(
        "W1a step (784→128→10, batch {BATCH}, f32), median of {STEPS} after {WARMUP} warm-up; \
         LibTorch threads {torch_threads} ((c'): {node_torch_threads}), kernel threads {kernel_threads}:"
    );
    println!("  {:<58} {native:8.3} ms", "(a) native tch autograd");
    println!(
        "  {:<58} {tensor_level:8.3} ms  ({:.2}× vs (a))",
        "(b) tensor-level generated backward",
        native / tensor_level
    );
    for (kind, threads, ms) in node_ms {
        let name = match kind {
            NodeKind::Pullback => "slice_node + pullback",
            NodeKind::Grad => "value_and_grad_node",
        };
        let name = format!("(c) {name}, kernels on {threads}");
        println!("  {name:<58} {ms:8.3} ms  ({:.2}× vs (a))", native / ms);
    }
    println!(
        "  {:<58} {kernels:8.3} ms  ({:.2}× vs (a))",
        "(ref) kernels only, no LibTorch (rayon pool)",
        native / kernels
    );
    Ok(())
}
