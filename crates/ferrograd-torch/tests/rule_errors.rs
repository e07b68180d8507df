//! Issue 10: every public function of `ferrograd_torch::rules`, called directly with
//! arguments that do not fit its op — mismatched shapes, a wrong dtype, zero-size,
//! undefined or sparse tensors, tensors on two devices — returns an `Err` whose one-line
//! message names the rule (and the shapes, for shape errors) instead of panicking inside
//! tch. Non-contiguous arguments are valid and give the contiguous result. A control
//! checks that the good calls are `Ok` and, for a few rules, agree with LibTorch autograd.

use ferrograd_torch::{rules, to_meta, Error};
use tch::{Kind, Tensor};

type Call = fn(&[Tensor]) -> Result<Vec<Tensor>, Error>;

/// One public rule with arguments that fit it.
struct Case {
    rule: &'static str,
    /// The tensor arguments, in the rule's order.
    args: Vec<Tensor>,
    /// Which of `args` is the adjoint (`d`, or `g` for the accumulation helpers).
    d: usize,
    /// The rule on `args`, its tensor results flattened.
    call: Call,
    /// Replacements (argument index, shape) that make the shapes inconsistent.
    bad_shapes: Vec<(usize, Vec<i64>)>,
}

fn randn(shape: &[i64]) -> Tensor {
    Tensor::randn(shape, (Kind::Double, tch::Device::Cpu))
}

fn classes(n: i64, shape: &[i64]) -> Tensor {
    Tensor::randint(n, shape, (Kind::Int64, tch::Device::Cpu))
}

fn zeros_like_kind(shape: &[i64], like: &Tensor) -> Tensor {
    Tensor::zeros(shape, (like.kind(), like.device()))
}

fn case(
    rule: &'static str,
    args: Vec<Tensor>,
    d: usize,
    call: Call,
    bad_shapes: &[(usize, &[i64])],
) -> Case {
    Case {
        rule,
        args,
        d,
        call,
        bad_shapes: bad_shapes.iter().map(|&(i, s)| (i, s.to_vec())).collect(),
    }
}

fn two(r: (Tensor, Tensor)) -> Vec<Tensor> {
    vec![r.0, r.1]
}

fn three(r: (Tensor, Tensor, Option<Tensor>)) -> Vec<Tensor> {
    vec![r.0, r.1, r.2.expect("bias gradient")]
}

