//! Bad models and bad inputs give a clear `Err`, never a panic: truncated files, a
//! deterministic fuzz of bit flips and byte edits of real exported models, unknown ops (all
//! listed), unsupported opsets, external data, wrong input shapes and types.

mod common;

use common::{model_path, models, npys};
use ferrograd_onnx::{Model, OnnxError, Tensor};
use ferrograd_testkit::SplitMix64;

#[test]
fn truncated_files_are_errors() {
    let bytes = std::fs::read(model_path("mlp")).expect("read");
    let mut errs = 0;
    for cut in (0..bytes.len()).step_by(7) {
        // Some prefixes end between fields and are themselves valid (smaller) protobufs;
        // those load or fail validation. None may panic.
        if Model::from_bytes(&bytes[..cut]).is_err() {
            errs += 1;
        }
    }
    let half = Model::from_bytes(&bytes[..bytes.len() / 2]).expect_err("half a model");
    println!(
        "{errs} of {} prefixes refused; half: {half}",
        bytes.len().div_ceil(7)
    );
    assert!(matches!(half, OnnxError::Decode(_)), "{half}");
    assert!(half.to_string().contains("is the file complete"), "{half}");
    let empty = Model::from_bytes(&[]).expect_err("empty file");
    println!("empty: {empty}");
}

/// Mutations of real models: bit flips, random bytes, deleted and duplicated ranges.
fn mutate(rng: &mut SplitMix64, bytes: &[u8]) -> Vec<u8> {
    let mut b = bytes.to_vec();
    for _ in 0..1 + rng.below(4) {
        match rng.below(4) {
            0 => {
                let i = rng.below(b.len());
                b[i] ^= 1 << rng.below(8);
            }
            1 => {
                let i = rng.below(b.len());
                b[i] = rng.next_u64() as u8;
            }
            2 => {
                let i = rng.below(b.len());
                let n = rng.below(16).min(b.len() - i);
                b.drain(i..i + n);
            }
            _ => {
                let i = rng.below(b.len());
                let n = rng.below(16).min(b.len() - i);
                let dup: Vec<u8> = b[i..i + n].to_vec();
                b.splice(i..i, dup);
            }
        }
        if b.is_empty() {
            b.push(0);
        }
    }
    b
}

#[test]
fn fuzzed_models_never_panic() {
    let mut rng = SplitMix64::new(15);
    let (mut ok, mut err) = (0, 0);
    for name in ["mlp", "block", "cnn2d"] {
        let bytes = std::fs::read(model_path(name)).expect("read");
        let inputs = npys(name, "inputs");
        for _ in 0..700 {
            let m = mutate(&mut rng, &bytes);
            match Model::from_bytes(&m) {
                Ok(model) => {
                    ok += 1;
                    // A mutated model that loads must also run (or refuse) without panicking.
                    if let Ok(fwd) = model.forward(inputs.clone()) {
                        let _ = fwd.backward_sum();
                    }
                }
                Err(e) => {
                    err += 1;
                    assert!(!e.to_string().is_empty());
                }
            }
        }
    }
    println!("fuzz: {ok} mutated models loaded, {err} refused, no panic");
    assert!(err > 0);
}

#[test]
fn unknown_ops_are_all_listed() {
    let err = Model::load(models().join("unknown_ops.onnx")).expect_err("unsupported ops");
    println!("{err}");
    let OnnxError::Unsupported(list) = &err else {
        panic!("expected Unsupported, got {err}");
    };
    let got: Vec<(&str, &str)> = list
        .iter()
        .map(|u| (u.node.as_str(), u.op_type.as_str()))
        .collect();
    assert_eq!(got, [("einsum0", "Einsum"), ("nonzero0", "NonZero")]);
    let msg = err.to_string();
    assert!(
        msg.contains("2 unsupported op(s)") && msg.contains("einsum0") && msg.contains("NonZero"),
        "{msg}"
    );
}

#[test]
fn unsupported_opsets_are_refused() {
    for v in [12, 22] {
        let err = Model::load(models().join(format!("opset{v}.onnx"))).expect_err("opset");
        println!("{err}");
        assert!(
            matches!(err, OnnxError::Opset { version, .. } if version == v),
            "{err}"
        );
        assert!(err.to_string().contains("13 to 21"));
    }
}

#[test]
fn external_data_is_a_clear_error() {
    let err = Model::load(models().join("external.onnx")).expect_err("external data");
    println!("{err}");
    assert!(
        err.to_string().contains("external data in external.bin"),
        "{err}"
    );
}

#[test]
fn wrong_inputs_are_refused() {
    let model = Model::load(model_path("w2cnn")).expect("load");
    let wrong = Tensor::f32(vec![2, 1, 1000], vec![0.0; 2000]).expect("tensor");
    let err = model.forward([("x", wrong)]).err().expect("wrong shape");
    println!("{err}");
    assert!(
        matches!(&err, OnnxError::InputShape { name, got, .. } if name == "x" && got == &[2, 1, 1000]),
        "{err}"
    );
    assert!(err.to_string().contains("[2, 1, 2048]"), "{err}");

    let ints = Tensor::i64(vec![2, 1, 2048], vec![0; 4096]).expect("tensor");
    assert!(matches!(
        model.forward([("x", ints)]),
        Err(OnnxError::InputShape { .. })
    ));
    let none: [(&str, Tensor); 0] = [];
    assert!(matches!(
        model.forward(none),
        Err(OnnxError::MissingInput { .. })
    ));
    let x = Tensor::f32(vec![1, 1, 2048], vec![0.0; 2048]).expect("tensor");
    assert!(matches!(
        model.forward([("z", x)]),
        Err(OnnxError::UnknownInput { .. })
    ));

    // Gather indices out of range: an error from the node, with its name and op.
    let model = Model::load(model_path("misc")).expect("load");
    let mut inputs = npys("misc", "inputs");
    inputs.retain(|(n, _)| n != "idx");
    inputs.push((
        "idx".into(),
        Tensor::i64(vec![4], vec![0, 1, 10, 2]).expect("tensor"),
    ));
    let err = model.forward(inputs).err().expect("index out of range");
    println!("{err}");
    assert!(
        matches!(&err, OnnxError::Node { op, .. } if op == "Gather"),
        "{err}"
    );
}

#[test]
fn missing_file_is_an_io_error() {
    let err = Model::load("/nonexistent/model.onnx").expect_err("no file");
    assert!(matches!(err, OnnxError::Io { .. }), "{err}");
}
