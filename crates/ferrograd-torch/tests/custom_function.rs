//! Custom functions in LibTorch's graph: gradients match native autograd (f64, 1e-10)
//! and finite differences.

mod common;

use common::*;
use ferrograd_torch::gradcheck::{compare_with_native, gradcheck, Options};
use ferrograd_torch::{
    apply, backward, backward_with, Apply, BackwardContext, CustomFunction, Error, ForwardContext,
    GradOptions,
};
use tch::{Kind, Tensor};

#[test]
fn multiple_inputs_and_outputs_match_native() -> Result<(), Error> {
    let x = leaf(&[0.5, -1.25, 2.0]);
    let y = leaf(&[3.0, 0.75, -0.5]);
    let report = compare_with_native(
        |i| apply(MulAdd, &[&i[0], &i[1]]),
        |i| Ok(mul_add_native(&i[0], &i[1])),
        &[&x, &y],
        Options::NATIVE,
    )?;
    println!("MulAdd {report}");
    let report = gradcheck(
        |i| MulAdd.apply(&[&i[0], &i[1]]),
        &[&x, &y],
        Options::FINITE_DIFFERENCES,
    )?;
    println!("MulAdd {report}");
    Ok(())
}

#[test]
fn outputs_are_in_the_graph_and_backward_runs_rust() -> Result<(), Error> {
    let x = leaf(&[1.0, 2.0]);
    let y = leaf(&[3.0, 4.0]);
    let out = apply(MulAdd, &[&x, &y])?;
    assert!(out[0].requires_grad() && out[1].requires_grad());
    // loss = Σ z + 2 Σ w → dx = y + 2, dy = x + 2
    let loss = out[0].sum(Kind::Double) + out[1].sum(Kind::Double) * 2.0;
    backward(&loss)?;
    assert_eq!(values(&x.grad()), vec![5.0, 6.0]);
    assert_eq!(values(&y.grad()), vec![3.0, 4.0]);
    Ok(())
}

#[test]
fn non_tensor_arguments_and_saved_values() -> Result<(), Error> {
    let x = leaf(&[0.5, 1.5, 2.5]);
    let report = compare_with_native(
        |i| apply(ScaledPow { alpha: 1.5, p: 3.0 }, &[&i[0]]),
        |i| Ok(vec![i[0].pow_tensor_scalar(3.0) * 1.5]),
        &[&x],
        Options::NATIVE,
    )?;
    println!("ScaledPow {report}");
    gradcheck(
        |i| {
            apply(
                ScaledPow {
                    alpha: -0.5,
                    p: 2.5,
                },
                &[&i[0]],
            )
        },
        &[&x],
        Options::FINITE_DIFFERENCES,
    )?;
    Ok(())
}

#[test]
fn inputs_without_grad_get_none() -> Result<(), Error> {
    struct Probe;
    impl CustomFunction for Probe {
        fn forward(&mut self, _: &mut ForwardContext, i: &[Tensor]) -> Result<Vec<Tensor>, Error> {
            Ok(vec![i[0].f_mul(&i[1])?])
        }
        fn backward(
            &self,
            ctx: &BackwardContext,
            g: &[Tensor],
        ) -> Result<Vec<Option<Tensor>>, Error> {
            // Only x requires grad: the engine must say so.
            if !ctx.needs_input_grad(0) || ctx.needs_input_grad(1) || ctx.num_inputs() != 2 {
                return Err(Error::msg("wrong needs_input_grad"));
            }
            Ok(vec![Some(g[0].shallow_clone()), None])
        }
    }
    let x = leaf(&[1.0, 2.0]);
    let y = f64s(&[3.0, 4.0]);
    let out = apply(Probe, &[&x, &y])?;
    backward(&out[0].sum(Kind::Double))?;
    assert_eq!(values(&x.grad()), vec![1.0, 1.0]);
    assert!(!y.grad().defined());

    // MulAdd returns None for y (needs_input_grad false): x's gradient is still right.
    let x = leaf(&[1.0, 2.0]);
    let out = apply(MulAdd, &[&x, &y])?;
    backward(&out[0].sum(Kind::Double))?;
    assert_eq!(values(&x.grad()), values(&y));
    Ok(())
}

#[test]
fn no_input_requires_grad_gives_plain_outputs() -> Result<(), Error> {
    let out = apply(MulAdd, &[&f64s(&[1.0]), &f64s(&[2.0])])?;
    assert!(!out[0].requires_grad());
    assert_eq!(values(&out[0]), vec![2.0]);
    Ok(())
}