/// Every public function of `rules`, with good arguments (f64, CPU).
fn cases() -> Vec<Case> {
    let pointwise = |rule: &'static str, f: fn(&Tensor) -> Tensor, call: Call| {
        let x = randn(&[2, 3]).abs() + 0.5;
        let y = f(&x);
        case(
            rule,
            vec![x, y, randn(&[2, 3])],
            2,
            call,
            &[(2, &[3, 2]), (1, &[6])],
        )
    };
    let binary: [(&'static str, Call); 4] = [
        ("add_vjp", |a| Ok(two(rules::add_vjp(&a[0], &a[1], &a[2])?))),
        ("sub_vjp", |a| Ok(two(rules::sub_vjp(&a[0], &a[1], &a[2])?))),
        ("mul_vjp", |a| Ok(two(rules::mul_vjp(&a[0], &a[1], &a[2])?))),
        ("div_vjp", |a| Ok(two(rules::div_vjp(&a[0], &a[1], &a[2])?))),
    ];
    let mut out = vec![
        case(
            "acc",
            vec![randn(&[2, 3]), randn(&[2, 3])],
            1,
            |a| {
                let mut slot = Some(a[0].shallow_clone());
                rules::acc(&mut slot, a[1].shallow_clone())?;
                Ok(vec![slot.expect("accumulated")])
            },
            &[(1, &[3, 2]), (0, &[6])],
        ),
        case(
            "acc_into",
            vec![randn(&[2, 3]), randn(&[2, 3])],
            1,
            |a| {
                let mut dst = a[0].shallow_clone();
                rules::acc_into(&mut dst, Some(a[1].shallow_clone()))?;
                Ok(vec![dst])
            },
            &[(1, &[3, 2]), (0, &[6])],
        ),
        case(
            "unbroadcast",
            vec![randn(&[4, 3]), randn(&[3])],
            0,
            |a| Ok(vec![rules::unbroadcast(a[0].shallow_clone(), &a[1])?]),
            &[(1, &[4]), (1, &[5, 4, 3])],
        ),
        case(
            "neg_vjp",
            vec![randn(&[2, 3])],
            0,
            |a| Ok(vec![rules::neg_vjp(&a[0])?]),
            &[],
        ),
        case(
            "scale_vjp",
            vec![randn(&[2, 3])],
            0,
            |a| Ok(vec![rules::scale_vjp(&a[0], 1.5)?]),
            &[],
        ),
        case(
            "matmul_vjp",
            vec![randn(&[2, 3]), randn(&[3, 4]), randn(&[2, 4])],
            2,
            |a| Ok(two(rules::matmul_vjp(&a[0], &a[1], &a[2])?)),
            &[(1, &[5, 4]), (2, &[2, 5]), (0, &[2, 2, 3])],
        ),
        pointwise("relu_vjp", Tensor::relu, |a| {
            Ok(vec![rules::relu_vjp(&a[0], &a[1], &a[2])?])
        }),
        pointwise("tanh_vjp", Tensor::tanh, |a| {
            Ok(vec![rules::tanh_vjp(&a[0], &a[1], &a[2])?])
        }),
        pointwise("sigmoid_vjp", Tensor::sigmoid, |a| {
            Ok(vec![rules::sigmoid_vjp(&a[0], &a[1], &a[2])?])
        }),
        pointwise("exp_vjp", Tensor::exp, |a| {
            Ok(vec![rules::exp_vjp(&a[0], &a[1], &a[2])?])
        }),
        pointwise("log_vjp", Tensor::log, |a| {
            Ok(vec![rules::log_vjp(&a[0], &a[1], &a[2])?])
        }),
        pointwise("sqrt_vjp", Tensor::sqrt, |a| {
            Ok(vec![rules::sqrt_vjp(&a[0], &a[1], &a[2])?])
        }),
        pointwise("sin_vjp", Tensor::sin, |a| {
            Ok(vec![rules::sin_vjp(&a[0], &a[1], &a[2])?])
        }),
        pointwise("cos_vjp", Tensor::cos, |a| {
            Ok(vec![rules::cos_vjp(&a[0], &a[1], &a[2])?])
        }),
        case(
            "sum_vjp",
            vec![randn(&[2, 3]), randn(&[])],
            1,
            |a| Ok(vec![rules::sum_vjp(&a[0], &a[1])?]),
            &[(1, &[2])],
        ),
        case(
            "mean_vjp",
            vec![randn(&[2, 3]), randn(&[])],
            1,
            |a| Ok(vec![rules::mean_vjp(&a[0], &a[1])?]),
            &[(1, &[2])],
        ),
        case(
            "sum_dim_vjp",
            vec![randn(&[2, 3]), randn(&[2])],
            1,
            |a| Ok(vec![rules::sum_dim_vjp(&a[0], &[1], false, &a[1])?]),
            &[(1, &[3]), (0, &[2])],
        ),
        case(
            "mean_dim_vjp",
            vec![randn(&[2, 3]), randn(&[2])],
            1,
            |a| Ok(vec![rules::mean_dim_vjp(&a[0], &[1], false, &a[1])?]),
            &[(1, &[3]), (0, &[2])],
        ),
        case(
            "reshape_vjp",
            vec![randn(&[2, 3]), randn(&[6])],
            1,
            |a| Ok(vec![rules::reshape_vjp(&a[0], &a[1])?]),
            &[(1, &[5])],
        ),
        case(
            "flatten_vjp",
            vec![randn(&[2, 3]), randn(&[6])],
            1,
            |a| Ok(vec![rules::flatten_vjp(&a[0], &a[1])?]),
            &[(1, &[7])],
        ),
        case(
            "transpose_vjp",
            vec![randn(&[2, 3])],
            0,
            |a| Ok(vec![rules::transpose_vjp(&a[0], 0, 1)?]),
            &[(0, &[6])],
        ),
        case(
            "log_softmax_vjp",
            vec![randn(&[2, 3]).log_softmax(-1, Kind::Double), randn(&[2, 3])],
            1,
            |a| Ok(vec![rules::log_softmax_vjp(&a[0], -1, &a[1])?]),
            &[(1, &[3, 2])],
        ),
        case(
            "softmax_vjp",
            vec![randn(&[2, 3]).softmax(-1, Kind::Double), randn(&[2, 3])],
            1,
            |a| Ok(vec![rules::softmax_vjp(&a[0], -1, &a[1])?]),
            &[(1, &[3, 2])],
        ),
        case(
            "nll_loss_vjp",
            vec![
                randn(&[4, 3]).log_softmax(-1, Kind::Double),
                classes(3, &[4]),
                randn(&[]),
            ],
            2,
            |a| Ok(vec![rules::nll_loss_vjp(&a[0], &a[1], &a[2])?]),
            &[(1, &[5]), (2, &[1]), (0, &[2, 2, 3])],
        ),
        case(
            "cross_entropy_for_logits_vjp",
            vec![randn(&[4, 3]), classes(3, &[4]), randn(&[])],
            2,
            |a| {
                Ok(vec![rules::cross_entropy_for_logits_vjp(
                    &a[0], &a[1], &a[2],
                )?])
            },
            &[(1, &[5]), (2, &[1])],
        ),
        case(
            "mse_loss_vjp",
            vec![randn(&[4, 3]), randn(&[4, 3]), randn(&[])],
            2,
            |a| Ok(two(rules::mse_loss_vjp(&a[0], &a[1], &a[2])?)),
            &[(1, &[5]), (2, &[2])],
        ),
        case(
            "linear_vjp",
            vec![randn(&[4, 3]), randn(&[2, 3]), randn(&[2]), randn(&[4, 2])],
            3,
            |a| Ok(three(rules::linear_vjp(&a[0], &a[1], Some(&a[2]), &a[3])?)),
            &[(1, &[2, 5]), (2, &[3]), (3, &[4, 3]), (1, &[6])],
        ),
        case(
            "linear_vjp_params",
            vec![randn(&[4, 3]), randn(&[2, 3]), randn(&[2]), randn(&[4, 2])],
            3,
            |a| {
                let (dw, db) = rules::linear_vjp_params(&a[0], &a[1], Some(&a[2]), &a[3])?;
                Ok(vec![dw, db.expect("bias gradient")])
            },
            &[(1, &[2, 5]), (2, &[3]), (3, &[4, 3])],
        ),
        case(
            "conv1d_vjp",
            vec![
                randn(&[2, 3, 8]),
                randn(&[4, 3, 3]),
                randn(&[4]),
                randn(&[2, 4, 6]),
            ],
            3,
            |a| {
                Ok(three(rules::conv1d_vjp(
                    &a[0],
                    &a[1],
                    Some(&a[2]),
                    &[1],
                    &[0],
                    &[1],
                    1,
                    &a[3],
                )?))
            },
            &[(3, &[2, 4, 7]), (1, &[4, 2, 3]), (2, &[5]), (0, &[8])],
        ),
        case(
            "max_pool1d_vjp",
            vec![randn(&[2, 3, 8]), randn(&[2, 3, 4])],
            1,
            |a| {
                Ok(vec![rules::max_pool1d_vjp(
                    &a[0],
                    &[2],
                    &[2],
                    &[0],
                    &[1],
                    false,
                    &a[1],
                )?])
            },
            &[(1, &[2, 3, 5]), (0, &[8])],
        ),
    ];
    for (rule, call) in binary {
        out.push(case(
            rule,
            // `b` away from 0: a divisor.
            vec![randn(&[4, 3]), randn(&[3]).abs() + 0.5, randn(&[4, 3])],
            2,
            call,
            &[(2, &[4, 4]), (1, &[5]), (0, &[2, 4, 3])],
        ));
    }
    out
}

