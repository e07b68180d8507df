//! `onnx2rs` from a user's `build.rs`: writes `<stem>.rs` and `<stem>.safetensors` into a
//! directory (normally `OUT_DIR`) for `include!`.
//!
//! ```no_run
//! // build.rs
//! let out = std::env::var("OUT_DIR").unwrap();
//! ferrograd_onnx::build::generate("model.onnx", &out, Some(32)).unwrap();
//! // src/lib.rs: mod model { include!(concat!(env!("OUT_DIR"), "/model.rs")); }
//! //             let w = model::Weights::load(concat!(env!("OUT_DIR"), "/model.safetensors"))?;
//! ```

use std::path::{Path, PathBuf};

use crate::error::{OnnxError, Result};
use crate::Model;

/// Writes `FILE.rs` and `FILE.safetensors` (named after the model's file stem) into
/// `out_dir` for batch size `batch` (default 1), and tells cargo to rerun when the model
/// changes. Returns the path of the Rust file.
pub fn generate(
    onnx: impl AsRef<Path>,
    out_dir: impl AsRef<Path>,
    batch: Option<usize>,
) -> Result<PathBuf> {
    let onnx = onnx.as_ref();
    let out_dir = out_dir.as_ref();
    println!("cargo:rerun-if-changed={}", onnx.display());
    let stem = onnx
        .file_stem()
        .and_then(|s| s.to_str())
        .ok_or_else(|| OnnxError::Codegen(format!("{}: no file name", onnx.display())))?;
    let rs = out_dir.join(format!("{stem}.rs"));
    write_files(
        onnx,
        &rs,
        &out_dir.join(format!("{stem}.safetensors")),
        batch,
    )?;
    Ok(rs)
}

/// Loads `onnx`, generates, and writes the Rust file and the weights file (what
/// `ferrograd onnx2rs` does).
pub fn write_files(onnx: &Path, rs: &Path, weights: &Path, batch: Option<usize>) -> Result<()> {
    let model = Model::load(onnx)?;
    let source = onnx.file_name().map_or_else(
        || onnx.display().to_string(),
        |s| s.to_string_lossy().into(),
    );
    let g = crate::codegen::generate(&model, batch, &source)?;
    let write = |path: &Path, bytes: &[u8]| {
        std::fs::write(path, bytes).map_err(|source| OnnxError::Io {
            path: path.to_path_buf(),
            source,
        })
    };
    write(rs, g.code.as_bytes())?;
    write(weights, &g.weights_bytes()?)
}
