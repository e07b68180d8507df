//! The issue-15 test models as Rust written by `onnx2rs` at build time (see `build.rs`); each
//! module is one generated file, its `forward_grad` written by the AD compiler.

/// Where build.rs put the exported models and their PyTorch oracles.
pub const MODELS_DIR: &str = env!("ONNX_MODELS");

/// The weights file `onnx2rs` wrote for `name`.
pub fn weights_path(name: &str) -> String {
    format!("{}/{name}.safetensors", env!("OUT_DIR"))
}

macro_rules! generated {
    ($($name:ident),*) => {$(
        pub mod $name {
            include!(concat!(env!("OUT_DIR"), "/", stringify!($name), ".rs"));
        }
    )*};
}

generated!(mlp, w2cnn, w2cnn_dyn, cnn2d, block, block_dyn, square, two_io);
