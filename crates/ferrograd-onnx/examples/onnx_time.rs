//! Times a model's forward and forward + backward on pseudo-random inputs.
//!
//! `cargo run --release -p ferrograd-onnx --example onnx_time -- MODEL.onnx [BATCH] [REPS]`
//! (dynamic dimensions take BATCH, default 64; REPS default 20; prints the medians).

use std::time::Instant;

use ferrograd_onnx::{Dim, ElemType, Model, Tensor};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let path = args
        .get(1)
        .ok_or("usage: onnx_time MODEL.onnx [BATCH] [REPS]")?;
    let batch: usize = args.get(2).map_or(Ok(64), |s| s.parse())?;
    let reps: usize = args.get(3).map_or(Ok(20), |s| s.parse())?;
    let model = Model::load(path)?;
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = || {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((state >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
    };
    let mut feed = Vec::new();
    for v in model.inputs() {
        let shape: Vec<usize> = v
            .dims
            .iter()
            .flatten()
            .map(|d| match d {
                Dim::Fixed(n) => *n,
                Dim::Dynamic(_) => batch,
            })
            .collect();
        let n = shape.iter().product();
        let t = match v.elem {
            ElemType::F32 => Tensor::f32(shape, (0..n).map(|_| next()).collect())?,
            ElemType::I64 => Tensor::i64(shape, vec![0; n])?,
        };
        feed.push((v.name.clone(), t));
    }
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let (mut fwd_t, mut both_t) = (Vec::new(), Vec::new());
    for _ in 0..reps.max(1) {
        let t0 = Instant::now();
        let fwd = model.forward(feed.clone())?;
        let t1 = Instant::now();
        fwd.backward_sum()?;
        let t2 = Instant::now();
        fwd_t.push((t1 - t0).as_secs_f64() * 1e3);
        both_t.push((t2 - t0).as_secs_f64() * 1e3);
    }
    println!("forward: {:.3} ms", median(fwd_t));
    println!("forward + backward: {:.3} ms", median(both_t));
    Ok(())
}
