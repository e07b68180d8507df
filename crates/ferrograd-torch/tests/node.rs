//! `ferrograd_torch::node`: `#[differentiable]` slice-level functions and tensor-level
//! closures as autograd nodes, checked against finite differences and native autograd.

use std::sync::Arc;

use ferrograd::differentiable;
// Kernels are found with their `_pullback`s by name.
use ferrograd_kernels::*;
use ferrograd_torch::gradcheck::{compare_with_native, gradcheck, Options};
use ferrograd_torch::node::{apply_fn, slice_node, value_and_grad_node, Pullback};
use ferrograd_torch::{backward, backward_with, to_vec, Error, GradOptions};
use tch::nn::VarStore;
use tch::{Device, Kind, Tensor};

#[path = "../examples/w1a/mod.rs"]
mod w1a;

/// Finite differences through f32 code wrapped in f64 casts: f32 round-off over ε.
const F32_FD: Options = Options {
    eps: 1e-3,
    atol: 2e-3,
    rtol: 1e-2,
};
/// f32 node against f32 native autograd (different summation orders).
const F32_NATIVE: Options = Options {
    eps: 0.0,
    atol: 2e-5,
    rtol: 1e-4,
};

fn seeded(shape: &[i64], kind: Kind, seed: i64) -> Tensor {
    tch::manual_seed(seed);
    Tensor::randn(shape, (kind, Device::Cpu))
}

fn values(t: &Tensor) -> Vec<f64> {
    Vec::<f64>::try_from(&t.detach().to_kind(Kind::Double).reshape([-1])).expect("values")
}

fn assert_msg(err: &Error, needle: &str) {
    let msg = err.to_string();
    assert!(
        msg.contains(needle),
        "error `{msg}` should mention `{needle}`"
    );
}

fn report(name: &str, r: Result<ferrograd_torch::gradcheck::GradcheckReport, Error>) {
    match r {
        Ok(r) => println!("{name}: {r}"),
        Err(e) => panic!("{name}: {e}"),
    }
}

// ---- a fused linear + relu over ferrograd kernels (f32)

/// A fused linear + ReLU over kernels; `#[differentiable]` generates `linear_relu_pullback`.
#[differentiable(reverse_only)]
#[expect(
    clippy::too_many_arguments,
    reason = "the kernel-level AD calling convention"
)]
fn linear_relu(
    out: &mut [f32],
    pre: &mut [f32],
    x: &[f32],
    w: &[f32],
    b: &[f32],
    batch: usize,
    in_f: usize,
    out_f: usize,
) -> Result<(), KernelError> {
    linear(pre, x, w, b, batch, in_f, out_f)?;
    relu(out, pre)?;
    Ok(())
}

/// `relu(x·wᵀ + b)` as one node; `x: [batch, in_f]`, `w: [out_f, in_f]`, `b: [out_f]`.
fn linear_relu_node(x: &Tensor, w: &Tensor, b: &Tensor) -> Result<Tensor, Error> {
    let (batch, out_f) = (x.size()[0], w.size()[0]);
    let in_f = x.size().get(1).copied().unwrap_or(0);
    let [batch_u, in_u, out_u] = [batch, in_f, out_f].map(|d| d as usize);
    slice_node(
        "linear_relu",
        &[x, w, b],
        &[batch, out_f],
        |[x, w, b], out| {
            let mut pre = vec![0.0f32; out.len()];
            linear_relu(out, &mut pre, x, w, b, batch_u, in_u, out_u)?;
            Ok(pre)
        },
        move |pre, p: Pullback<f32, 3>| {
            let [x, w, b] = p.inputs;
            let [d_x, d_w, d_b] = p.d_inputs;
            let mut d_pre = vec![0.0f32; pre.len()];
            linear_relu_pullback(
                p.out, pre, x, w, b, batch_u, in_u, out_u, p.d_out, &mut d_pre, d_x, d_w, d_b,
            )?;
            Ok(())
        },
    )
}

fn linear_relu_native(x: &Tensor, w: &Tensor, b: &Tensor) -> Tensor {
    x.matmul(&w.tr()).f_add(b).expect("add").relu()
}

