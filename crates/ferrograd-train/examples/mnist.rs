//! Trains the W1 MLP on MNIST with the pure-Rust engine (no LibTorch needed):
//! `cargo run --release -p ferrograd-train --example mnist -- [hidden] [epochs] [batch] [lr] [threads]`
//! (defaults: 128 5 64 0.05 1). The MNIST files come from `scripts/fetch-mnist.sh`.

use ferrograd_train::{
    median_ms, with_threads, Dataset, Event, ModelSpec, OptimizerConfig, TrainConfig, Trainer,
};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |i: usize, d: &str| args.get(i).cloned().unwrap_or_else(|| d.to_owned());
    let hidden: usize = arg(0, "128").parse()?;
    let epochs: u64 = arg(1, "5").parse()?;
    let batch: usize = arg(2, "64").parse()?;
    let lr: f32 = arg(3, "0.05").parse()?;
    let threads: usize = arg(4, "1").parse()?;
    let dir = ferrograd_data::mnist_default_dir().ok_or("set HOME or FERROGRAD_CACHE")?;
    let mnist = ferrograd_data::Mnist::load(dir)?;
    let train = Dataset::new(&mnist.train.images, &mnist.train.labels, 784)?;
    let test = Dataset::new(&mnist.test.images, &mnist.test.labels, 784)?;
    let spec = ModelSpec::Mlp {
        in_features: 784,
        hidden,
        classes: 10,
    };
    let cfg = TrainConfig::new(epochs, batch, 0, OptimizerConfig::sgd(lr, 0.9));
    let mut t = Trainer::new(spec, cfg, train.len())?;
    with_threads(threads, || {
        t.fit(&train, Some(&test), &mut |e| {
            if let Event::Epoch(r) = e {
                let test = r.test.map_or(f64::NAN, |t| t.accuracy);
                println!(
                    "epoch {}: train loss {:.4}, train accuracy {:.2}%, test accuracy {:.2}%",
                    r.epoch + 1,
                    r.train_loss,
                    100.0 * r.train_accuracy,
                    100.0 * test
                );
            }
        })
    })??;
    if let Some(ms) = median_ms(t.step_seconds(), 20) {
        println!("median step: {ms:.3} ms");
    }
    Ok(())
}
