//! Custom functions shared by the integration tests.
#![allow(dead_code)]

use ferrograd_torch::{
    as_slice_mut, check_kind, check_shape, to_vec, BackwardContext, CustomFunction, Error,
    ForwardContext,
};
use tch::{Kind, Tensor};

pub fn f64s(v: &[f64]) -> Tensor {
    Tensor::from_slice(v)
}

pub fn leaf(v: &[f64]) -> Tensor {
    Tensor::from_slice(v).set_requires_grad(true)
}

pub fn values(t: &Tensor) -> Vec<f64> {
    Vec::<f64>::try_from(&t.detach().reshape([-1])).expect("f64 tensor")
}

/// Two inputs, two outputs: z = x·y, w = x + y (elementwise).
pub struct MulAdd;

impl CustomFunction for MulAdd {
    fn num_inputs(&self) -> Option<usize> {
        Some(2)
    }
    fn forward(&mut self, ctx: &mut ForwardContext, i: &[Tensor]) -> Result<Vec<Tensor>, Error> {
        let (x, y) = (&i[0], &i[1]);
        check_shape("MulAdd input y", y, &x.size())?;
        ctx.save_for_backward(&[x, y]);
        Ok(vec![x.f_mul(y)?, x.f_add(y)?])
    }
    // dx = dz·y + dw, dy = dz·x + dw
    fn backward(&self, ctx: &BackwardContext, g: &[Tensor]) -> Result<Vec<Option<Tensor>>, Error> {
        let s = ctx.saved_tensors();
        let (x, y) = (&s[0], &s[1]);
        let (dz, dw) = (&g[0], &g[1]);
        let dx = if ctx.needs_input_grad(0) {
            Some(dz.f_mul(y)?.f_add(dw)?)
        } else {
            None
        };
        let dy = if ctx.needs_input_grad(1) {
            Some(dz.f_mul(x)?.f_add(dw)?)
        } else {
            None
        };
        Ok(vec![dx, dy])
    }
}

pub fn mul_add_native(x: &Tensor, y: &Tensor) -> Vec<Tensor> {
    vec![x * y, x + y]
}

/// Non-tensor arguments: y = alpha · x^p (p saved as a value, alpha in self).
pub struct ScaledPow {
    pub alpha: f64,
    pub p: f64,
}

impl CustomFunction for ScaledPow {
    fn num_inputs(&self) -> Option<usize> {
        Some(1)
    }
    fn forward(&mut self, ctx: &mut ForwardContext, i: &[Tensor]) -> Result<Vec<Tensor>, Error> {
        check_kind("ScaledPow input", &i[0], Kind::Double)?;
        ctx.save_for_backward(&[&i[0]]);
        ctx.save_value("p", self.p);
        Ok(vec![i[0]
            .f_pow_tensor_scalar(self.p)?
            .f_mul_scalar(self.alpha)?])
    }
    // dx = alpha · p · x^(p-1) · dy
    fn backward(&self, ctx: &BackwardContext, g: &[Tensor]) -> Result<Vec<Option<Tensor>>, Error> {
        let p = *ctx.value::<f64>("p")?;
        let x = &ctx.saved_tensors()[0];
        let d = x
            .f_pow_tensor_scalar(p - 1.0)?
            .f_mul_scalar(self.alpha * p)?
            .f_mul(&g[0])?;
        Ok(vec![Some(d)])
    }
}

/// y = relu(x) plus a float mask (x > 0) marked non-differentiable.
pub struct ReluWithMask;

impl CustomFunction for ReluWithMask {
    fn forward(&mut self, ctx: &mut ForwardContext, i: &[Tensor]) -> Result<Vec<Tensor>, Error> {
        let mask = i[0].f_gt(0.0)?.f_to_kind(Kind::Double)?;
        let y = i[0].f_mul(&mask)?;
        ctx.save_for_backward(&[&mask]);
        ctx.mark_non_differentiable(1);
        Ok(vec![y, mask])
    }
    // dx = dy · mask
    fn backward(&self, ctx: &BackwardContext, g: &[Tensor]) -> Result<Vec<Option<Tensor>>, Error> {
        Ok(vec![Some(g[0].f_mul(&ctx.saved_tensors()[0])?)])
    }
}

