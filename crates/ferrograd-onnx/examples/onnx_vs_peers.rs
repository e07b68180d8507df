//! The Rust side of `scripts/bench-onnx.sh`: run-time `forward` and one training step on the
//! models `benches/py/onnx_peers.py export DIR` wrote, one line per measurement
//! (`ferrograd MODEL THREADS KIND MS`, the median over REPS after warm-up).
//!
//! `cargo run --release -p ferrograd-onnx --example onnx_vs_peers -- DIR THREADS REPS`
//!
//! A training step is what the PyTorch side times: forward, the gradient of sum(outputs)
//! (`backward_sum`) and an SGD update of the PyTorch parameters (`NAME.params.txt`) through
//! `set_initializer`; the other initializers (BatchNorm's running statistics) stay fixed.

use std::time::Instant;

use ferrograd_onnx::{read_npy, Model, Tensor};

const MODELS: [&str; 4] = ["mlp", "w2cnn", "cnn2d", "block"];
const LR: f32 = 1e-3;

fn median_ms(
    reps: usize,
    mut f: impl FnMut() -> Result<(), Box<dyn std::error::Error>>,
) -> Result<f64, Box<dyn std::error::Error>> {
    for _ in 0..3 {
        f()?;
    }
    let mut ts = Vec::with_capacity(reps);
    for _ in 0..reps.max(1) {
        let t0 = Instant::now();
        f()?;
        ts.push(t0.elapsed().as_secs_f64() * 1e3);
    }
    ts.sort_by(f64::total_cmp);
    Ok(ts[ts.len() / 2])
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let [_, dir, threads, reps] = args.as_slice() else {
        return Err("usage: onnx_vs_peers DIR THREADS REPS".into());
    };
    let threads: usize = threads.parse()?;
    let reps: usize = reps.parse()?;
    // Splits run on rayon's global pool (one worker per core); this caps how many pieces.
    ferrograd_kernels::set_num_threads(threads);
    for name in MODELS {
        let mut model = Model::load(format!("{dir}/{name}.onnx"))?;
        let x = read_npy(format!("{dir}/{name}.x.npy"))?;
        let params: Vec<String> = std::fs::read_to_string(format!("{dir}/{name}.params.txt"))?
            .lines()
            .map(str::to_string)
            .collect();

        let ms = median_ms(reps, || {
            model.forward([("x", x.clone())])?;
            Ok(())
        })?;
        println!("ferrograd {name} {threads} infer {ms:.4}");

        let ms = median_ms(reps, || {
            let grads = model.forward([("x", x.clone())])?.backward_sum()?;
            for p in &params {
                let g = grads.get(p).ok_or_else(|| format!("no gradient for {p}"))?;
                let w = model
                    .initializers()
                    .find(|(n, _)| n == p)
                    .ok_or_else(|| format!("no initializer {p}"))?
                    .1;
                let new: Vec<f32> = w
                    .as_f32()
                    .ok_or("int weight")?
                    .iter()
                    .zip(g.as_f32().ok_or("int gradient")?)
                    .map(|(w, g)| w - LR * g)
                    .collect();
                let shape = w.shape().to_vec();
                model.set_initializer(p, Tensor::f32(shape, new)?)?;
            }
            Ok(())
        })?;
        println!("ferrograd {name} {threads} train {ms:.4}");
    }
    Ok(())
}
