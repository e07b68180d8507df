//! # ferrograd-train — the pure-Rust training engine
//!
//! Models are plain Rust functions over [`ferrograd::kernels`] with gradients in the
//! `#[differentiable]` naming contract ([`models`]); a [`Network`] holds one arena
//! (parameters, gradients, activations, activation adjoints) laid out once from the model and
//! the batch size; [`Optimizer`] (SGD with momentum, Adam) updates the flat parameter buffer in
//! one fused pass; [`Trainer`] runs seeded, resumable epochs with [`checkpoint`]s in
//! safetensors; [`metrics`] has accuracy, ROC AUC and efficiency at a fixed false-alarm rate.
//!
//! A steady-state training step ([`Trainer::train_step`]) performs **zero heap allocations**
//! (`tests/allocations.rs`); with more than one kernel thread run the loop inside a rayon
//! pool's `install` ([`with_threads`]).
//!
//! ```no_run
//! use ferrograd_train::{Dataset, ModelSpec, OptimizerConfig, TrainConfig, Trainer};
//! # fn main() -> Result<(), ferrograd_train::TrainError> {
//! let mnist = ferrograd_data::Mnist::load("/path/to/mnist")?;
//! let train = Dataset::new(&mnist.train.images, &mnist.train.labels, 784)?;
//! let test = Dataset::new(&mnist.test.images, &mnist.test.labels, 784)?;
//! let cfg = TrainConfig::new(5, 64, 0, OptimizerConfig::sgd(0.05, 0.9));
//! let mut t = Trainer::new(ModelSpec::W1A, cfg, train.len())?;
//! for r in t.fit(&train, Some(&test), &mut |_| {})? {
//!     println!("epoch {}: test accuracy {:.2}%", r.epoch + 1, 100.0 * r.test.unwrap().accuracy);
//! }
//! # Ok(()) }
//! ```

pub mod arena;
pub mod checkpoint;
mod error;
pub mod init;
pub mod metrics;
mod model;
pub mod models;
mod network;
mod optim;
mod train;
pub mod weighted;

pub use error::TrainError;
pub use model::{CnnDims, ModelSpec, ParamInfo};
pub use network::Network;
pub use optim::{Optimizer, OptimizerConfig};
pub use train::{
    evaluate, median_ms, Dataset, EpochAccum, EpochReport, EvalReport, Event, NonFinitePolicy,
    StepInfo, TrainConfig, Trainer,
};

/// The most kernel threads [`with_threads`] accepts.
pub const MAX_THREADS: usize = 1024;

/// Runs `f` with the kernels set to `threads` threads, inside a rayon pool of that size (so
/// that kernel splits inside `f` are allocation-free, see `ferrograd_kernels`' `par` docs),
/// with the pool's other workers kept spinning for work until `f` returns
/// ([`ferrograd::kernels::keep_warm`]): a sleeping worker takes ~20 µs to wake, longer than
/// many of a step's products.
///
/// # Errors
/// [`TrainError::Config`] for more than [`MAX_THREADS`] threads or if the pool cannot be
/// built.
pub fn with_threads<R: Send>(
    threads: usize,
    f: impl FnOnce() -> R + Send,
) -> Result<R, TrainError> {
    if threads > MAX_THREADS {
        return Err(TrainError::Config {
            field: "threads",
            reason: format!(
                "{threads}; at most {MAX_THREADS} (the kernels' workers spin while a step runs, \
                 so more threads than CPUs only slow it down)"
            ),
        });
    }
    let threads = threads.max(1);
    ferrograd::kernels::set_num_threads(threads);
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .map_err(|e| TrainError::config("threads", e.to_string()))?;
    Ok(pool.install(|| ferrograd::kernels::keep_warm(f)))
}
