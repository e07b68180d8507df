//! Issue 10: every public entry point that takes tensors, given a tensor of the wrong dtype,
//! on the wrong device (meta), of the wrong layout (sparse), non-contiguous, or with zero
//! elements, returns an `Err` whose message names the problem — or, where the entry point is
//! defined for such tensors, works on them (listed per entry point below).
//!
//! What "wrong" means differs by level: zero-copy views and slice-level nodes need dense,
//! contiguous CPU tensors of their element type with at least one element; tensor-level nodes
//! ([`apply`], [`apply_fn`], [`apply_fn_saving`]) run LibTorch ops, which handle any dtype,
//! device and strides, so they check only what no op can handle (undefined, sparse, empty)
//! and leave dtype checks to the function ([`check_kind`]); [`gradcheck`] copies its inputs
//! (so strides do not matter) and needs f64.

mod common;

use common::*;
use ferrograd_torch::gradcheck::{compare_with_native, gradcheck, Options};
use ferrograd_torch::node::{apply_fn, apply_fn_saving, slice_node, value_and_grad_node};
use ferrograd_torch::{
    apply, as_slice, as_slice_mut, backward, backward_with, check_kind, check_shape, grad, to_meta,
    to_vec, Error, GradOptions,
};
use tch::{Kind, Tensor};

