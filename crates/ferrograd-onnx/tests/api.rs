//! The run-time API beyond the oracle comparisons: shape inference for other batch sizes,
//! given output seeds, replacing weights (fine-tuning).

mod common;

use common::{model_path, npys, rel_err};
use ferrograd_onnx::{Model, OnnxError, Tensor};

#[test]
fn infer_shapes_for_other_batches_and_refuses_bad_ones() {
    let model = Model::load(model_path("w2cnn")).expect("load");
    let shapes = model
        .infer_shapes(&[("x", vec![2, 1, 2048])])
        .expect("infer");
    assert_eq!(shapes, [("y".to_string(), vec![2, 2])]);
    let mlp = Model::load(model_path("mlp")).expect("load");
    let shapes = mlp
        .infer_shapes(&[("x", vec![7, 8])])
        .expect("dynamic batch");
    assert_eq!(shapes, [("y".to_string(), vec![7, 3])]);
    let err = mlp
        .infer_shapes(&[("x", vec![7, 9])])
        .expect_err("wrong features");
    assert!(matches!(err, OnnxError::InputShape { .. }), "{err}");
    println!("{err}");
}

/// Backward is linear in the seed: seeds a and b give the gradients of seed a + b, and the
/// all-ones seed is `backward_sum`.
#[test]
fn given_seeds_are_linear_and_ones_is_the_sum() {
    let model = Model::load(model_path("block")).expect("load");
    let fwd = model.forward(npys("block", "inputs")).expect("forward");
    let y = fwd.outputs()[0].1.clone();
    let n = y.len();
    let a: Vec<f32> = (0..n).map(|i| (i as f32 * 0.37).sin()).collect();
    let b: Vec<f32> = (0..n).map(|i| (i as f32 * 0.11).cos()).collect();
    let ab: Vec<f32> = a.iter().zip(&b).map(|(x, y)| x + y).collect();
    let seed = |v: &[f32]| [("y", Tensor::f32(y.shape().to_vec(), v.to_vec()).unwrap())];
    let (ga, gb, gab) = (
        fwd.backward(seed(&a)).expect("a"),
        fwd.backward(seed(&b)).expect("b"),
        fwd.backward(seed(&ab)).expect("a+b"),
    );
    for (name, g) in gab.iter() {
        let (x, y) = (ga.get(name).unwrap(), gb.get(name).unwrap());
        let sum: Vec<f32> = x
            .as_f32()
            .unwrap()
            .iter()
            .zip(y.as_f32().unwrap())
            .map(|(p, q)| p + q)
            .collect();
        let sum = Tensor::f32(g.shape().to_vec(), sum).unwrap();
        assert!(rel_err(name, g, &sum) < 1e-5, "{name}");
    }
    let ones = fwd.backward(seed(&vec![1.0; n])).expect("ones");
    let total = fwd.backward_sum().expect("sum");
    for (name, g) in total.iter() {
        assert_eq!(g, ones.get(name).unwrap(), "{name}");
    }
    let bad = fwd.backward([("y", Tensor::zeros(vec![1]))]);
    assert!(matches!(bad, Err(OnnxError::Seed { .. })));
    let bad = fwd.backward([("nope", Tensor::zeros(vec![1]))]);
    assert!(matches!(bad, Err(OnnxError::Seed { .. })));
}

