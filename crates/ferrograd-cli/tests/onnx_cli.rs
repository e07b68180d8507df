//! End-to-end: `ferrograd onnx ops|run` on models exported by real PyTorch (made by
//! ferrograd-onnx's test generator): the report, the output and gradient file names, and that
//! the files hold what the library computes.

#[path = "../../ferrograd-onnx/tests/common/mod.rs"]
mod common;

use std::process::{Command, Output};

use common::{model_path, models, npys, rel_err};

fn ferrograd(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ferrograd"))
        .args(args)
        .output()
        .expect("run ferrograd")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn onnx_ops_lists_ops_and_flags_unsupported_ones() {
    let m = model_path("w2cnn");
    let o = ferrograd(&["onnx", "ops", m.to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let out = text(&o.stdout);
    println!("{out}");
    for line in [
        "input: x [2, 1, 2048] float32",
        "output: y [2, 2] float32",
        "summary: 13 nodes, 5 op types, 0 unsupported",
    ] {
        assert!(out.lines().any(|l| l == line), "missing {line:?} in\n{out}");
    }
    assert!(
        out.lines().any(|l| l.split_whitespace().eq(["Conv", "3"])),
        "{out}"
    );

    let m = models().join("unknown_ops.onnx");
    let o = ferrograd(&["onnx", "ops", m.to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let out = text(&o.stdout);
    println!("{out}");
    assert!(
        out.lines()
            .any(|l| l.split_whitespace().eq(["Einsum", "1", "UNSUPPORTED"])),
        "{out}"
    );
    assert!(out.contains("node `nonzero0` (NonZero)"), "{out}");
    assert!(
        out.lines()
            .any(|l| l == "summary: 4 nodes, 3 op types, 2 unsupported"),
        "{out}"
    );
}

#[test]
fn onnx_run_writes_outputs_and_named_gradients() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("out");
    let m = model_path("cnn2d");
    let x = models().join("cnn2d/inputs/x.npy");
    let input = format!("x={}", x.display());
    let o = ferrograd(&[
        "onnx",
        "run",
        m.to_str().unwrap(),
        "--input",
        &input,
        "--out",
        out.to_str().unwrap(),
        "--grad",
    ]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let y = ferrograd_onnx::read_npy(out.join("y.npy")).expect("y.npy");
    let want = &npys("cnn2d", "ort")[0].1;
    assert!(rel_err("y", &y, want) <= 1e-5);
    // Every graph input and float initializer, by its name (here all already file-safe).
    let mut files: Vec<String> = std::fs::read_dir(out.join("grad"))
        .expect("grad dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    files.sort();
    let mut want: Vec<String> = npys("cnn2d", "grad")
        .into_iter()
        .map(|(n, _)| format!("{n}.npy"))
        .collect();
    want.sort();
    assert_eq!(files, want);
    for (n, g) in npys("cnn2d", "grad") {
        let got =
            ferrograd_onnx::read_npy(out.join("grad").join(format!("{n}.npy"))).expect("grad");
        assert!(rel_err(&n, &got, &g) <= 1e-4, "{n}");
    }
}

#[test]
fn onnx_run_errors_are_one_line_with_exit_codes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let m = model_path("w2cnn");
    let bad = dir.path().join("bad.npy");
    ferrograd_onnx::write_npy(
        &bad,
        &ferrograd_onnx::Tensor::f32(vec![1, 1, 7], vec![0.0; 7]).unwrap(),
    )
    .unwrap();
    let input = format!("x={}", bad.display());
    let out = dir.path().join("out");
    let o = ferrograd(&[
        "onnx",
        "run",
        m.to_str().unwrap(),
        "--input",
        &input,
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1));
    let err = text(&o.stderr);
    assert!(
        err.contains("input `x`: expected shape [2, 1, 2048]"),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "{err}");

    let o = ferrograd(&[
        "onnx",
        "run",
        m.to_str().unwrap(),
        "--input",
        "x",
        "--out",
        "o",
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o.stderr));
}

/// Names with characters outside `[A-Za-z0-9._-]` (Keras style, `dense/kernel:0`) become file
/// names with `_`: outputs and gradients alike.
#[test]
fn onnx_run_sanitizes_names() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("out");
    let m = models().join("keras_names.onnx");
    let input = format!(
        "input:0={}",
        models().join("keras_names_input.npy").display()
    );
    let o = ferrograd(&[
        "onnx",
        "run",
        m.to_str().unwrap(),
        "--input",
        &input,
        "--out",
        out.to_str().unwrap(),
        "--grad",
    ]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert!(out.join("dense_Sigmoid_0.npy").exists());
    let mut grads: Vec<String> = std::fs::read_dir(out.join("grad"))
        .expect("grad dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    grads.sort();
    assert_eq!(
        grads,
        ["dense_bias_0.npy", "dense_kernel_0.npy", "input_0.npy"]
    );
}