/// The bad tensors, each with what its error must mention.
fn bad_f64() -> Vec<(&'static str, Tensor, &'static str)> {
    let good = || f64s(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
    vec![
        ("dtype", Tensor::from_slice(&[1i64, 2, 3]), "Int64"),
        ("device", to_meta(&good()).unwrap(), "meta"),
        ("layout", good().f_to_sparse_sparse_dim(1).unwrap(), "dense"),
        ("strides", good().reshape([2, 3]).tr(), "contiguous"),
        ("empty", f64s(&[]), "no elements"),
    ]
}

#[track_caller]
fn is_err<T: std::fmt::Debug>(r: Result<T, Error>, case: &str, needle: &str) {
    match r {
        Ok(v) => panic!("{case}: accepted ({v:?})"),
        Err(e) => {
            let msg = e.to_string();
            println!("{case}: {msg}");
            assert!(
                msg.to_lowercase().contains(&needle.to_lowercase()),
                "{case}: `{msg}` should mention `{needle}`"
            );
            assert_eq!(msg.lines().count(), 1, "{case}: not one line: {msg}");
        }
    }
}

#[test]
fn zero_copy_views() {
    for (case, t, needle) in bad_f64() {
        is_err(to_vec::<f64>(&t), &format!("to_vec {case}"), needle);
        let mut t = t;
        is_err(as_slice::<f64>(&mut t), &format!("as_slice {case}"), needle);
        is_err(
            as_slice_mut::<f64>(&mut t).map(|s| s.len()),
            &format!("as_slice_mut {case}"),
            needle,
        );
    }
}

#[test]
fn slice_level_nodes() {
    for (case, t, needle) in bad_f64() {
        let t = if case == "dtype" {
            t
        } else {
            t.set_requires_grad(true)
        };
        is_err(
            slice_node::<f64, (), _, _, 1>(
                "copy",
                &[&t],
                &[6],
                |[x], out| {
                    out.copy_from_slice(x);
                    Ok(())
                },
                |_, _| Ok(()),
            ),
            &format!("slice_node {case}"),
            needle,
        );
        is_err(
            value_and_grad_node::<f64, _, 1>("sum", &[&t], |[x], _| Ok(x.iter().sum())),
            &format!("value_and_grad_node {case}"),
            needle,
        );
        // A custom function over slices checks through `to_vec` too.
        is_err(
            apply(SliceTanh, &[&t]),
            &format!("apply(SliceTanh) {case}"),
            needle,
        );
    }
    // A zero-size output shape.
    let x = leaf(&[1.0]);
    is_err(
        slice_node::<f64, (), _, _, 1>("zero", &[&x], &[0], |_, _| Ok(()), |_, _| Ok(())),
        "slice_node zero-size output",
        "no elements",
    );
}

#[test]
fn tensor_level_nodes() {
    for (case, t, needle) in bad_f64() {
        let forward = |i: &[Tensor]| i[0].shallow_clone();
        let backward = |_: &[Tensor], d: &Tensor| vec![Some(d.shallow_clone())];
        let r = apply_fn("id", &[&t], forward, backward);
        let s = apply_fn_saving(
            "id",
            &[&t],
            |i| Ok((i[0].shallow_clone(), Vec::new())),
            |_, _, d| Ok(vec![Some(d.shallow_clone())]),
        );
        let a = apply(ScaledPow { alpha: 1.0, p: 2.0 }, &[&t]);
        match case {
            // Defined for these: LibTorch ops run on any dtype, device and strides; a
            // function that needs f64 says so (ScaledPow checks with `check_kind`).
            "dtype" => {
                assert!(r.is_ok() && s.is_ok(), "{case}");
                is_err(a, "apply(ScaledPow) dtype", "Int64");
            }
            "device" | "strides" => {
                assert_eq!(r.unwrap().size(), t.size(), "{case}");
                assert_eq!(s.unwrap().size(), t.size(), "{case}");
                let _ = a;
            }
            _ => {
                is_err(r, &format!("apply_fn {case}"), needle);
                is_err(s, &format!("apply_fn_saving {case}"), needle);
                is_err(a, &format!("apply {case}"), needle);
            }
        }
    }
    // The function's own checks.
    let i = Tensor::from_slice(&[1i64]);
    is_err(check_kind("x", &i, Kind::Double), "check_kind", "Int64");
    is_err(check_shape("x", &f64s(&[]), &[3]), "check_shape", "[0]");
    is_err(
        check_shape("x", &Tensor::new(), &[3]),
        "check_shape",
        "undefined",
    );
}

#[test]
fn gradchecks() {
    for (case, t, needle) in bad_f64() {
        let t = if case == "dtype" {
            t
        } else {
            t.set_requires_grad(true)
        };
        let f = |i: &[Tensor]| Ok(vec![i[0].f_mul_scalar(2.0)?]);
        let g = gradcheck(f, &[&t], Options::FINITE_DIFFERENCES);
        let n = compare_with_native(f, f, &[&t], Options::NATIVE);
        match case {
            // gradcheck works on its own contiguous copies: strides do not matter.
            "strides" => {
                assert!(g.unwrap().passed() && n.unwrap().passed());
            }
            // A meta tensor has no values to differentiate numerically.
            "device" => {
                assert!(g.is_err() && n.is_err(), "{case}");
            }
            _ => {
                is_err(g, &format!("gradcheck {case}"), needle);
                is_err(n, &format!("compare_with_native {case}"), needle);
            }
        }
    }
}

#[test]
fn autograd_entry_points() {
    // Losses that cannot be differentiated: no elements, integer, not a scalar. (Autograd
    // itself runs on any device and layout, meta included: those are not errors here.)
    let x = leaf(&[1.0, 2.0]);
    let losses = [
        ("empty", f64s(&[]).set_requires_grad(true)),
        ("dtype", Tensor::from_slice(&[1i64])),
        ("not scalar", x.f_mul_scalar(2.0).unwrap()),
    ];
    for (case, loss) in &losses {
        let b = backward(loss);
        println!("backward {case}: {b:?}");
        assert!(b.is_err(), "backward {case}");
        assert!(
            backward_with(&[loss], &[], GradOptions::default()).is_err(),
            "backward_with {case}"
        );
        assert!(
            grad(&[loss], &[&x], &[], GradOptions::default()).is_err(),
            "grad {case}"
        );
    }
    // A gradient seed of the wrong shape or dtype.
    let y = x.f_mul_scalar(2.0).unwrap();
    for (case, seed) in [
        ("shape", f64s(&[1.0])),
        ("empty", f64s(&[])),
        ("dtype", Tensor::from_slice(&[1i64, 1])),
    ] {
        let keep = GradOptions {
            retain_graph: true,
            ..Default::default()
        };
        let r = backward_with(&[&y], &[&seed], keep);
        println!("backward_with seed {case}: {r:?}");
        assert!(r.is_err(), "seed {case}");
        assert!(
            grad(&[&y], &[&x], &[&seed], keep).is_err(),
            "grad seed {case}"
        );
    }
    assert!(!x.grad().defined(), "nothing accumulated");
}
