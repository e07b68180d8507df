//! onnx2rs without Python: identifiers, constant folding, repeated inputs, the generator's
//! errors, the weights file, and the `op` kernels against the run-time ops they wrap. (The
//! generated code is compiled and checked against PyTorch by ferrograd-onnx-gen.)

use prost::Message;

use crate::codegen::{generate, ident};
use crate::kernels::*;
use crate::proto::*;
use crate::{Model, OnnxError};

fn value(name: &str, elem: i32, dims: &[Option<i64>]) -> ValueInfoProto {
    ValueInfoProto {
        name: name.into(),
        r#type: Some(TypeProto {
            tensor_type: Some(TypeProtoTensor {
                elem_type: elem,
                shape: Some(TensorShapeProto {
                    dim: dims
                        .iter()
                        .map(|d| Dimension {
                            dim_value: *d,
                            dim_param: d.is_none().then(|| "N".to_string()),
                        })
                        .collect(),
                }),
            }),
        }),
    }
}

fn node(op: &str, ins: &[&str], out: &str, attribute: Vec<AttributeProto>) -> NodeProto {
    NodeProto {
        input: ins.iter().map(|s| s.to_string()).collect(),
        output: vec![out.into()],
        name: format!("{op}_{out}"),
        op_type: op.into(),
        domain: String::new(),
        attribute,
    }
}

fn model(nodes: Vec<NodeProto>, inputs: Vec<ValueInfoProto>, output: &str) -> Model {
    let m = ModelProto {
        ir_version: 8,
        opset_import: vec![OperatorSetIdProto {
            domain: String::new(),
            version: 17,
        }],
        producer_name: "test".into(),
        producer_version: String::new(),
        graph: Some(GraphProto {
            node: nodes,
            name: "g".into(),
            initializer: vec![],
            input: inputs,
            output: vec![value(output, FLOAT, &[None, Some(3)])],
        }),
    };
    Model::from_bytes(&m.encode_to_vec()).expect("load")
}

/// `y = (x·x)·2 → [N, 3]`, the 2 a `Constant`, the product read twice.
fn square_twice() -> Model {
    let two = AttributeProto {
        name: "value_float".into(),
        r#type: 1,
        f: 2.0,
        ..Default::default()
    };
    model(
        vec![
            node("Constant", &[], "two", vec![two]),
            node("Mul", &["x", "x"], "sq", vec![]),
            node("Mul", &["sq", "two"], "y", vec![]),
        ],
        vec![value("x", FLOAT, &[None, Some(3)])],
        "y",
    )
}

#[test]
fn identifiers_are_snake_case_and_never_keywords() {
    assert_eq!(ident("/fc1/Gemm_output_0"), "fc1_gemm_output_0");
    assert_eq!(ident("dense/kernel:0"), "dense_kernel_0");
    assert_eq!(ident("3x"), "v_3x");
    assert_eq!(ident("type"), "v_type");
    assert_eq!(ident("::"), "v_");
}

#[test]
fn constants_fold_into_weights_and_a_repeated_input_is_copied() {
    let g = generate(&square_twice(), Some(2), "t.onnx").expect("generate");
    let c = &g.code;
    assert!(c.contains("pub const BATCH: usize = 2;"), "{c}");
    assert!(
        c.contains("#[ferrograd::differentiable(wrt(w, x), reverse_only)]"),
        "{c}"
    );
    // `Mul(x, x)` would hand one adjoint twice: the second operand is a copy.
    assert!(c.contains("op1(acts.x_copy, x, plan, 0)?;"), "{c}");
    assert!(c.contains("op2(acts.sq, x, acts.x_copy, plan, 1)?;"), "{c}");
    assert!(
        c.contains("op2(acts.y, acts.sq, w.const_two, plan, 2)?;"),
        "{c}"
    );
    assert!(c.contains("let loss0 = seed_dot(acts.y, seed_y)?;"), "{c}");
    assert_eq!(g.weights, vec![("two".to_string(), vec![], vec![2.0])]);
}

#[test]
fn generator_errors_are_clear() {
    let m = square_twice();
    assert!(matches!(
        generate(&m, Some(0), "t"),
        Err(OnnxError::Codegen(msg)) if msg.contains("at least 1")
    ));
    // A batch whose input would not fit: an error, not an abort.
    let e = generate(&m, Some(usize::MAX / 2), "t")
        .unwrap_err()
        .to_string();
    assert!(e.contains("choose a smaller --batch"), "{e}");
    // Names that are not Rust stay in comments and string literals, escaped.
    let name = "x\n} fn evil() {";
    let m = model(
        vec![node("Relu", &[name], "y", vec![])],
        vec![value(name, FLOAT, &[None, Some(3)])],
        "y",
    );
    let c = generate(&m, None, "t").expect("generate").code;
    assert!(!c.contains("\n} fn evil"), "{c}");
    assert!(c.contains("(\"x\\n} fn evil() {\", &[1, 3])"), "{c}");
    assert!(c.contains("pub fn forward(\n    x_fn_evil: &[f32],"), "{c}");
    // An int64 input.
    let m = model(
        vec![node(
            "Cast",
            &["i"],
            "y",
            vec![AttributeProto {
                name: "to".into(),
                r#type: 2,
                i: 1,
                ..Default::default()
            }],
        )],
        vec![value("i", INT64, &[None, Some(3)])],
        "y",
    );
    let e = generate(&m, None, "t").unwrap_err().to_string();
    assert!(e.contains("input `i` is int64"), "{e}");
    // An output that no node computes.
    let m = model(vec![], vec![value("x", FLOAT, &[None, Some(3)])], "x");
    let e = generate(&m, None, "t").unwrap_err().to_string();
    assert!(e.contains("output `x` is not computed"), "{e}");
}

