//! Bad input: each case is a clear `Err`, and the process and tensors survive.

mod common;

use common::*;
use ferrograd_torch::gradcheck::{gradcheck, Options};
use ferrograd_torch::{
    apply, as_slice, as_slice_mut, backward, grad, to_meta, to_vec, Error, GradOptions,
};
use tch::{Device, Kind, Tensor};

fn assert_msg(err: &Error, needle: &str) {
    let msg = err.to_string();
    println!("error: {msg}");
    assert!(msg.contains(needle), "`{msg}` should mention `{needle}`");
}

#[test]
fn wrong_dtype() {
    let mut x = Tensor::from_slice(&[1.0f32, 2.0]).set_requires_grad(true);
    let err = apply(ScaledPow { alpha: 1.0, p: 2.0 }, &[&x]).unwrap_err();
    assert!(
        matches!(
            err,
            Error::Dtype {
                expected: Kind::Double,
                ..
            }
        ),
        "{err:?}"
    );
    assert_msg(&err, "Float");
    let err = as_slice::<f64>(&mut x).unwrap_err();
    assert!(matches!(err, Error::Dtype { .. }), "{err:?}");
    let err = to_vec::<f64>(&x).unwrap_err();
    assert!(matches!(err, Error::Dtype { .. }), "{err:?}");
    assert_eq!(as_slice::<f32>(&mut x).unwrap(), &[1.0f32, 2.0]);
    assert_eq!(to_vec::<f32>(&x).unwrap(), [1.0f32, 2.0]);
}

#[test]
fn non_contiguous_is_rejected_not_copied() {
    let m = Tensor::from_slice(&[1.0f64, 2.0, 3.0, 4.0, 5.0, 6.0]).reshape([2, 3]);
    let mut t = m.tr();
    let err = as_slice::<f64>(&mut t).unwrap_err();
    assert!(matches!(err, Error::NotContiguous { .. }), "{err:?}");
    let err = to_vec::<f64>(&t).unwrap_err();
    assert!(matches!(err, Error::NotContiguous { .. }), "{err:?}");
    assert_msg(&err, "contiguous()");
    let err = apply(SliceTanh, &[&t]).unwrap_err();
    assert!(matches!(err, Error::NotContiguous { .. }), "{err:?}");
    // Expanded (stride 0) too.
    let mut e = Tensor::from_slice(&[1.0f64]).expand([4], false);
    assert!(matches!(
        as_slice::<f64>(&mut e),
        Err(Error::NotContiguous { .. })
    ));
    assert!(matches!(
        to_vec::<f64>(&e),
        Err(Error::NotContiguous { .. })
    ));
    // The explicit fix works.
    assert_eq!(
        as_slice::<f64>(&mut t.contiguous()).unwrap(),
        &[1.0, 4.0, 2.0, 5.0, 3.0, 6.0]
    );
}

#[test]
fn meta_tensor() -> Result<(), Error> {
    let mut x = to_meta(&f64s(&[1.0, 2.0, 3.0]))?;
    assert_eq!(x.size(), vec![3]);
    let err = to_vec::<f64>(&x).unwrap_err();
    assert!(
        matches!(err, Error::Device { device: "meta", .. }),
        "{err:?}"
    );
    let err = as_slice::<f64>(&mut x).unwrap_err();
    assert!(
        matches!(err, Error::Device { device: "meta", .. }),
        "{err:?}"
    );
    let err = apply(SliceTanh, &[&x]).unwrap_err();
    assert_msg(&err, "meta");
    Ok(())
}

#[test]
fn shape_mismatch() {
    let x = leaf(&[1.0, 2.0, 3.0]);
    let y = leaf(&[1.0, 2.0]);
    let err = apply(MulAdd, &[&x, &y]).unwrap_err();
    assert!(matches!(err, Error::Shape { .. }), "{err:?}");
    assert_msg(&err, "[3]");
    // Gradient of the wrong shape from backward: LibTorch rejects it.
    let out = apply(WrongGradShape, &[&x]).unwrap();
    let err = backward(&out[0]).unwrap_err();
    assert_msg(&err, "invalid gradient");
    assert!(!x.grad().defined());
}

