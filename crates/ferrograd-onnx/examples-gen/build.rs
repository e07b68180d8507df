//! Exports the ferrograd-onnx test models with PyTorch (tests/py/make_models.py, the project
//! venv: `source scripts/env.sh`) and runs the onnx2rs build helper on them.

use std::path::{Path, PathBuf};
use std::process::Command;

/// `(model, batch)`: each is generated for the batch of its exported test inputs.
const MODELS: [(&str, usize); 8] = [
    ("square", 4),
    ("two_io", 3),
    ("mlp", 4),
    ("w2cnn", 2),
    ("w2cnn_dyn", 3),
    ("cnn2d", 2),
    ("block", 2),
    ("block_dyn", 3),
];

fn main() {
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("OUT_DIR"));
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/py/make_models.py");
    println!("cargo:rerun-if-changed={}", script.display());
    println!("cargo:rerun-if-env-changed=FERROGRAD_TORCH_VENV");
    let venv = std::env::var_os("FERROGRAD_TORCH_VENV").unwrap_or_else(|| {
        panic!(
            "FERROGRAD_TORCH_VENV is not set: run `source scripts/env.sh && scripts/setup-onnx.sh` \
             (this crate exports its models with PyTorch at build time)"
        )
    });
    let models = out.join("models");
    let status = Command::new(Path::new(&venv).join("bin/python"))
        .arg(&script)
        .arg(&models)
        .status()
        .expect("start python");
    assert!(status.success(), "make_models.py failed");
    for (name, batch) in MODELS {
        let onnx = models.join(format!("{name}.onnx"));
        if let Err(e) = ferrograd_onnx::build::generate(&onnx, &out, Some(batch)) {
            panic!("onnx2rs {name}: {e}");
        }
    }
    println!("cargo:rustc-env=ONNX_MODELS={}", models.display());
}