/// Inputs in f64 for the checkers; the node runs on f32 copies (casts are native ops).
fn f32_shell<F>(f: F) -> impl FnMut(&[Tensor]) -> Result<Vec<Tensor>, Error>
where
    F: Fn(&[Tensor]) -> Result<Tensor, Error>,
{
    move |xs: &[Tensor]| {
        let xs32: Vec<Tensor> = xs
            .iter()
            .map(|t| t.f_to_kind(Kind::Float))
            .collect::<Result<_, _>>()?;
        Ok(vec![f(&xs32)?.f_to_kind(Kind::Double)?])
    }
}

fn linear_relu_inputs() -> [Tensor; 3] {
    // Pre-activations stay ≥ 0.05 away from the relu kink (checked below), so central
    // differences with ε = 1e-3 never straddle it.
    let x = seeded(&[3, 4], Kind::Double, 1);
    let w = seeded(&[5, 4], Kind::Double, 2);
    let b = seeded(&[5], Kind::Double, 3);
    let pre = x.matmul(&w.tr()) + &b;
    let closest = values(&pre.abs()).into_iter().fold(f64::INFINITY, f64::min);
    assert!(closest > 0.05, "test data too close to the kink: {closest}");
    [x, w, b].map(|t| t.set_requires_grad(true))
}

#[test]
fn linear_relu_node_matches_finite_differences_and_native() {
    let [x, w, b] = linear_relu_inputs();
    let node = |t: &[Tensor]| linear_relu_node(&t[0], &t[1], &t[2]);
    let native = |t: &[Tensor]| Ok(linear_relu_native(&t[0], &t[1], &t[2]));
    report(
        "linear_relu vs finite differences",
        gradcheck(f32_shell(node), &[&x, &w, &b], F32_FD),
    );
    report(
        "linear_relu vs native f32",
        compare_with_native(
            f32_shell(node),
            f32_shell(native),
            &[&x, &w, &b],
            F32_NATIVE,
        ),
    );
}

#[test]
fn forward_writes_the_output_tensor_and_reads_inputs_in_place() -> Result<(), Error> {
    let x = Tensor::from_slice(&[1.0f32, -2.0, 3.0, 0.5]).view([2, 2]);
    let w = Tensor::from_slice(&[1.0f32, 1.0, -1.0, 2.0]).view([2, 2]);
    let b = Tensor::from_slice(&[0.0f32, 0.5]);
    let y = linear_relu_node(&x, &w, &b)?;
    assert_eq!(y.size(), [2, 2]);
    assert_eq!(y.kind(), Kind::Float);
    // rows: [1-2, -1-4+.5] = [-1, -4.5] -> [0, 0]; [3+.5, -3+1+.5] = [3.5, -1.5] -> [3.5, 0]
    assert_eq!(values(&y), [0.0, 0.0, 3.5, 0.0]);
    assert!(!y.requires_grad(), "no input requires grad: no node");
    Ok(())
}

// ---- a pure-Rust f64 function: generated pullback, checked to 1e-10

#[differentiable]
fn smooth_affine(out: &mut [f64], x: &[f64], a: &[f64], n: usize) {
    for i in 0..n {
        out[i] = (a[i] * x[i]).tanh() + x[i] * x[i] * a[i];
    }
}

fn smooth_affine_node(x: &Tensor, a: &Tensor) -> Result<Tensor, Error> {
    let n = x.numel();
    slice_node(
        "smooth_affine",
        &[x, a],
        &x.size(),
        |[x, a], out| {
            smooth_affine(out, x, a, n);
            Ok(())
        },
        move |(), p: Pullback<f64, 2>| {
            let ([x, a], [d_x, d_a]) = (p.inputs, p.d_inputs);
            smooth_affine_pullback(p.out, x, a, n, p.d_out, d_x, d_a);
            Ok(())
        },
    )
}

fn smooth_affine_native(x: &Tensor, a: &Tensor) -> Tensor {
    (a * x).tanh() + x * x * a
}

fn f64_inputs() -> (Tensor, Tensor) {
    (
        seeded(&[2, 3], Kind::Double, 10).set_requires_grad(true),
        seeded(&[2, 3], Kind::Double, 11).set_requires_grad(true),
    )
}

