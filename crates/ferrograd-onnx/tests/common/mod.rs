//! Test setup shared by the integration tests: the four test models exported by real PyTorch
//! (tests/py/make_models.py) with onnxruntime's outputs and PyTorch autograd's gradients,
//! made once per build directory and reused.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use ferrograd_onnx::Tensor;

pub const MODELS: [&str; 5] = ["mlp", "w2cnn", "cnn2d", "block", "misc"];

/// The Python of the project venv (torch, onnx, onnxruntime); a clear failure when it is not
/// set up.
pub fn python() -> PathBuf {
    let venv = std::env::var_os("FERROGRAD_TORCH_VENV").unwrap_or_else(|| {
        panic!(
            "FERROGRAD_TORCH_VENV is not set: run `source scripts/env.sh && scripts/setup-onnx.sh` \
             first (these tests need PyTorch, onnx and onnxruntime from the project venv)"
        )
    });
    let py = Path::new(&venv).join("bin/python");
    assert!(
        py.exists(),
        "no python at {} (FERROGRAD_TORCH_VENV)",
        py.display()
    );
    py
}

/// Directory with `<model>.onnx` and `<model>/{inputs,ort,torch,grad}/*.npy`, made once.
pub fn models() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        // Through the parent so that ferrograd-cli's tests can include this module too.
        let script = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../ferrograd-onnx/tests/py/make_models.py");
        let src = std::fs::read(&script).expect("read make_models.py");
        // Keyed by the script's contents, so an edited script regenerates.
        let key = src.iter().fold(0xcbf29ce484222325u64, |h, &b| {
            (h ^ u64::from(b)).wrapping_mul(0x100000001b3)
        });
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("onnx-models-{key:016x}"));
        if dir.join("done").exists() {
            return dir;
        }
        let tmp = dir.with_extension(format!("tmp{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&tmp);
        let mut cmd = Command::new(python());
        cmd.arg(&script).arg(&tmp);
        let out = cmd.output().expect("start python");
        assert!(
            out.status.success(),
            "{cmd:?} failed:\n{}\n{}\n(run scripts/setup-onnx.sh if onnx or onnxruntime is missing)",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        std::fs::write(tmp.join("done"), b"").expect("write marker");
        // Another test process may have finished first: theirs is as good as ours.
        if std::fs::rename(&tmp, &dir).is_err() {
            let _ = std::fs::remove_dir_all(&tmp);
        }
        dir
    })
}

pub fn model_path(name: &str) -> PathBuf {
    models().join(format!("{name}.onnx"))
}

/// `(file stem, tensor)` of every `.npy` in `models()/<name>/<sub>`, sorted.
pub fn npys(name: &str, sub: &str) -> Vec<(String, Tensor)> {
    let dir = models().join(name).join(sub);
    let mut v: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "npy"))
        .map(|p| {
            let stem = p.file_stem().expect("stem").to_string_lossy().into_owned();
            (stem, ferrograd_onnx::read_npy(&p).expect("read npy"))
        })
        .collect();
    v.sort_by(|a, b| a.0.cmp(&b.0));
    v
}

/// ‖got − want‖₂ / ‖want‖₂ (0 when both are zero), after checking the shapes agree.
pub fn rel_err(what: &str, got: &Tensor, want: &Tensor) -> f64 {
    assert_eq!(got.shape(), want.shape(), "{what}: shapes differ");
    let (g, w) = (got.as_f32().expect("f32"), want.as_f32().expect("f32"));
    let diff: f64 = g
        .iter()
        .zip(w)
        .map(|(a, b)| (f64::from(*a) - f64::from(*b)).powi(2))
        .sum();
    let norm: f64 = w.iter().map(|b| f64::from(*b).powi(2)).sum();
    if norm == 0.0 {
        diff.sqrt()
    } else {
        (diff / norm).sqrt()
    }
}