/// Slice-level kernel: y = tanh(x), computed on a copy of `x` (an input is shared with the
/// caller) into the fresh output's storage.
pub struct SliceTanh;

impl CustomFunction for SliceTanh {
    fn num_inputs(&self) -> Option<usize> {
        Some(1)
    }
    fn forward(&mut self, ctx: &mut ForwardContext, i: &[Tensor]) -> Result<Vec<Tensor>, Error> {
        let x = to_vec::<f64>(&i[0])?;
        let mut y = i[0].f_empty_like()?;
        for (yv, xv) in as_slice_mut::<f64>(&mut y)?.iter_mut().zip(x) {
            *yv = xv.tanh();
        }
        ctx.save_for_backward(&[&y]);
        Ok(vec![y])
    }
    // dx = dy · (1 − y²)
    fn backward(&self, ctx: &BackwardContext, g: &[Tensor]) -> Result<Vec<Option<Tensor>>, Error> {
        let y = to_vec::<f64>(&ctx.saved_tensors()[0])?;
        let dy = to_vec::<f64>(&g[0])?;
        let mut dx = g[0].f_empty_like()?;
        for ((d, yv), dyv) in as_slice_mut::<f64>(&mut dx)?.iter_mut().zip(y).zip(dy) {
            *d = dyv * (1.0 - yv * yv);
        }
        Ok(vec![Some(dx)])
    }
}

/// Backward fails with a Rust error.
pub struct FailingBackward;

impl CustomFunction for FailingBackward {
    fn forward(&mut self, _: &mut ForwardContext, i: &[Tensor]) -> Result<Vec<Tensor>, Error> {
        Ok(vec![i[0].f_mul_scalar(2.0)?])
    }
    fn backward(&self, _: &BackwardContext, _: &[Tensor]) -> Result<Vec<Option<Tensor>>, Error> {
        Err(Error::msg("backward deliberately failed"))
    }
}

/// Forward panics.
pub struct PanickingForward;

impl CustomFunction for PanickingForward {
    fn forward(&mut self, _: &mut ForwardContext, _: &[Tensor]) -> Result<Vec<Tensor>, Error> {
        panic!("forward deliberately panicked")
    }
    fn backward(&self, _: &BackwardContext, _: &[Tensor]) -> Result<Vec<Option<Tensor>>, Error> {
        Ok(vec![None])
    }
}

/// Backward panics.
pub struct PanickingBackward;

impl CustomFunction for PanickingBackward {
    fn forward(&mut self, _: &mut ForwardContext, i: &[Tensor]) -> Result<Vec<Tensor>, Error> {
        Ok(vec![i[0].f_mul_scalar(2.0)?])
    }
    fn backward(&self, _: &BackwardContext, _: &[Tensor]) -> Result<Vec<Option<Tensor>>, Error> {
        panic!("backward deliberately panicked")
    }
}

/// Backward returns one gradient for two inputs.
pub struct WrongGradCount;

impl CustomFunction for WrongGradCount {
    fn forward(&mut self, _: &mut ForwardContext, i: &[Tensor]) -> Result<Vec<Tensor>, Error> {
        Ok(vec![i[0].f_add(&i[1])?])
    }
    fn backward(&self, _: &BackwardContext, g: &[Tensor]) -> Result<Vec<Option<Tensor>>, Error> {
        Ok(vec![Some(g[0].shallow_clone())])
    }
}

/// Backward returns a gradient of the wrong shape.
pub struct WrongGradShape;

impl CustomFunction for WrongGradShape {
    fn forward(&mut self, _: &mut ForwardContext, i: &[Tensor]) -> Result<Vec<Tensor>, Error> {
        Ok(vec![i[0].f_sum(Kind::Double)?])
    }
    fn backward(&self, _: &BackwardContext, _: &[Tensor]) -> Result<Vec<Option<Tensor>>, Error> {
        Ok(vec![Some(Tensor::f_ones(
            [7],
            (Kind::Double, tch::Device::Cpu),
        )?)])
    }
}
