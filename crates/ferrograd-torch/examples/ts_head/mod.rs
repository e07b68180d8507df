//! A ferrograd classification head for TorchScript backbones (mixed models).
//!
//! Shared by `examples/finetune_mnist.rs` and `tests/torchscript.rs` (with `#[path]`), so
//! both run the same code. [`head_loss`] (a linear layer and mean softmax cross-entropy over
//! ferrograd kernels) is `#[differentiable]`; [`LinearHead::loss`] runs the generated
//! `head_loss_grad` as ONE LibTorch autograd node ([`value_and_grad_node`]) whose inputs are
//! the backbone's features and the head's `VarStore` parameters. LibTorch's engine then
//! carries the node's feature gradient back through the TorchScript backbone, so one
//! `backward` + one tch optimizer step trains both (or only the head, if the backbone is
//! frozen: then the features need no gradient and the node skips that GEMM).

#![allow(dead_code)] // each including target uses a different subset

// Kernels are found with their `_pullback`s by name.
use ferrograd_kernels::*;
use ferrograd_torch::node::value_and_grad_node;
use ferrograd_torch::Error;
use tch::nn;
use tch::Tensor;

/// Mean softmax cross-entropy of `x[batch, d_in] · wᵀ + b` (PyTorch's `Linear` layout,
/// `w: [classes, d_in]`); `logits`, `probs` are the caller's activation buffers.
///
/// `#[differentiable]` generates `head_loss_grad`: the loss and its gradients w.r.t. the
/// features `x` (for the backbone) and the weights, in one sweep. An empty `d_x` means "not
/// wanted" (frozen backbone): the kernels skip that product.
#[ferrograd::differentiable(wrt(x, w, b), reverse_only)]
#[expect(
    clippy::too_many_arguments,
    reason = "the kernel-level AD calling convention"
)]
pub fn head_loss(
    logits: &mut [f32],
    probs: &mut [f32],
    x: &[f32],
    w: &[f32],
    b: &[f32],
    labels: &[usize],
    batch: usize,
    d_in: usize,
    classes: usize,
) -> Result<f32, KernelError> {
    linear(logits, x, w, b, batch, d_in, classes)?;
    let loss = softmax_cross_entropy(probs, logits, labels, batch, classes)?;
    Ok(loss)
}

/// The head's parameters, registered in a `VarStore` as `w`, `b`.
pub struct LinearHead {
    pub w: Tensor,
    pub b: Tensor,
}

fn dim(t: &Tensor, d: usize) -> usize {
    t.size()
        .get(d)
        .and_then(|&n| usize::try_from(n).ok())
        .unwrap_or(0)
}

impl LinearHead {
    /// A head initialised with copies of `w: [classes, d_in]`, `b: [classes]` (e.g. a
    /// pretrained PyTorch classifier's weights), trainable, under `root`.
    pub fn from_tensors(root: &nn::Path, w: &Tensor, b: &Tensor) -> Result<Self, Error> {
        let classes = dim(w, 0);
        if w.dim() != 2 || b.size() != [classes as i64] {
            return Err(Error::msg(format!(
                "head: w must be [classes, d_in] and b [classes], got {:?} and {:?}",
                w.size(),
                b.size()
            )));
        }
        let f32 = |t: &Tensor| t.to_kind(tch::Kind::Float).detach().copy();
        Ok(LinearHead {
            w: root.add("w", f32(w), true),
            b: root.add("b", f32(b), true),
        })
    }

    /// Logits with native LibTorch ops (evaluation, under `no_grad` by the caller).
    pub fn logits(&self, features: &Tensor) -> Tensor {
        features.linear(&self.w, Some(&self.b))
    }

    /// The mean cross-entropy of `features: [batch, d_in]` (f32) against `labels` as one
    /// autograd node running the generated `head_loss_grad`.
    ///
    /// # Errors
    /// Wrong dtype or layout of the features (named by the node), a label count other than
    /// the batch or a label out of range (the kernels' errors).
    pub fn loss(&self, features: &Tensor, labels: &[usize]) -> Result<Tensor, Error> {
        let (batch, d_in, classes) = (dim(features, 0), dim(&self.w, 1), dim(&self.w, 0));
        if features.dim() != 2 || dim(features, 1) != d_in || labels.len() != batch {
            return Err(Error::msg(format!(
                "head: features must be [batch, {d_in}] with one label per row, got {:?} and \
                 {} labels",
                features.size(),
                labels.len()
            )));
        }
        let x = features.contiguous();
        let mut logits = vec![0.0f32; batch * classes];
        let mut probs = vec![0.0f32; batch * classes];
        let mut d_logits = vec![0.0f32; batch * classes];
        let mut d_probs = vec![0.0f32; batch * classes];
        value_and_grad_node("head_loss", &[&x, &self.w, &self.b], |[x, w, b], d| {
            let [d_x, d_w, d_b] = d;
            Ok(head_loss_grad(
                &mut logits,
                &mut probs,
                x,
                w,
                b,
                labels,
                batch,
                d_in,
                classes,
                &mut d_logits,
                &mut d_probs,
                d_x,
                d_w,
                d_b,
            )?)
        })
    }
}
