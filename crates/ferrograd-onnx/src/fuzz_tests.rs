//! Structure-aware fuzz of loading and running: random small graphs of supported ops with
//! random wiring, random attributes (extreme values included) and random initializers, encoded
//! to protobuf and loaded. Every outcome must be `Ok` or `Err`; a panic fails the test. (The
//! byte-level fuzz of real exported models is in tests/errors.rs.)

use prost::Message;

use crate::ops::SUPPORTED;
use crate::proto::*;
use crate::Model;
use ferrograd_testkit::SplitMix64;

const INTS: &[i64] = &[-3, -2, -1, 0, 1, 2, 3, 4, 5, 1 << 40, i64::MIN, i64::MAX];
const STRS: &[&str] = &[
    "NOTSET",
    "VALID",
    "SAME_UPPER",
    "SAME_LOWER",
    "none",
    "tanh",
    "x",
];
const ATTRS: &[&str] = &[
    "axis",
    "axes",
    "perm",
    "kernel_shape",
    "strides",
    "pads",
    "dilations",
    "group",
    "alpha",
    "beta",
    "transA",
    "transB",
    "epsilon",
    "keepdims",
    "ceil_mode",
    "count_include_pad",
    "auto_pad",
    "allowzero",
    "start",
    "end",
    "value",
    "value_int",
    "value_ints",
    "value_float",
    "approximate",
    "noop_with_empty_axes",
    "training_mode",
    "storage_order",
];

fn pick<T: Copy>(r: &mut SplitMix64, v: &[T]) -> T {
    v[r.below(v.len())]
}

fn small_int(r: &mut SplitMix64) -> i64 {
    if r.below(20) == 0 {
        pick(r, INTS)
    } else {
        r.below(6) as i64 - 2
    }
}

fn tensor(r: &mut SplitMix64, name: &str) -> TensorProto {
    let dims: Vec<i64> = (0..r.below(4)).map(|_| 1 + r.below(4) as i64).collect();
    let n: i64 = dims.iter().product();
    let mut t = TensorProto {
        dims,
        name: name.into(),
        ..Default::default()
    };
    // Now and then a length that does not match the shape.
    let n = (n + if r.below(30) == 0 { 1 } else { 0 }) as usize;
    if r.below(3) == 0 {
        t.data_type = INT64;
        t.int64_data = (0..n).map(|_| small_int(r)).collect();
    } else {
        t.data_type = FLOAT;
        t.float_data = r.vec(n, -2.0, 2.0);
    }
    t
}

fn attribute(r: &mut SplitMix64) -> AttributeProto {
    let mut a = AttributeProto {
        name: pick(r, ATTRS).into(),
        ..Default::default()
    };
    match r.below(6) {
        0 => (a.r#type, a.i) = (2, small_int(r)),
        1 => (a.r#type, a.f) = (1, r.uniform(-2.0, 2.0)),
        2 => (a.r#type, a.ints) = (7, (0..r.below(5)).map(|_| small_int(r)).collect()),
        3 => (a.r#type, a.s) = (3, pick(r, STRS).as_bytes().to_vec()),
        4 => (a.r#type, a.t) = (4, Some(tensor(r, ""))),
        _ => {
            let n = r.below(4);
            (a.r#type, a.floats) = (6, r.vec(n, -1.0, 1.0));
        }
    }
    a
}

fn graph(r: &mut SplitMix64) -> ModelProto {
    let dims: Vec<Dimension> = (0..1 + r.below(4))
        .map(|_| Dimension {
            dim_value: Some(1 + r.below(5) as i64),
            dim_param: None,
        })
        .collect();
    let input = ValueInfoProto {
        name: "x".into(),
        r#type: Some(TypeProto {
            tensor_type: Some(TypeProtoTensor {
                elem_type: FLOAT,
                shape: Some(TensorShapeProto { dim: dims }),
            }),
        }),
    };
    let mut values = vec!["x".to_string()];
    let initializer: Vec<TensorProto> = (0..r.below(4))
        .map(|i| {
            let name = format!("w{i}");
            values.push(name.clone());
            tensor(r, &name)
        })
        .collect();
    let mut node = Vec::new();
    for i in 0..1 + r.below(4) {
        let ins = (0..r.below(6))
            .map(|_| {
                if r.below(8) == 0 {
                    String::new()
                } else {
                    values[r.below(values.len())].clone()
                }
            })
            .collect();
        let out = format!("v{i}");
        node.push(NodeProto {
            input: ins,
            output: vec![out.clone()],
            name: format!("n{i}"),
            op_type: pick(r, SUPPORTED).into(),
            domain: String::new(),
            attribute: (0..r.below(4)).map(|_| attribute(r)).collect(),
        });
        values.push(out);
    }
    let output = ValueInfoProto {
        name: values.last().cloned().unwrap_or_default(),
        r#type: Some(TypeProto {
            tensor_type: Some(TypeProtoTensor {
                elem_type: FLOAT,
                shape: None,
            }),
        }),
    };
    ModelProto {
        ir_version: 8,
        opset_import: vec![OperatorSetIdProto {
            domain: String::new(),
            version: 13 + r.below(9) as i64,
        }],
        producer_name: "fuzz".into(),
        producer_version: String::new(),
        graph: Some(GraphProto {
            node,
            name: "g".into(),
            initializer,
            input: vec![input],
            output: vec![output],
        }),
    }
}

#[test]
fn random_graphs_never_panic() {
    let mut r = SplitMix64::new(2026);
    let (mut loaded, mut backward) = (0, 0);
    for _ in 0..30_000 {
        let bytes = graph(&mut r).encode_to_vec();
        let Ok(model) = Model::from_bytes(&bytes) else {
            continue;
        };
        loaded += 1;
        let Some(v) = model.inputs().next() else {
            continue;
        };
        let shape: Vec<usize> = v
            .dims
            .iter()
            .flatten()
            .map(|d| match d {
                crate::Dim::Fixed(n) => *n,
                crate::Dim::Dynamic(_) => 1,
            })
            .collect();
        let n = shape.iter().product();
        let x = crate::Tensor::f32(shape, r.vec(n, -2.0, 2.0)).unwrap();
        if let Ok(fwd) = model.forward([("x", x)]) {
            if fwd.backward_sum().is_ok() {
                backward += 1;
            }
        }
    }
    println!("random graphs: {loaded} loaded, {backward} ran forward and backward");
    assert!(backward > 100);
}
