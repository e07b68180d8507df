//! Per-call overhead of a Rust custom function (apply + backward) on a 16-element
//! tensor versus the same op with native LibTorch autograd.
//!
//! `cargo bench -p ferrograd-torch --bench overhead` (after `source scripts/env.sh`).
//! Prints the median over 20 000 timed calls after 2 000 warm-up calls.

use std::hint::black_box;
use std::time::Instant;

use ferrograd_torch::{apply, backward, BackwardContext, CustomFunction, Error, ForwardContext};
use tch::{Device, Kind, Tensor};

/// y = x ⊙ x; dx = 2·x·dy (tensor-level rule, same kernels as native).
struct Square;

impl CustomFunction for Square {
    fn forward(&mut self, ctx: &mut ForwardContext, i: &[Tensor]) -> Result<Vec<Tensor>, Error> {
        ctx.save_for_backward(&[&i[0]]);
        Ok(vec![i[0].f_mul(&i[0])?])
    }
    fn backward(&self, ctx: &BackwardContext, g: &[Tensor]) -> Result<Vec<Option<Tensor>>, Error> {
        Ok(vec![Some(
            ctx.saved_tensors()[0].f_mul(&g[0])?.f_mul_scalar(2.0)?,
        )])
    }
}

fn median_ns(mut f: impl FnMut() -> Result<(), Error>) -> Result<f64, Error> {
    const WARMUP: usize = 2_000;
    const SAMPLES: usize = 20_000;
    for _ in 0..WARMUP {
        f()?;
    }
    let mut t = Vec::with_capacity(SAMPLES);
    for _ in 0..SAMPLES {
        let start = Instant::now();
        f()?;
        t.push(start.elapsed().as_nanos() as f64);
    }
    t.sort_by(f64::total_cmp);
    Ok(t[SAMPLES / 2])
}

fn main() -> Result<(), Error> {
    let x = Tensor::f_rand([16], (Kind::Float, Device::Cpu))?.set_requires_grad(true);
    let fwd_native = median_ns(|| {
        let _ = black_box(x.f_mul(&x)?);
        Ok(())
    })?;
    let fwd_custom = median_ns(|| {
        let _ = black_box(apply(Square, &[&x])?);
        Ok(())
    })?;
    let step_native = median_ns(|| {
        let loss = x.f_mul(&x)?.f_sum(Kind::Float)?;
        backward(&loss)
    })?;
    let step_custom = median_ns(|| {
        let loss = apply(Square, &[&x])?[0].f_sum(Kind::Float)?;
        backward(&loss)
    })?;
    println!(
        "16-element f32, {} intra-op threads; medians:",
        tch::get_num_threads()
    );
    println!(
        "  forward  native x*x            {:8.2} µs",
        fwd_native / 1e3
    );
    println!(
        "  forward  apply(Square)         {:8.2} µs  (+{:.2} µs)",
        fwd_custom / 1e3,
        (fwd_custom - fwd_native) / 1e3
    );
    println!(
        "  fwd+sum+backward native        {:8.2} µs",
        step_native / 1e3
    );
    println!(
        "  fwd+sum+backward apply(Square) {:8.2} µs  (+{:.2} µs)",
        step_custom / 1e3,
        (step_custom - step_native) / 1e3
    );
    Ok(())
}