#[test]
fn f64_slice_node_matches_finite_differences_and_native_to_1e_10() {
    let (x, a) = f64_inputs();
    let node = |t: &[Tensor]| Ok(vec![smooth_affine_node(&t[0], &t[1])?]);
    let native = |t: &[Tensor]| Ok(vec![smooth_affine_native(&t[0], &t[1])]);
    report(
        "smooth_affine vs finite differences",
        gradcheck(node, &[&x, &a], Options::FINITE_DIFFERENCES),
    );
    report(
        "smooth_affine vs native",
        compare_with_native(node, native, &[&x, &a], Options::NATIVE),
    );
}

#[test]
fn mixed_graph_native_node_native_matches_all_native_to_1e_10() {
    let (x, a) = f64_inputs();
    // native (sin, ·2) → node → native (exp, mean over a dim, ·a) → loss
    let mixed = |t: &[Tensor]| {
        let u = t[0].f_sin()?.f_mul_scalar(2.0)?;
        let y = smooth_affine_node(&u, &t[1])?;
        let z = y.f_exp()?.f_mean_dim(1, false, Kind::Double)?;
        Ok(vec![z.f_mul(&t[1].f_select(1, 0)?)?.f_sum(Kind::Double)?])
    };
    let native = |t: &[Tensor]| {
        let u = t[0].sin() * 2.0;
        let y = smooth_affine_native(&u, &t[1]);
        let z = y.exp().mean_dim(1, false, Kind::Double);
        Ok(vec![(z * t[1].select(1, 0)).sum(Kind::Double)])
    };
    report(
        "mixed graph vs finite differences",
        gradcheck(mixed, &[&x, &a], Options::FINITE_DIFFERENCES),
    );
    report(
        "mixed graph vs all-native",
        compare_with_native(mixed, native, &[&x, &a], Options::NATIVE),
    );
}

#[test]
fn a_wrong_pullback_fails_the_checks() {
    // The checks can fail: a pullback that forgets the tanh term.
    let (x, a) = f64_inputs();
    let wrong = |t: &[Tensor]| {
        let n = t[0].numel();
        Ok(vec![slice_node(
            "wrong",
            &[&t[0], &t[1]],
            &t[0].size(),
            |[x, a], out| {
                smooth_affine(out, x, a, n);
                Ok(())
            },
            |(), p: Pullback<f64, 2>| {
                let ([x, a], [d_x, d_a]) = (p.inputs, p.d_inputs);
                for i in 0..x.len() {
                    d_x[i] += 2.0 * x[i] * a[i] * p.d_out[i];
                    d_a[i] += x[i] * x[i] * p.d_out[i];
                }
                Ok(())
            },
        )?])
    };
    let native = |t: &[Tensor]| Ok(vec![smooth_affine_native(&t[0], &t[1])]);
    let err = compare_with_native(wrong, native, &[&x, &a], Options::NATIVE).unwrap_err();
    assert!(matches!(err, Error::GradcheckMismatch(_)), "{err}");
    let err = gradcheck(wrong, &[&x, &a], Options::FINITE_DIFFERENCES).unwrap_err();
    assert!(matches!(err, Error::GradcheckMismatch(_)), "{err}");
}

#[test]
fn inputs_without_grad_get_none_and_an_empty_adjoint() -> Result<(), Error> {
    let x = seeded(&[4], Kind::Double, 20).set_requires_grad(true);
    let a = seeded(&[4], Kind::Double, 21); // constant
    let a_adjoint_len = Arc::new(std::sync::Mutex::new(None));
    let seen = Arc::clone(&a_adjoint_len);
    let y = slice_node(
        "smooth_affine",
        &[&x, &a],
        &[4],
        |[x, a], out| {
            smooth_affine(out, x, a, 4);
            Ok(())
        },
        move |(), p: Pullback<f64, 2>| {
            let ([x, a], [d_x, d_a]) = (p.inputs, p.d_inputs);
            *seen.lock().map_err(|e| e.to_string())? = Some(d_a.len());
            smooth_affine_pullback(p.out, x, a, 4, p.d_out, d_x, d_a);
            Ok(())
        },
    )?;
    backward(&y.f_sum(Kind::Double)?)?;
    assert_eq!(*a_adjoint_len.lock().expect("lock"), Some(0));
    assert!(!a.grad().defined(), "constant input got a gradient");
    // d/dx [tanh(a x) + a x²] = a (1 − tanh²(a x)) + 2 a x
    let (xv, av, gv) = (values(&x), values(&a), values(&x.grad()));
    for i in 0..4 {
        let t = (av[i] * xv[i]).tanh();
        let expected = av[i] * (1.0 - t * t) + 2.0 * av[i] * xv[i];
        assert!((gv[i] - expected).abs() < 1e-12, "{} vs {expected}", gv[i]);
    }
    Ok(())
}