#[test]
fn wrong_number_of_inputs() {
    let x = leaf(&[1.0]);
    let err = apply(MulAdd, &[&x]).unwrap_err();
    assert!(
        matches!(
            err,
            Error::InputCount {
                expected: 2,
                got: 1,
                ..
            }
        ),
        "{err:?}"
    );
    // Wrong number of gradients from backward.
    let out = apply(
        WrongGradCount,
        &[&x, &x.detach().copy().set_requires_grad(true)],
    )
    .unwrap();
    let err = backward(&out[0].sum(Kind::Double)).unwrap_err();
    assert_msg(&err, "returned 1 gradients for 2 inputs");
}

#[test]
fn backward_twice_without_retain_graph() {
    let x = leaf(&[1.0, 2.0]);
    let out = apply(ScaledPow { alpha: 1.0, p: 2.0 }, &[&x]).unwrap();
    let loss = out[0].sum(Kind::Double);
    backward(&loss).unwrap();
    let err = backward(&loss).unwrap_err();
    assert_msg(&err, "second time");
    // First gradient intact, tensors usable.
    assert_eq!(values(&x.grad()), vec![2.0, 4.0]);
    assert_eq!(values(&out[0]), vec![1.0, 4.0]);
}

#[test]
fn modified_saved_tensor_is_detected() {
    let x = leaf(&[1.0, 2.0]);
    let out = apply(SliceTanh, &[&x]).unwrap();
    let mut y = out[0].shallow_clone();
    let _ = tch::no_grad(|| y.f_add_scalar_(1.0)).unwrap();
    let err = backward(&out[0].sum(Kind::Double)).unwrap_err();
    assert_msg(&err, "modified by an inplace operation");
}

#[test]
fn integer_tensors_and_grad() {
    let i = Tensor::from_slice(&[1i64, 2, 3]);
    let err = i.f_set_requires_grad(true).unwrap_err();
    println!("LibTorch: {err}");
    let err = apply(ScaledPow { alpha: 1.0, p: 2.0 }, &[&i]).unwrap_err();
    assert!(matches!(err, Error::Dtype { .. }), "{err:?}");
    let err = gradcheck(
        |t| Ok(vec![t[0].shallow_clone()]),
        &[&i],
        Options::FINITE_DIFFERENCES,
    )
    .unwrap_err();
    assert!(matches!(err, Error::Dtype { .. }), "{err:?}");
    assert_eq!(Vec::<i64>::try_from(&i).unwrap(), vec![1, 2, 3]);
}

#[test]
fn backward_without_grad_fn_is_an_error_not_a_crash() {
    let plain = f64s(&[1.0, 2.0]).sum(Kind::Double);
    let err = backward(&plain).unwrap_err();
    assert_msg(&err, "does not require grad");
    let x = leaf(&[1.0]);
    let err = grad(&[&plain], &[&x], &[], GradOptions::default()).unwrap_err();
    println!("grad: {err}");
}

#[test]
fn error_from_rust_backward() {
    let x = leaf(&[1.0, 2.0]);
    let out = apply(FailingBackward, &[&x]).unwrap();
    let err = backward(&out[0].sum(Kind::Double)).unwrap_err();
    assert_msg(&err, "backward deliberately failed");
    assert_msg(&err, "FailingBackward");
    assert!(!x.grad().defined());
    assert_eq!(values(&x), vec![1.0, 2.0]);
}

#[test]
fn panics_are_caught() {
    let x = leaf(&[1.0]);
    let err = apply(PanickingForward, &[&x]).unwrap_err();
    assert!(
        matches!(
            err,
            Error::Panic {
                phase: "forward",
                ..
            }
        ),
        "{err:?}"
    );
    assert_msg(&err, "forward deliberately panicked");
    let out = apply(PanickingBackward, &[&x]).unwrap();
    let err = backward(&out[0].sum(Kind::Double)).unwrap_err();
    assert_msg(&err, "backward deliberately panicked");
}

