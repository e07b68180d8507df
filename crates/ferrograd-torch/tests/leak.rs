//! Many apply+backward iterations: every Rust state is dropped, RSS stays flat.
//! (Own test binary, one test, so nothing else allocates concurrently.)

mod common;

use std::sync::atomic::{AtomicIsize, Ordering};

use common::*;
use ferrograd_torch::{apply, backward, BackwardContext, CustomFunction, Error, ForwardContext};
use tch::{Kind, Tensor};

static LIVE: AtomicIsize = AtomicIsize::new(0);

/// MulAdd plus a live-instance counter and a saved Vec payload.
struct Counted {
    _payload: Vec<f64>,
}

impl Counted {
    fn new() -> Self {
        LIVE.fetch_add(1, Ordering::SeqCst);
        Counted {
            _payload: vec![0.0; 64],
        }
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        LIVE.fetch_sub(1, Ordering::SeqCst);
    }
}

impl CustomFunction for Counted {
    fn forward(&mut self, ctx: &mut ForwardContext, i: &[Tensor]) -> Result<Vec<Tensor>, Error> {
        ctx.save_value("payload", vec![1.0f64; 16]);
        MulAdd.forward(ctx, i)
    }
    fn backward(&self, ctx: &BackwardContext, g: &[Tensor]) -> Result<Vec<Option<Tensor>>, Error> {
        MulAdd.backward(ctx, g)
    }
}

fn rss_kib() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").expect("/proc/self/statm");
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("rss field");
    pages * 4
}

fn step(x: &Tensor, y: &Tensor, fail: bool) -> Result<(), Error> {
    let out = apply(Counted::new(), &[x, y])?;
    let loss = (&out[0] + &out[1]).sum(Kind::Double);
    if fail {
        // Graph built but never run: dropped with the outputs.
        return Ok(());
    }
    backward(&loss)
}

#[test]
fn no_leaks_over_many_iterations() -> Result<(), Error> {
    // Silence the deliberate panics (caught at the FFI boundary).
    std::panic::set_hook(Box::new(|_| {}));
    let x = leaf(&[1.0; 16]);
    let y = leaf(&[2.0; 16]);
    for i in 0..2_000 {
        step(&x, &y, i % 3 == 0)?;
    }
    let before = rss_kib();
    let n = 40_000;
    for i in 0..n {
        step(&x, &y, i % 3 == 0)?;
        // Error paths must not leak either.
        if i % 10 == 0 {
            assert!(apply(MulAdd, &[&x]).is_err());
            assert!(apply(PanickingForward, &[&x]).is_err());
            let out = apply(FailingBackward, &[&x])?;
            assert!(backward(&out[0].sum(Kind::Double)).is_err());
        }
    }
    let after = rss_kib();
    let growth = after as i64 - before as i64;
    println!("RSS before {before} KiB, after {n} iterations {after} KiB, growth {growth} KiB");
    assert_eq!(LIVE.load(Ordering::SeqCst), 0, "Rust states leaked");
    assert!(growth < 4 * 1024, "RSS grew by {growth} KiB");
    Ok(())
}