/// `args` with `args[i]` replaced by `t`.
fn with(args: &[Tensor], i: usize, t: Tensor) -> Vec<Tensor> {
    let mut out: Vec<Tensor> = args.iter().map(Tensor::shallow_clone).collect();
    out[i] = t;
    out
}

/// The call is an `Err` whose one-line message names the rule and every needle.
#[track_caller]
fn assert_err(c: &Case, args: &[Tensor], what: &str, needles: &[&str]) {
    let r = tch::no_grad(|| (c.call)(args));
    let msg = match r {
        Ok(v) => panic!("{} {what}: accepted ({} results)", c.rule, v.len()),
        Err(e) => e.to_string(),
    };
    println!("{} {what}: {msg}", c.rule);
    assert!(
        msg.contains(&format!("rules::{}`", c.rule)),
        "{} {what}: `{msg}` does not name the rule",
        c.rule
    );
    for n in needles {
        assert!(
            msg.contains(n),
            "{} {what}: `{msg}` should mention `{n}`",
            c.rule
        );
    }
    assert_eq!(msg.lines().count(), 1, "{} {what}: not one line", c.rule);
}

const EXPECTED_RULES: usize = 34;

#[test]
fn every_public_rule_is_covered() {
    let mut names: Vec<&str> = cases().iter().map(|c| c.rule).collect();
    names.sort_unstable();
    names.dedup();
    // acc, acc_into, unbroadcast, add/sub/mul/div, neg, scale, matmul, 8 pointwise, sum,
    // mean, sum_dim, mean_dim, reshape, flatten, transpose, log_softmax, softmax, nll_loss,
    // cross_entropy_for_logits, mse_loss, linear, linear_vjp_params, conv1d, max_pool1d: 34.
    assert_eq!(names.len(), EXPECTED_RULES, "{names:?}");
    let src = include_str!("../src/rules.rs");
    let public = src.matches("\npub fn ").count();
    assert_eq!(public, EXPECTED_RULES, "a public rule has no case here");
    for name in names {
        assert!(
            src.contains(&format!("\npub fn {name}(")),
            "{name} is not a public rule"
        );
    }
}

