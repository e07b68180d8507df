//! Every op's pullback against central finite differences of its own forward, on random
//! inputs, through `Op::parse` (so attribute parsing is covered too): the ops and forms the
//! PyTorch-exported test models do not reach (denominator and exponent adjoints, exact GELU,
//! groups, padding modes, negative axes and indices, …).

use super::Op;
use crate::proto::{AttributeProto, NodeProto};
use crate::tensor::{Data, Tensor};
use ferrograd_testkit::SplitMix64;

enum A {
    I(i64),
    F(f32),
    Is(&'static [i64]),
    S(&'static str),
}

fn node(op: &str, n_in: usize, attrs: &[(&str, A)]) -> NodeProto {
    NodeProto {
        input: (0..n_in).map(|i| format!("i{i}")).collect(),
        output: vec!["y".into()],
        name: "n".into(),
        op_type: op.into(),
        domain: String::new(),
        attribute: attrs
            .iter()
            .map(|(name, a)| {
                let mut p = AttributeProto {
                    name: (*name).into(),
                    ..Default::default()
                };
                match a {
                    A::I(v) => (p.r#type, p.i) = (2, *v),
                    A::F(v) => (p.r#type, p.f) = (1, *v),
                    A::Is(v) => (p.r#type, p.ints) = (7, v.to_vec()),
                    A::S(v) => (p.r#type, p.s) = (3, v.as_bytes().to_vec()),
                }
                p
            })
            .collect(),
    }
}

fn rand(rng: &mut SplitMix64, shape: &[usize], lo: f32, hi: f32) -> Tensor {
    let n = shape.iter().product();
    Tensor::f32(shape.to_vec(), rng.vec(n, lo, hi)).unwrap()
}

/// Distinct values 0.05 apart, shuffled: no max-pool window has a near tie that a finite
/// difference step could cross.
fn distinct(rng: &mut SplitMix64, shape: &[usize]) -> Tensor {
    let n: usize = shape.iter().product();
    let mut v: Vec<f32> = (0..n).map(|i| i as f32 * 0.05 - n as f32 * 0.025).collect();
    for i in (1..n).rev() {
        v.swap(i, rng.below(i + 1));
    }
    Tensor::f32(shape.to_vec(), v).unwrap()
}

fn ints(shape: &[usize], v: &[i64]) -> Tensor {
    Tensor::i64(shape.to_vec(), v.to_vec()).unwrap()
}

/// Σ w·forward(inputs), in f64.
fn objective(op: &Op, ins: &[Tensor], w: &[f32]) -> f64 {
    let refs: Vec<Option<&Tensor>> = ins.iter().map(Some).collect();
    let y = op.forward(&refs).unwrap();
    y.as_f32()
        .unwrap()
        .iter()
        .zip(w)
        .map(|(a, b)| f64::from(*a) * f64::from(*b))
        .sum()
}

/// Checks the pullback of `op` (from `node`, opset 20) at `ins` against finite differences.
fn check(what: &str, node: NodeProto, ins: Vec<Tensor>) {
    check_opset(what, node, ins, 20);
}

fn check_opset(what: &str, node: NodeProto, ins: Vec<Tensor>, opset: i64) {
    let op = Op::parse(&node, opset).unwrap_or_else(|e| panic!("{what}: {e}"));
    let mut rng = SplitMix64::new(7);
    let refs: Vec<Option<&Tensor>> = ins.iter().map(Some).collect();
    let y = op.forward(&refs).unwrap_or_else(|e| panic!("{what}: {e}"));
    let w = rng.vec(y.len(), -1.0, 1.0);
    let mut d_ins: Vec<Vec<f32>> = ins
        .iter()
        .map(|t| {
            if t.is_f32() {
                vec![0.0; t.len()]
            } else {
                vec![]
            }
        })
        .collect();
    op.pullback(&refs, &y, &w, &mut d_ins).unwrap();
    let h = 1e-2f32;
    let mut worst = 0f64;
    for (k, t) in ins.iter().enumerate() {
        if !t.is_f32() {
            continue;
        }
        for i in 0..t.len() {
            let bump = |delta: f32| {
                let mut v = ins.clone();
                let mut data = v[k].as_f32().unwrap().to_vec();
                data[i] += delta;
                v[k] = Tensor::new(t.shape().to_vec(), Data::F32(data)).unwrap();
                objective(&op, &v, &w)
            };
            let fd = (bump(h) - bump(-h)) / (2.0 * f64::from(h));
            let g = f64::from(d_ins[k][i]);
            let err = (fd - g).abs() / fd.abs().max(1.0);
            worst = worst.max(err);
            assert!(
                err < 2e-2,
                "{what}: input {k}[{i}]: pullback {g}, finite difference {fd}"
            );
        }
    }
    println!("{what}: max rel diff to finite differences {worst:.1e}");
}

#[test]
fn elementwise_pullbacks() {
    let mut r = SplitMix64::new(1);
    for op in ["Add", "Sub", "Mul", "Div"] {
        let a = rand(&mut r, &[2, 3, 4], -1.0, 1.0);
        let b = rand(&mut r, &[3, 1], 0.5, 1.5);
        check(op, node(op, 2, &[]), vec![a, b]);
    }
    let a = rand(&mut r, &[3, 4], 0.5, 2.0);
    let b = rand(&mut r, &[4], 0.5, 2.5);
    check("Pow", node("Pow", 2, &[]), vec![a, b]);
    for op in ["Sqrt", "Log"] {
        check(op, node(op, 1, &[]), vec![rand(&mut r, &[5, 3], 0.5, 2.0)]);
    }
    for op in ["Erf", "Exp", "Neg", "Relu", "Sigmoid", "Tanh", "Gelu"] {
        check(op, node(op, 1, &[]), vec![rand(&mut r, &[5, 3], -2.0, 2.0)]);
    }
    let x = rand(&mut r, &[5, 3], -2.0, 2.0);
    check(
        "Gelu tanh",
        node("Gelu", 1, &[("approximate", A::S("tanh"))]),
        vec![x.clone()],
    );
    check(
        "LeakyRelu",
        node("LeakyRelu", 1, &[("alpha", A::F(0.2))]),
        vec![x.clone()],
    );
    check("Identity", node("Identity", 1, &[]), vec![x.clone()]);
    check(
        "Cast to float",
        node("Cast", 1, &[("to", A::I(1))]),
        vec![x.clone()],
    );
    check("Dropout", node("Dropout", 1, &[]), vec![x]);
    let cast = Op::parse(&node("Cast", 1, &[("to", A::I(7))]), 20).unwrap();
    let y = cast
        .forward(&[Some(&Tensor::f32(vec![3], vec![-1.7, 0.2, 2.9]).unwrap())])
        .unwrap();
    assert_eq!(y, ints(&[3], &[-1, 0, 2]));
}

#[test]
fn matmul_and_gemm_pullbacks() {
    let mut r = SplitMix64::new(2);
    let a = rand(&mut r, &[2, 1, 3, 4], -1.0, 1.0);
    let b = rand(&mut r, &[3, 4, 2], -1.0, 1.0);
    check(
        "MatMul batched, broadcast",
        node("MatMul", 2, &[]),
        vec![a, b],
    );
    let a = rand(&mut r, &[4], -1.0, 1.0);
    let b = rand(&mut r, &[2, 4, 3], -1.0, 1.0);
    check("MatMul 1-D lhs", node("MatMul", 2, &[]), vec![a, b]);
    let a = rand(&mut r, &[4, 3], -1.0, 1.0);
    let b = rand(&mut r, &[5, 4], -1.0, 1.0);
    let c = rand(&mut r, &[1, 5], -1.0, 1.0);
    let attrs = [
        ("transA", A::I(1)),
        ("transB", A::I(1)),
        ("alpha", A::F(0.7)),
        ("beta", A::F(1.3)),
    ];
    check("Gemm transposed", node("Gemm", 3, &attrs), vec![a, b, c]);
}

#[test]
fn conv_and_pool_pullbacks() {
    let mut r = SplitMix64::new(3);
    let x = rand(&mut r, &[2, 4, 7, 6], -1.0, 1.0);
    let w = rand(&mut r, &[6, 2, 3, 2], -1.0, 1.0);
    let b = rand(&mut r, &[6], -1.0, 1.0);
    let attrs = [
        ("group", A::I(2)),
        ("strides", A::Is(&[2, 1])),
        ("pads", A::Is(&[1, 0, 1, 1])),
        ("dilations", A::Is(&[1, 2])),
    ];
    check("Conv 2-D groups", node("Conv", 3, &attrs), vec![x, w, b]);
    let x = rand(&mut r, &[2, 3, 11], -1.0, 1.0);
    let w = rand(&mut r, &[4, 3, 3], -1.0, 1.0);
    let b = rand(&mut r, &[4], -1.0, 1.0);
    let attrs = [
        ("strides", A::Is(&[2])),
        ("pads", A::Is(&[2, 2])),
        ("dilations", A::Is(&[2])),
    ];
    check(
        "Conv 1-D (ferrograd-kernels)",
        node("Conv", 3, &attrs),
        vec![x.clone(), w.clone(), b],
    );
    check(
        "Conv 1-D no bias (ferrograd-kernels)",
        node("Conv", 2, &[]),
        vec![x, w],
    );
    let x = rand(&mut r, &[1, 2, 10], -1.0, 1.0); // asymmetric SAME padding: not the kernel path
    let w = rand(&mut r, &[3, 2, 3], -1.0, 1.0);
    check(
        "Conv 1-D SAME_UPPER",
        node(
            "Conv",
            2,
            &[("auto_pad", A::S("SAME_UPPER")), ("strides", A::Is(&[2]))],
        ),
        vec![x].into_iter().chain([w]).collect(),
    );
    let x = distinct(&mut r, &[2, 2, 7, 5]);
    let attrs = [
        ("kernel_shape", A::Is(&[3, 2])),
        ("strides", A::Is(&[2, 2])),
        ("pads", A::Is(&[1, 1, 1, 0])),
        ("ceil_mode", A::I(1)),
    ];
    check("MaxPool 2-D", node("MaxPool", 1, &attrs), vec![x.clone()]);
    check(
        "AveragePool 2-D",
        node("AveragePool", 1, &attrs),
        vec![x.clone()],
    );
    let incl = [
        ("kernel_shape", A::Is(&[3, 3])),
        ("pads", A::Is(&[1, 1, 1, 1])),
        ("count_include_pad", A::I(1)),
    ];
    check(
        "AveragePool count_include_pad",
        node("AveragePool", 1, &incl),
        vec![x.clone()],
    );
    check(
        "GlobalAveragePool",
        node("GlobalAveragePool", 1, &[]),
        vec![x],
    );
    let x = distinct(&mut r, &[2, 3, 10]);
    check(
        "MaxPool 1-D",
        node("MaxPool", 1, &[("kernel_shape", A::Is(&[3]))]),
        vec![x],
    );
}

#[test]
fn normalization_pullbacks() {
    let mut r = SplitMix64::new(4);
    let x = rand(&mut r, &[3, 4, 2], -2.0, 2.0);
    check(
        "Softmax axis 0",
        node("Softmax", 1, &[("axis", A::I(0))]),
        vec![x.clone()],
    );
    check(
        "LogSoftmax axis 1",
        node("LogSoftmax", 1, &[("axis", A::I(1))]),
        vec![x.clone()],
    );
    let s = rand(&mut r, &[4, 2], 0.5, 1.5);
    let b = rand(&mut r, &[4, 2], -1.0, 1.0);
    check(
        "LayerNormalization axis -2",
        node("LayerNormalization", 3, &[("axis", A::I(-2))]),
        vec![x, s, b],
    );
    let x = rand(&mut r, &[2, 3, 4], -2.0, 2.0);
    let p: Vec<Tensor> = (0..4)
        .map(|i| rand(&mut r, &[3], if i == 3 { 0.5 } else { -1.0 }, 1.5))
        .collect();
    let mut ins = vec![x];
    ins.extend(p);
    check(
        "BatchNormalization",
        node("BatchNormalization", 5, &[("epsilon", A::F(1e-3))]),
        ins,
    );
}

#[test]
fn shape_and_reduce_pullbacks() {
    let mut r = SplitMix64::new(5);
    let x = rand(&mut r, &[2, 3, 4], -1.0, 1.0);
    check(
        "Transpose",
        node("Transpose", 1, &[("perm", A::Is(&[2, 0, 1]))]),
        vec![x.clone()],
    );
    let y = rand(&mut r, &[2, 2, 4], -1.0, 1.0);
    check(
        "Concat",
        node("Concat", 2, &[("axis", A::I(-2))]),
        vec![x.clone(), y],
    );
    check(
        "Gather axis 1",
        node("Gather", 2, &[("axis", A::I(1))]),
        vec![x.clone(), ints(&[2, 2], &[2, -3, 0, 2])],
    );
    check(
        "Flatten",
        node("Flatten", 1, &[("axis", A::I(2))]),
        vec![x.clone()],
    );
    check(
        "Reshape",
        node("Reshape", 2, &[]),
        vec![x.clone(), ints(&[3], &[0, -1, 2])],
    );
    check(
        "Unsqueeze",
        node("Unsqueeze", 2, &[]),
        vec![x.clone(), ints(&[2], &[0, -1])],
    );
    let z = rand(&mut r, &[2, 1, 4], -1.0, 1.0);
    check(
        "Squeeze",
        node("Squeeze", 2, &[]),
        vec![z, ints(&[1], &[1])],
    );
    check(
        "ReduceSum",
        node("ReduceSum", 2, &[("keepdims", A::I(0))]),
        vec![x.clone(), ints(&[2], &[0, 2])],
    );
    check(
        "ReduceMean opset 18",
        node("ReduceMean", 2, &[]),
        vec![x.clone(), ints(&[1], &[-1])],
    );
    check_opset(
        "ReduceMean opset 17",
        node(
            "ReduceMean",
            1,
            &[("axes", A::Is(&[1])), ("keepdims", A::I(0))],
        ),
        vec![x.clone()],
        17,
    );
    check("ReduceSum all", node("ReduceSum", 1, &[]), vec![x]);
}

#[test]
fn shape_op_and_bad_inputs() {
    let x = Tensor::zeros(vec![2, 3, 4]);
    let op = Op::parse(&node("Shape", 1, &[("start", A::I(1))]), 20).unwrap();
    assert_eq!(op.forward(&[Some(&x)]).unwrap(), ints(&[2], &[3, 4]));
    // Bad shapes are errors, not panics.
    let add = Op::parse(&node("Add", 2, &[]), 20).unwrap();
    let y = Tensor::zeros(vec![5]);
    assert!(add
        .forward(&[Some(&x), Some(&y)])
        .unwrap_err()
        .contains("do not broadcast"));
    assert!(add.forward(&[Some(&x)]).unwrap_err().contains("missing"));
    let mm = Op::parse(&node("MatMul", 2, &[]), 20).unwrap();
    assert!(mm.forward(&[Some(&x), Some(&x)]).is_err());
    let r = Op::parse(&node("Reshape", 2, &[]), 20).unwrap();
    assert!(r.forward(&[Some(&x), Some(&ints(&[1], &[5]))]).is_err());
    let conv = Op::parse(&node("Conv", 2, &[]), 20).unwrap();
    assert!(conv
        .forward(&[Some(&x), Some(&Tensor::zeros(vec![2, 2, 9]))])
        .is_err());
    let bad = Op::parse(&node("Gelu", 1, &[("approximate", A::S("cubic"))]), 20);
    assert!(bad.is_err());
    assert!(Op::parse(&node("Relu", 1, &[("alpha", A::I(1))]), 20).is_ok());
    assert!(Op::parse(&node("LeakyRelu", 1, &[("alpha", A::I(1))]), 20)
        .unwrap_err()
        .contains("type"));
}