// ---- value_and_grad_node: a scalar f64 loss through its generated `_grad`

#[differentiable]
#[expect(
    clippy::needless_range_loop,
    reason = "indexed loops are what the macro differentiates"
)]
fn gauss_nll(mu: &[f64], log_sigma: &[f64], data: &[f64]) -> f64 {
    let s = log_sigma[0].exp();
    let mut acc = 0.0;
    for i in 0..data.len() {
        let z = (data[i] - mu[0]) / s;
        acc += 0.5 * z * z + log_sigma[0];
    }
    acc
}

fn gauss_nll_node(mu: &Tensor, log_sigma: &Tensor, data: &Tensor) -> Result<Tensor, Error> {
    value_and_grad_node(
        "gauss_nll",
        &[mu, log_sigma, data],
        |[m, l, d], [dm, dl, dd]| {
            if [&dm, &dl, &dd].iter().all(|s| !s.is_empty()) {
                return Ok(gauss_nll_grad(m, l, d, dm, dl, dd));
            }
            // The generated `_grad` indexes every adjoint; today only the generated
            // `_pullback` reads an empty one as "not wanted". Its seed-1 pullback is the
            // gradient (one more forward sweep for the value).
            gauss_nll_pullback(m, l, d, 1.0, dm, dl, dd);
            Ok(gauss_nll(m, l, d))
        },
    )
}

fn gauss_nll_native(mu: &Tensor, log_sigma: &Tensor, data: &Tensor) -> Tensor {
    let z = (data - mu) / log_sigma.exp();
    (z.square() * 0.5 + log_sigma).sum(Kind::Double)
}

#[test]
fn value_and_grad_node_matches_finite_differences_and_native_to_1e_10() {
    let mu = Tensor::from_slice(&[0.3f64]).set_requires_grad(true);
    let ls = Tensor::from_slice(&[-0.2f64]).set_requires_grad(true);
    let data = seeded(&[7], Kind::Double, 30).set_requires_grad(true);
    let node = |t: &[Tensor]| Ok(vec![gauss_nll_node(&t[0], &t[1], &t[2])?]);
    let native = |t: &[Tensor]| Ok(vec![gauss_nll_native(&t[0], &t[1], &t[2])]);
    report(
        "gauss_nll vs finite differences",
        gradcheck(node, &[&mu, &ls, &data], Options::FINITE_DIFFERENCES),
    );
    report(
        "gauss_nll vs native",
        compare_with_native(node, native, &[&mu, &ls, &data], Options::NATIVE),
    );
    // In a mixed graph whose seed is not 1: loss = 3·nll(mu², ls, data)
    let mixed = |t: &[Tensor]| {
        Ok(vec![
            gauss_nll_node(&t[0].f_square()?, &t[1], &t[2])?.f_mul_scalar(3.0)?
        ])
    };
    let native_mixed =
        |t: &[Tensor]| Ok(vec![gauss_nll_native(&t[0].square(), &t[1], &t[2]) * 3.0]);
    report(
        "3·gauss_nll(mu²) vs native",
        compare_with_native(mixed, native_mixed, &[&mu, &ls, &data], Options::NATIVE),
    );
}

#[test]
fn value_and_grad_node_skips_gradients_when_not_recording() -> Result<(), Error> {
    let mu = Tensor::from_slice(&[0.3f64]).set_requires_grad(true);
    let ls = Tensor::from_slice(&[-0.2f64]).set_requires_grad(true);
    let data = seeded(&[7], Kind::Double, 30);
    let lens = |mu: &Tensor| {
        let mut got = [usize::MAX; 3];
        let v = value_and_grad_node(
            "lens",
            &[mu, &ls, &data],
            |[m, l, d], ds: [&mut [f64]; 3]| {
                got = ds.each_ref().map(|s| s.len());
                Ok(gauss_nll(m, l, d))
            },
        )?;
        Ok::<_, Error>((got, v))
    };
    let (recorded, v) = lens(&mu)?;
    assert_eq!(recorded, [1, 1, 0], "data does not require grad");
    assert!(v.requires_grad());
    let (unrecorded, v) = tch::no_grad(|| lens(&mu))?;
    assert_eq!(unrecorded, [0, 0, 0], "no gradients under no_grad");
    assert!(!v.requires_grad());
    let expected = gauss_nll_native(&mu, &ls, &data).double_value(&[]);
    assert!((v.double_value(&[]) - expected).abs() < 1e-12);
    Ok(())
}