#[test]
fn good_arguments_are_ok() {
    for c in cases() {
        let out = tch::no_grad(|| (c.call)(&c.args))
            .unwrap_or_else(|e| panic!("{}: good call failed: {e}", c.rule));
        for t in &out {
            assert!(t.defined() && t.kind() == Kind::Double, "{}", c.rule);
        }
    }
}

#[test]
fn mismatched_shapes_are_errs_naming_the_shapes() {
    for c in cases() {
        for (i, shape) in &c.bad_shapes {
            let bad = zeros_like_kind(shape, &c.args[*i]) + 1;
            let args = with(&c.args, *i, bad);
            assert_err(
                &c,
                &args,
                &format!("arg {i} of shape {shape:?}"),
                &[&format!("{shape:?}")],
            );
        }
    }
}

#[test]
fn a_wrong_dtype_is_an_err() {
    for c in cases() {
        let d = c.args[c.d].to_kind(Kind::Int64);
        assert_err(
            &c,
            &with(&c.args, c.d, d),
            "Int64 adjoint",
            &["dtype Int64"],
        );
    }
    // Class targets must be Int64.
    for c in cases()
        .iter()
        .filter(|c| c.args.len() == 3 && c.args[1].kind() == Kind::Int64)
    {
        let t = c.args[1].to_kind(Kind::Double);
        assert_err(
            c,
            &with(&c.args, 1, t),
            "f64 targets",
            &["dtype Double", "Int64"],
        );
    }
}

#[test]
fn zero_size_tensors_are_errs() {
    for c in cases() {
        for i in 0..c.args.len() {
            let empty = zeros_like_kind(&[0], &c.args[i]);
            assert_err(
                &c,
                &with(&c.args, i, empty),
                &format!("arg {i} empty"),
                &["no elements"],
            );
        }
    }
}

#[test]
fn undefined_sparse_and_two_device_arguments_are_errs() {
    for c in cases() {
        // The accumulation helpers define an undefined tensor as "no gradient yet" (slot)
        // or "nothing to add" (g): their own tests check that.
        let undefined_is_valid = c.rule.starts_with("acc");
        for i in (0..c.args.len()).filter(|_| !undefined_is_valid) {
            assert_err(
                &c,
                &with(&c.args, i, Tensor::new()),
                &format!("arg {i} undefined"),
                &["undefined"],
            );
        }
        let i = (0..c.args.len())
            .find(|&i| c.args[i].dim() > 0)
            .expect("an argument with a dim");
        let sparse = c.args[i]
            .f_to_sparse_sparse_dim(c.args[i].dim() as i64)
            .expect("sparse copy");
        assert_err(
            &c,
            &with(&c.args, i, sparse),
            &format!("arg {i} sparse"),
            &["dense"],
        );
        if c.args.len() > 1 {
            let meta = to_meta(&c.args[c.d]).expect("meta copy");
            assert_err(&c, &with(&c.args, c.d, meta), "meta adjoint", &["device"]);
        }
    }
}