#[test]
fn weights_file_round_trips_and_is_checked() {
    let g = generate(&square_twice(), None, "t").expect("generate");
    let dir = tempfile::tempdir().expect("tempdir");
    let p = dir.path().join("w.safetensors");
    std::fs::write(&p, g.weights_bytes().expect("bytes")).expect("write");
    let w = load_weights(&p, &[("two", &[])]).expect("load");
    assert_eq!(w["two"], vec![2.0]);
    let e = load_weights(&p, &[("two", &[1])]).unwrap_err().to_string();
    assert!(e.contains("has shape [], [1] expected"), "{e}");
    let e = load_weights(&p, &[("three", &[])]).unwrap_err().to_string();
    assert!(e.contains("no tensor `three`"), "{e}");
    std::fs::write(&p, b"not safetensors").expect("write");
    assert!(matches!(
        load_weights(&p, &[]),
        Err(OnnxError::Weights { .. })
    ));
}

#[test]
fn op_kernels_follow_the_kernel_contract() {
    // Broadcasting Mul [2, 3] · [3].
    let mut plan = Plan::new(17);
    plan.push(
        "Mul",
        &[],
        &[Input::F32(&[2, 3]), Input::F32(&[3])],
        &[2, 3],
    )
    .expect("push");
    let a = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0];
    let b = [0.5, -1.0, 2.0];
    let mut y = [0.0; 6];
    op2(&mut y, &a, &b, &plan, 0).expect("forward");
    assert_eq!(y, [0.5, -2.0, 6.0, 2.0, -5.0, 12.0]);
    let mut d_y = [1.0; 6];
    let (mut d_a, mut d_b) = ([10.0; 6], [0.0; 3]);
    op2_pullback(&mut y, &a, &b, &plan, 0, &mut d_y, &mut d_a, &mut d_b).expect("pullback");
    // Accumulated into d_a, summed over the broadcast rows into d_b, d_y zeroed.
    assert_eq!(d_a, [10.5, 9.0, 12.0, 10.5, 9.0, 12.0]);
    assert_eq!(d_b, [5.0, 7.0, 9.0]);
    assert_eq!(d_y, [0.0; 6]);
    // An empty adjoint is "not needed".
    let mut d_y = [1.0; 6];
    let mut d_b = [0.0; 3];
    op2_pullback(&mut y, &a, &b, &plan, 0, &mut d_y, &mut [], &mut d_b).expect("pullback");
    assert_eq!(d_b, [5.0, 7.0, 9.0]);
    // Wrong lengths and nodes are errors.
    assert!(matches!(
        op2(&mut y, &a[..5], &b, &plan, 0),
        Err(KernelError::Length {
            arg: "x0",
            expected: 6,
            actual: 5,
            ..
        })
    ));
    assert!(matches!(
        op2(&mut y[..5], &a, &b, &plan, 0),
        Err(KernelError::Length { arg: "out", .. })
    ));
    assert!(matches!(
        op2(&mut y, &a, &b, &plan, 1),
        Err(KernelError::Index {
            value: 1,
            bound: 1,
            ..
        })
    ));
    assert!(matches!(
        op1(&mut y, &a, &plan, 0),
        Err(KernelError::Dim { .. })
    ));
    let mut d_y = [1.0; 6];
    assert!(matches!(
        op2_pullback(&mut y, &a, &b, &plan, 0, &mut d_y, &mut [0.0; 2], &mut []),
        Err(KernelError::Length { arg: "d_x0", .. })
    ));
    // An unsupported op or attribute is refused when the plan is built.
    assert!(plan.push("Einsum", &[], &[], &[1]).is_err());
    assert!(plan
        .push(
            "Gelu",
            &[("approximate", Attr::Str("cubic"))],
            &[Input::F32(&[1])],
            &[1]
        )
        .is_err());
    // seed_dot and its pullback.
    assert_eq!(seed_dot(&a[..3], &b).expect("dot"), 4.5);
    let (mut d_x, mut d_s) = ([0.0; 3], [0.0; 3]);
    seed_dot_pullback(&a[..3], &b, 2.0, &mut d_x, &mut d_s).expect("pullback");
    assert_eq!((d_x, d_s), ([1.0, -2.0, 4.0], [2.0, 4.0, 6.0]));
    assert!(seed_dot(&a, &b).is_err());
}

#[test]
fn build_helper_reports_a_missing_model() {
    let dir = tempfile::tempdir().expect("tempdir");
    let e = crate::build::generate(dir.path().join("none.onnx"), dir.path(), None).unwrap_err();
    assert!(matches!(e, OnnxError::Io { .. }), "{e}");
    assert!(!dir.path().join("none.rs").exists());
}