// ---- the W1a MLP loss (the example's and the benchmark's code)

fn w1a_setup(batch: usize) -> (VarStore, w1a::Mlp, Tensor, Vec<usize>) {
    tch::manual_seed(40);
    let vs = VarStore::new(Device::Cpu);
    let model = w1a::Mlp::new(&vs.root(), 12, 7, 5);
    let x = seeded(&[batch as i64, 12], Kind::Float, 41);
    let labels: Vec<usize> = (0..batch).map(|i| (i * 3 + 1) % 5).collect();
    (vs, model, x, labels)
}

#[test]
fn mlp_loss_nodes_match_native_autograd() -> Result<(), Error> {
    let (vs, model, x, labels) = w1a_setup(6);
    let labels_t = Tensor::from_slice(&labels.iter().map(|&l| l as i64).collect::<Vec<_>>());
    let grads = |loss: Tensor| -> Result<(f64, Vec<f64>), Error> {
        for mut v in vs.trainable_variables() {
            v.zero_grad();
        }
        backward(&loss)?;
        let g = vs
            .trainable_variables()
            .iter()
            .flat_map(|v| values(&v.grad()))
            .collect();
        Ok((loss.double_value(&[]), g))
    };
    let (l_native, g_native) = grads(w1a::native_loss(&model, &x, &labels_t))?;
    for kind in [w1a::NodeKind::Pullback, w1a::NodeKind::Grad] {
        let (l, g) = grads(w1a::node_loss(
            kind,
            &model,
            &x,
            &labels,
            &mut w1a::Scratch::new(),
        )?)?;
        assert!(
            (l - l_native).abs() < 1e-6,
            "{kind:?}: loss {l} vs {l_native}"
        );
        assert_eq!(g.len(), g_native.len());
        let worst = g
            .iter()
            .zip(&g_native)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f64::max);
        println!("{kind:?}: loss {l}, max |grad − native| = {worst:e}");
        assert!(worst < 1e-6, "{kind:?}: max gradient difference {worst}");
    }
    // x does not require grad; asking for it is a clear error, not a silent zero.
    let x_grad = x.set_requires_grad(true);
    for kind in [w1a::NodeKind::Pullback, w1a::NodeKind::Grad] {
        let err = w1a::node_loss(kind, &model, &x_grad, &labels, &mut w1a::Scratch::new())
            .and_then(|loss| backward(&loss))
            .unwrap_err();
        assert_msg(&err, "no gradient w.r.t. its input x");
    }
    Ok(())
}

// ---- tensor level: apply_fn

fn sin_mul(t: &[Tensor]) -> Result<Tensor, Error> {
    // z = x·sin(y); dx = dz·sin(y), dy = dz·x·cos(y)
    apply_fn(
        "sin_mul",
        &[&t[0], &t[1]],
        |i| &i[0] * i[1].sin(),
        |s, dz| vec![Some(dz * s[1].sin()), Some(dz * &s[0] * s[1].cos())],
    )
}

#[test]
fn apply_fn_matches_finite_differences_and_native() {
    let (x, y) = f64_inputs();
    let node = |t: &[Tensor]| Ok(vec![sin_mul(t)?.f_exp()?]);
    let native = |t: &[Tensor]| Ok(vec![(&t[0] * t[1].sin()).exp()]);
    report(
        "apply_fn vs finite differences",
        gradcheck(node, &[&x, &y], Options::FINITE_DIFFERENCES),
    );
    report(
        "apply_fn vs native",
        compare_with_native(node, native, &[&x, &y], Options::NATIVE),
    );
}