/// One SGD step on the MLP's weights from the gradient lowers sum(outputs) as predicted to
/// first order: the fine-tuning loop through `set_initializer`.
#[test]
fn sgd_step_through_set_initializer() {
    let mut model = Model::load(model_path("mlp")).expect("load");
    let x = npys("mlp", "inputs");
    let total = |m: &Model| -> f64 {
        let fwd = m.forward(x.clone()).expect("forward");
        fwd.outputs()[0]
            .1
            .as_f32()
            .unwrap()
            .iter()
            .map(|&v| f64::from(v))
            .sum()
    };
    let before = total(&model);
    let grads = model
        .forward(x.clone())
        .expect("forward")
        .backward_sum()
        .expect("backward");
    let lr = 1e-3f32;
    let mut predicted = 0f64;
    for (name, g) in &grads.initializers {
        let w = model
            .initializers()
            .find(|(n, _)| n == name)
            .unwrap()
            .1
            .clone();
        let g = g.as_f32().unwrap();
        predicted -= f64::from(lr) * g.iter().map(|v| f64::from(v * v)).sum::<f64>();
        let new: Vec<f32> = w
            .as_f32()
            .unwrap()
            .iter()
            .zip(g)
            .map(|(w, g)| w - lr * g)
            .collect();
        model
            .set_initializer(name, Tensor::f32(w.shape().to_vec(), new).unwrap())
            .expect("set");
    }
    let after = total(&model);
    println!(
        "sum(outputs) {before:.5} → {after:.5}, first-order prediction {:.5}",
        before + predicted
    );
    assert!(after < before);
    assert!(((after - before) - predicted).abs() < 0.1 * predicted.abs());
    let err = model
        .set_initializer("fc1.weight", Tensor::zeros(vec![3]))
        .expect_err("shape");
    assert!(err.to_string().contains("expected [16, 8]"), "{err}");
}

/// `.npy` round trips (float32, int64), float64 read as float32, and bad files as errors.
#[test]
fn npy_files_round_trip_and_bad_ones_are_errors() {
    let dir = tempfile::tempdir().expect("tempdir");
    let f = Tensor::f32(vec![2, 3], vec![1.5, -2.0, 0.0, 3.25, 1e-7, -1e7]).unwrap();
    let i = Tensor::i64(vec![4], vec![3, -1, 0, i64::MAX]).unwrap();
    for (name, t) in [("f.npy", &f), ("i.npy", &i)] {
        let p = dir.path().join(name);
        ferrograd_onnx::write_npy(&p, t).expect("write");
        assert_eq!(&ferrograd_onnx::read_npy(&p).expect("read"), t);
    }
    // numpy's default float64, as `np.save("d.npy", np.array([[0.5, 2.0]]))` writes it.
    let d = npy_f64("(1, 2)", &[0.5, 2.0]);
    let p = dir.path().join("d.npy");
    std::fs::write(&p, &d).unwrap();
    assert_eq!(
        ferrograd_onnx::read_npy(&p).expect("float64"),
        Tensor::f32(vec![1, 2], vec![0.5, 2.0]).unwrap()
    );
    std::fs::write(&p, &d[..d.len() - 3]).unwrap();
    let err = ferrograd_onnx::read_npy(&p).expect_err("truncated");
    println!("{err}");
    std::fs::write(&p, npy_f64("(1000000000000,)", &[0.5, 2.0])).unwrap();
    let err = ferrograd_onnx::read_npy(&p).expect_err("shape larger than the file");
    assert!(err.to_string().contains("larger than the file"), "{err}");
    std::fs::write(&p, b"not an npy file").unwrap();
    let err = ferrograd_onnx::read_npy(&p).expect_err("garbage");
    assert!(matches!(err, OnnxError::Npy { .. }), "{err}");
    println!("{err}");
}

/// A version-1 `.npy` of float64 with the given shape text and values.
fn npy_f64(shape: &str, values: &[f64]) -> Vec<u8> {
    let mut d = b"\x93NUMPY\x01\x00".to_vec();
    let header = format!("{{'descr': '<f8', 'fortran_order': False, 'shape': {shape}, }}");
    let pad = 64 - (10 + header.len() + 1) % 64;
    let header = format!("{header}{}\n", " ".repeat(pad));
    d.extend((header.len() as u16).to_le_bytes());
    d.extend(header.as_bytes());
    for v in values {
        d.extend(v.to_le_bytes());
    }
    d
}
