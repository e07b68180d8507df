//! The four issue-15 models, exported by real PyTorch: outputs against onnxruntime (1e-5
//! relative), gradients of sum(outputs) w.r.t. the input and every parameter against PyTorch
//! autograd on the original model (1e-4 relative). Errors are ‖got − want‖₂ / ‖want‖₂ per
//! tensor; the largest is printed.

mod common;

use common::{model_path, npys, rel_err};
use ferrograd_onnx::{file_name, Model, Tensor};

const OUT_TOL: f64 = 1e-5;
const GRAD_TOL: f64 = 1e-4;

fn check(name: &str) {
    let model = Model::load(model_path(name)).expect("load");
    let fwd = model.forward(npys(name, "inputs")).expect("forward");
    let outs = fwd.outputs();
    let mut worst_out = 0f64;
    for (oname, want) in npys(name, "ort") {
        let (_, got) = outs
            .iter()
            .find(|(n, _)| file_name(n) == oname)
            .expect("output");
        let e = rel_err(&format!("{name} output {oname}"), got, &want);
        worst_out = worst_out.max(e);
    }
    let grads = fwd.backward_sum().expect("backward");
    let mut worst = (0f64, String::new());
    let want_grads = npys(name, "grad");
    assert!(want_grads.len() >= 3, "{name}: too few reference gradients");
    for (gname, want) in &want_grads {
        let (_, got) = grads
            .iter()
            .find(|(n, _)| file_name(n) == *gname)
            .unwrap_or_else(|| panic!("{name}: no gradient for `{gname}`"));
        // A zero reference would make the comparison vacuous.
        let norm: f32 = want.as_f32().expect("f32").iter().map(|v| v * v).sum();
        assert!(norm > 1e-12, "{name}: reference gradient {gname} is zero");
        let e = rel_err(&format!("{name} grad {gname}"), got, want);
        if e > worst.0 {
            worst = (e, gname.clone());
        }
    }
    println!(
        "{name}: max rel err outputs vs onnxruntime {worst_out:.2e}; gradients vs torch autograd \
         {:.2e} ({}), {} gradients",
        worst.0,
        worst.1,
        want_grads.len()
    );
    assert!(
        worst_out <= OUT_TOL,
        "{name}: outputs differ from onnxruntime by {worst_out:e}"
    );
    assert!(
        worst.0 <= GRAD_TOL,
        "{name}: gradient {} differs from torch by {:e}",
        worst.1,
        worst.0
    );
    // Every float initializer has a gradient, and each one has a torch reference.
    let names: Vec<String> = grads
        .initializers
        .iter()
        .map(|(n, _)| file_name(n))
        .collect();
    for n in &names {
        assert!(
            want_grads.iter().any(|(g, _)| g == n),
            "{name}: initializer `{n}` has no torch reference"
        );
    }
}

#[test]
fn mlp_matches_onnxruntime_and_torch() {
    check("mlp");
}

#[test]
fn w2_cnn_matches_onnxruntime_and_torch() {
    check("w2cnn");
}

#[test]
fn cnn2d_batchnorm_matches_onnxruntime_and_torch() {
    check("cnn2d");
}

#[test]
fn layernorm_attention_block_matches_onnxruntime_and_torch() {
    check("block");
}

/// The MLP is exported with a dynamic batch: a larger batch runs, and its first rows are the
/// outputs of the small batch.
#[test]
fn dynamic_batch_runs_other_sizes() {
    let model = Model::load(model_path("mlp")).expect("load");
    let (_, x) = npys("mlp", "inputs").remove(0);
    let small = model.forward([("x", x.clone())]).expect("forward");
    let mut big = x.as_f32().expect("f32").to_vec();
    big.extend(big.clone());
    let n = x.shape()[0] * 2;
    let big = model
        .forward([(
            "x",
            Tensor::f32(vec![n, x.shape()[1]], big).expect("tensor"),
        )])
        .expect("forward, batch x2");
    let (s, b) = (small.outputs()[0].1, big.outputs()[0].1);
    assert_eq!(b.shape()[0], n);
    let (s, b) = (s.as_f32().expect("f32"), b.as_f32().expect("f32"));
    assert_eq!(&b[..s.len()], s);
    assert_eq!(&b[s.len()..], s);
}

/// The remaining ops (opset 20), two outputs, an int64 index input.
#[test]
fn remaining_ops_match_onnxruntime_and_torch() {
    check("misc");
}

/// Exported with a dynamic batch dimension (run at batch 3): the block's reshape is computed
/// from the input's shape on int64 tensors (Shape, Gather, Unsqueeze, Concat).
#[test]
fn dynamic_batch_exports_match_onnxruntime_and_torch() {
    check("block_dyn");
    check("w2cnn_dyn");
}