#[test]
fn apply_fn_errors_are_errs() {
    let (x, y) = f64_inputs();
    // Too few gradients.
    let z = apply_fn(
        "short",
        &[&x, &y],
        |i| &i[0] * &i[1],
        |_, dz| vec![Some(dz.copy())],
    )
    .expect("forward");
    let err = backward(&z.sum(Kind::Double)).unwrap_err();
    assert_msg(&err, "returned 1 gradients for 2 inputs");
    // A panicking tch op in forward (shape mismatch) is caught.
    let err = apply_fn(
        "bad_matmul",
        &[&x, &y],
        |i| i[0].matmul(&i[1]),
        |_, _| vec![None, None],
    )
    .unwrap_err();
    assert!(
        matches!(
            err,
            Error::Panic {
                phase: "forward",
                ..
            }
        ),
        "{err}"
    );
    // A gradient of the wrong shape is rejected by LibTorch.
    let z = apply_fn(
        "wrong_shape",
        &[&x],
        |i| i[0].sum(Kind::Double),
        |_, dz| vec![Some(dz.copy())],
    )
    .expect("forward");
    let err = backward(&z).unwrap_err();
    assert_msg(&err, "invalid gradient at index 0");
}

// ---- bad input

fn f32s(shape: &[i64]) -> Tensor {
    Tensor::ones(shape, (Kind::Float, Device::Cpu))
}

#[test]
fn wrong_dtype_names_the_input() {
    let err = linear_relu_node(
        &f32s(&[2, 3]),
        &f32s(&[4, 3]).to_kind(Kind::Double),
        &f32s(&[4]),
    )
    .unwrap_err();
    assert!(matches!(err, Error::Dtype { .. }), "{err}");
    assert_msg(&err, "input 1 of `linear_relu`");
    assert_msg(&err, "Float");
}

#[test]
fn non_contiguous_input_is_rejected_not_copied() {
    let w = f32s(&[3, 4]).tr(); // [4, 3], strides (1, 4)
    let err = linear_relu_node(&f32s(&[2, 3]), &w, &f32s(&[4])).unwrap_err();
    assert!(matches!(err, Error::NotContiguous { .. }), "{err}");
    assert_msg(&err, "input 1 of `linear_relu`");
    assert_msg(&err, ".contiguous()");
    assert!(linear_relu_node(&f32s(&[2, 3]), &w.contiguous(), &f32s(&[4])).is_ok());
}

#[test]
fn meta_tensor_is_rejected() -> Result<(), Error> {
    let x = ferrograd_torch::to_meta(&f32s(&[2, 3]))?;
    let err = linear_relu_node(&x, &f32s(&[4, 3]), &f32s(&[4])).unwrap_err();
    assert!(matches!(err, Error::Device { device: "meta", .. }), "{err}");
    assert_msg(&err, "input 0 of `linear_relu`");
    Ok(())
}

#[test]
fn wrong_shape_is_reported_by_the_kernel() {
    // b has 5 entries for out_f = 4.
    let err = linear_relu_node(&f32s(&[2, 3]), &f32s(&[4, 3]), &f32s(&[5])).unwrap_err();
    assert_msg(&err, "`linear_relu` forward");
    assert_msg(&err, "linear");
    assert_msg(&err, "b");
}

#[test]
fn wrong_number_of_inputs() {
    let x = f32s(&[2]);
    let err = slice_node(
        "two_inputs",
        &[&x],
        &[2],
        |[_, _]: [&[f32]; 2], _out| Ok(()),
        |(), _p: Pullback<f32, 2>| Ok(()),
    )
    .unwrap_err();
    assert!(
        matches!(
            err,
            Error::InputCount {
                expected: 2,
                got: 1,
                ..
            }
        ),
        "{err}"
    );
    assert_msg(&err, "`two_inputs` expects 2 tensor inputs, got 1");
}

#[test]
fn panics_and_pullback_errors_are_errs() -> Result<(), Error> {
    let x = f32s(&[3]).set_requires_grad(true);
    let err = slice_node(
        "panics",
        &[&x],
        &[3],
        |[x]: [&[f32]; 1], out| {
            out[0] = x[7];
            Ok(())
        },
        |(), _p: Pullback<f32, 1>| Ok(()),
    )
    .unwrap_err();
    assert!(
        matches!(
            err,
            Error::Panic {
                phase: "forward",
                ..
            }
        ),
        "{err}"
    );
    let y = slice_node(
        "fails_backward",
        &[&x],
        &[3],
        |[x], out| {
            out.copy_from_slice(x);
            Ok(())
        },
        |(), _p: Pullback<f32, 1>| Err("no derivative today".into()),
    )?;
    let err = backward(&y.f_sum(Kind::Float)?).unwrap_err();
    assert_msg(&err, "`fails_backward` backward: no derivative today");
    // The process and the tensors are intact.
    assert_eq!(values(&x), [1.0, 1.0, 1.0]);
    Ok(())
}