/// A non-contiguous tensor with `t`'s values (every other element of a wider buffer).
fn strided(t: &Tensor) -> Tensor {
    let s = Tensor::stack(&[t, &(t + 1)], -1).select(-1, 0);
    assert!(!s.is_contiguous());
    s
}

#[test]
fn non_contiguous_arguments_give_the_contiguous_result() {
    for c in cases() {
        let expected = tch::no_grad(|| (c.call)(&c.args)).expect("good call");
        for i in (0..c.args.len()).filter(|&i| c.args[i].dim() > 0) {
            let args = with(&c.args, i, strided(&c.args[i]));
            let got = tch::no_grad(|| (c.call)(&args))
                .unwrap_or_else(|e| panic!("{} strided arg {i}: {e}", c.rule));
            for (g, e) in got.iter().zip(&expected) {
                let diff = (g - e).abs().max().double_value(&[]);
                assert!(
                    diff <= 1e-12,
                    "{} strided arg {i}: max |diff| {diff:e}",
                    c.rule
                );
            }
        }
    }
}

/// `∂⟨f(inputs), d⟩/∂inputs` by LibTorch autograd.
fn autograd(inputs: &[&Tensor], d: &Tensor, f: impl FnOnce(&[Tensor]) -> Tensor) -> Vec<Tensor> {
    let leaves: Vec<Tensor> = inputs
        .iter()
        .map(|t| t.detach_copy().set_requires_grad(true))
        .collect();
    let y = f(&leaves);
    let refs: Vec<&Tensor> = leaves.iter().collect();
    ferrograd_torch::grad(&[&y], &refs, &[d], Default::default())
        .expect("autograd")
        .into_iter()
        .map(|g| g.expect("used input"))
        .collect()
}

#[test]
fn good_calls_match_libtorch_autograd() {
    let close = |what: &str, got: &Tensor, want: &Tensor| {
        let diff = (got - want).abs().max().double_value(&[]);
        assert!(diff <= 1e-10, "{what}: max |diff| {diff:e}");
    };
    let (a, b, d) = (randn(&[4, 3]), randn(&[3]), randn(&[4, 3]));
    let (da, db) = tch::no_grad(|| rules::mul_vjp(&a, &b, &d)).unwrap();
    let want = autograd(&[&a, &b], &d, |t| &t[0] * &t[1]);
    close("mul_vjp da", &da, &want[0]);
    close("mul_vjp db", &db, &want[1]);

    let (x, w, bias, d) = (randn(&[5, 3]), randn(&[2, 3]), randn(&[2]), randn(&[5, 2]));
    let (dx, dw, db) = tch::no_grad(|| rules::linear_vjp(&x, &w, Some(&bias), &d)).unwrap();
    let want = autograd(&[&x, &w, &bias], &d, |t| t[0].linear(&t[1], Some(&t[2])));
    close("linear_vjp dx", &dx, &want[0]);
    close("linear_vjp dw", &dw, &want[1]);
    close("linear_vjp db", &db.unwrap(), &want[2]);

    let (logits, targets, d) = (randn(&[4, 3]), classes(3, &[4]), randn(&[]));
    let got = tch::no_grad(|| rules::cross_entropy_for_logits_vjp(&logits, &targets, &d)).unwrap();
    let want = autograd(&[&logits], &d, |t| {
        t[0].log_softmax(-1, Kind::Double).nll_loss(&targets)
    });
    close("cross_entropy_for_logits_vjp", &got, &want[0]);
}

#[test]
fn out_of_range_targets_are_errs() {
    let logp = randn(&[3, 4]).log_softmax(-1, Kind::Double);
    let targets = Tensor::from_slice(&[0i64, 4, 1]);
    let msg = rules::nll_loss_vjp(&logp, &targets, &randn(&[]))
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("targets[1] = 4") && msg.contains("0..4"),
        "{msg}"
    );
}