#[test]
fn mark_non_differentiable() -> Result<(), Error> {
    let x = leaf(&[-1.0, 2.0, 3.0]);
    let out = apply(ReluWithMask, &[&x])?;
    assert!(out[0].requires_grad());
    assert!(!out[1].requires_grad(), "mask must not require grad");
    assert_eq!(values(&out[1]), vec![0.0, 1.0, 1.0]);
    backward(&out[0].sum(Kind::Double))?;
    assert_eq!(values(&x.grad()), vec![0.0, 1.0, 1.0]);
    Ok(())
}

#[test]
fn materialize_grads_off_gives_undefined_grads() -> Result<(), Error> {
    struct TwoOut;
    impl CustomFunction for TwoOut {
        fn forward(
            &mut self,
            ctx: &mut ForwardContext,
            i: &[Tensor],
        ) -> Result<Vec<Tensor>, Error> {
            ctx.set_materialize_grads(false);
            Ok(vec![i[0].f_mul_scalar(2.0)?, i[0].f_mul_scalar(3.0)?])
        }
        fn backward(
            &self,
            _: &BackwardContext,
            g: &[Tensor],
        ) -> Result<Vec<Option<Tensor>>, Error> {
            if !g[0].defined() || g[1].defined() {
                return Err(Error::msg("expected grad 0 defined and grad 1 undefined"));
            }
            Ok(vec![Some(g[0].f_mul_scalar(2.0)?)])
        }
    }
    let x = leaf(&[1.0]);
    let out = apply(TwoOut, &[&x])?;
    backward(&out[0].sum(Kind::Double))?;
    assert_eq!(values(&x.grad()), vec![2.0]);
    Ok(())
}

/// native op → custom node → native op → loss, against the all-native graph.
#[test]
fn mixed_graph_matches_all_native() -> Result<(), Error> {
    let x = leaf(&[0.3, -0.7, 1.1, 0.2]);
    let w = leaf(&[1.5, 0.5, -2.0, 0.25]);
    let ours = |i: &[Tensor]| -> Result<Vec<Tensor>, Error> {
        let a = i[0].f_sin()?;
        let zw = apply(MulAdd, &[&a, &i[1]])?;
        let t = apply(SliceTanh, &[&zw[0]])?;
        let s = apply(ScaledPow { alpha: 0.5, p: 2.0 }, &[&zw[1]])?;
        Ok(vec![(t[0].exp() * &s[0]).sum(Kind::Double)])
    };
    let native = |i: &[Tensor]| -> Result<Vec<Tensor>, Error> {
        let a = i[0].sin();
        let (z, w) = (&a * &i[1], &a + &i[1]);
        Ok(vec![(z.tanh().exp() * (w.square() * 0.5)).sum(Kind::Double)])
    };
    let report = compare_with_native(ours, native, &[&x, &w], Options::NATIVE)?;
    println!("mixed graph {report}");
    assert!(report.max_abs_diff <= 1e-10);
    gradcheck(ours, &[&x, &w], Options::FINITE_DIFFERENCES)?;

    // The same through .grad() accumulation.
    backward(&ours(&[x.shallow_clone(), w.shallow_clone()])?[0])?;
    let (xn, wn) = (
        x.detach().copy().set_requires_grad(true),
        w.detach().copy().set_requires_grad(true),
    );
    backward(&native(&[xn.shallow_clone(), wn.shallow_clone()])?[0])?;
    let max = (x.grad() - xn.grad())
        .abs()
        .max()
        .double_value(&[])
        .max((w.grad() - wn.grad()).abs().max().double_value(&[]));
    println!("mixed graph .grad() max |diff| = {max:e}");
    assert!(max <= 1e-10);
    Ok(())
}

#[test]
fn retain_graph_allows_a_second_backward() -> Result<(), Error> {
    let x = leaf(&[1.0, 2.0]);
    let out = apply(ScaledPow { alpha: 1.0, p: 2.0 }, &[&x])?;
    let loss = out[0].sum(Kind::Double);
    let keep = GradOptions {
        retain_graph: true,
        ..GradOptions::default()
    };
    backward_with(&[&loss], &[], keep)?;
    backward_with(&[&loss], &[], GradOptions::default())?;
    assert_eq!(values(&x.grad()), vec![4.0, 8.0]);
    Ok(())
}

#[test]
fn slice_kernel_is_zero_copy_and_correct() -> Result<(), Error> {
    let x = leaf(&[-2.0, -0.1, 0.0, 0.4, 3.0]);
    let report = compare_with_native(
        |i| apply(SliceTanh, &[&i[0]]),
        |i| Ok(vec![i[0].tanh()]),
        &[&x],
        Options::NATIVE,
    )?;
    println!("SliceTanh {report}");
    Ok(())
}