#[test]
fn undefined_input() {
    let err = apply(FailingBackward, &[&Tensor::new()]).unwrap_err();
    assert!(matches!(err, Error::Undefined { .. }), "{err:?}");
}

#[test]
fn mutable_view_needs_exclusive_storage() {
    let mut t = Tensor::zeros([3], (Kind::Float, Device::Cpu));
    as_slice_mut::<f32>(&mut t).unwrap()[1] = 5.0;
    assert_eq!(Vec::<f32>::try_from(&t).unwrap(), vec![0.0, 5.0, 0.0]);
    let alias = t.shallow_clone();
    assert!(matches!(
        as_slice_mut::<f32>(&mut t),
        Err(Error::SharedStorage { .. })
    ));
    drop(alias);
    let view = t.narrow(0, 0, 2);
    assert!(matches!(
        as_slice_mut::<f32>(&mut t),
        Err(Error::SharedStorage { .. })
    ));
    drop(view);
    let mut g = Tensor::zeros([2], (Kind::Float, Device::Cpu)).set_requires_grad(true);
    assert!(matches!(
        as_slice_mut::<f32>(&mut g),
        Err(Error::RequiresGrad { .. })
    ));
    // Zero-copy: the slice is the tensor's memory.
    let mut x = Tensor::from_slice(&[1.0f32, 2.0]);
    assert_eq!(
        as_slice::<f32>(&mut x).unwrap().as_ptr() as usize,
        x.data_ptr() as usize
    );
    // A zero-size tensor is an error, not an empty view (issue 10).
    assert!(matches!(
        as_slice::<f64>(&mut Tensor::zeros([0], (Kind::Double, Device::Cpu))),
        Err(Error::Empty { .. })
    ));
    assert!(matches!(
        to_vec::<f64>(&Tensor::zeros([0], (Kind::Double, Device::Cpu))),
        Err(Error::Empty { .. })
    ));
}

/// The read-only view is refused while another handle or tensor shares the storage (any
/// of them could write it in place while the view lives); `to_vec` copies instead, and the
/// copy does not see later writes.
#[test]
fn read_view_needs_exclusive_storage() {
    let mut t = Tensor::from_slice(&[1.0f32, 2.0, 3.0]);
    assert_eq!(as_slice::<f32>(&mut t).unwrap(), &[1.0f32, 2.0, 3.0]);
    let mut alias = t.shallow_clone();
    let err = as_slice::<f32>(&mut t).unwrap_err();
    assert!(
        matches!(err, Error::SharedStorage { handles: 2, .. }),
        "{err:?}"
    );
    assert_msg(&err, "share");
    let copy = to_vec::<f32>(&t).unwrap();
    let _ = alias.f_add_scalar_(1.0).unwrap();
    assert_eq!(copy, [1.0f32, 2.0, 3.0]);
    assert_eq!(to_vec::<f32>(&t).unwrap(), [2.0f32, 3.0, 4.0]);
    drop(alias);
    // A view (another tensor on the same storage), from either side.
    let mut view = t.narrow(0, 0, 2);
    assert!(matches!(
        as_slice::<f32>(&mut t),
        Err(Error::SharedStorage { storages: 2, .. })
    ));
    assert!(matches!(
        as_slice::<f32>(&mut view),
        Err(Error::SharedStorage { .. })
    ));
    assert_eq!(to_vec::<f32>(&view).unwrap(), [2.0f32, 3.0]);
    drop(view);
    // A tensor saved for backward is shared with the autograd graph.
    let mut leaf = Tensor::from_slice(&[2.0f64]).set_requires_grad(true);
    let y = (&leaf * &leaf).sum(Kind::Double);
    assert!(matches!(
        as_slice::<f64>(&mut leaf),
        Err(Error::SharedStorage { .. })
    ));
    drop(y);
    // Exclusive again once the others are gone.
    assert_eq!(as_slice::<f32>(&mut t).unwrap(), &[2.0f32, 3.0, 4.0]);
}