#[test]
fn backward_twice_needs_retain_graph() -> Result<(), Error> {
    let (x, a) = f64_inputs();
    let loss = smooth_affine_node(&x, &a)?.f_sum(Kind::Double)?;
    let retain = GradOptions {
        retain_graph: true,
        ..GradOptions::default()
    };
    backward_with(&[&loss], &[], retain)?;
    let once = values(&x.grad());
    backward(&loss)?;
    let twice = values(&x.grad());
    for (o, t) in once.iter().zip(&twice) {
        assert!(
            (t - 2.0 * o).abs() < 1e-12,
            "retained graph gives the same gradient again"
        );
    }
    let err = backward(&loss).unwrap_err();
    assert_msg(&err, "second time");
    // Same for the value-and-grad node, whose gradients are saved tensors.
    let (mu, ls) = (
        Tensor::from_slice(&[0.1f64]).set_requires_grad(true),
        Tensor::from_slice(&[0.2f64]).set_requires_grad(true),
    );
    let loss = gauss_nll_node(&mu, &ls, &a.detach().reshape([-1]))?;
    backward(&loss)?;
    let err = backward(&loss).unwrap_err();
    assert_msg(&err, "second time");
    Ok(())
}

/// (b) the tensor-level node gives the same gradients as native autograd on the W1a model.
#[test]
fn w1a_tensor_level_node_matches_native() -> Result<(), Error> {
    use tch::nn::VarStore;
    tch::manual_seed(3);
    let vs = VarStore::new(tch::Device::Cpu);
    let model = w1a::Mlp::new(&vs.root(), w1a::D_IN, w1a::D_HIDDEN, w1a::CLASSES);
    let x = Tensor::randn([8, w1a::D_IN as i64], (tch::Kind::Float, tch::Device::Cpu));
    let labels = Tensor::from_slice(&[1i64, 3, 5, 7, 9, 0, 2, 4]);
    let grads = |use_node: bool| -> Result<Vec<Tensor>, Error> {
        for v in vs.trainable_variables() {
            let mut g = v.grad();
            if g.defined() {
                let _ = g.zero_();
            }
        }
        let loss = if use_node {
            w1a::tensor_level_loss(&model, &x, &labels)?
        } else {
            w1a::native_loss(&model, &x, &labels)
        };
        ferrograd_torch::backward(&loss)?;
        Ok(vs
            .trainable_variables()
            .iter()
            .map(|v| v.grad().copy())
            .collect())
    };
    let node = grads(true)?;
    let native = grads(false)?;
    let mut max = 0.0f64;
    for (a, b) in node.iter().zip(&native) {
        max = max.max((a - b).abs().max().double_value(&[]));
    }
    println!("W1a tensor-level node vs native: max grad diff {max:.2e}");
    assert!(max < 1e-6, "{max}");
    Ok(())
}

/// The closures of slice-level nodes get copies of the inputs, not views of storage the
/// caller still holds: an in-place write through another handle (here from inside the
/// closure, the case a view could not survive) leaves what the closure reads unchanged.
#[test]
fn slice_nodes_read_copies_of_shared_inputs() -> Result<(), Error> {
    let x = Tensor::from_slice(&[1.0f64, 2.0]).set_requires_grad(true);
    let mut alias = x.detach();
    let y = slice_node::<f64, (), _, _, 1>(
        "probe",
        &[&x],
        &[2],
        |[xs], out| {
            let before = xs.to_vec();
            let _ = alias.f_add_scalar_(10.0)?;
            assert_eq!(xs, before.as_slice());
            out.copy_from_slice(xs);
            Ok(())
        },
        |_, _| Ok(()),
    )?;
    assert_eq!(to_vec::<f64>(&y)?, [1.0, 2.0]);
    assert_eq!(to_vec::<f64>(&x)?, [11.0, 12.0]);
    let mut alias = x.detach();
    let v = value_and_grad_node::<f64, _, 1>("probe_sum", &[&x], |[xs], _| {
        let _ = alias.f_add_scalar_(10.0)?;
        Ok(xs.iter().sum())
    })?;
    assert_eq!(to_vec::<f64>(&v)?, [23.0]);
    Ok(())
}
