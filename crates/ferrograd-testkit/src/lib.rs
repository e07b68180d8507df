//! Test helpers shared by the workspace's tests, benches and examples (dev-only, never a
//! dependency of a product crate; no LibTorch).
//!
//! - [`SplitMix64`]: the one seeded generator of test data (the same stream as
//!   `ferrograd_train::init::SplitMix64`, which is product code and stays there).
//! - [`fd`]: central finite differences (of scalar functions, of slice-valued functions
//!   such as gradients, and of slice-level pullbacks) and the tolerance comparisons that
//!   name the index that failed.

pub mod fd;
mod rng;

pub use fd::{assert_close, assert_close_1p};
pub use rng::SplitMix64;
