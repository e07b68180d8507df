//! W1: the MNIST MLP `Linear(in→hidden) → ReLU → Linear(hidden→classes)` with softmax
//! cross-entropy (mean over the batch), as a [`Model`].
//!
//! The pattern for a model: view structs generic over their storage ([`MlpParams`],
//! [`MlpActs`]), a `#[differentiable(wrt(p), reverse_only)]` loss over them, whose generated
//! `_grad` takes the same structs over `&mut` slices for the adjoints, and a [`Model`] impl
//! that lays out the arena and cuts a [`Workspace`] into the views.

// Kernels are found with their `_pullback`s by name.
use ferrograd::kernels::*;

use crate::model::{linear_params, Batch, Model, ParamInfo, Workspace};
use crate::weighted::*;
use crate::TrainError;

/// The MLP's parameters over any storage (`&[f32]` views of the arena, `&mut [f32]` for their
/// gradients). PyTorch layout: `w1: [hidden, in]`, `b1: [hidden]`, `w2: [classes, hidden]`,
/// `b2: [classes]`.
#[derive(Debug)]
pub struct MlpParams<S> {
    pub w1: S,
    pub b1: S,
    pub w2: S,
    pub b2: S,
}

impl<S> MlpParams<S> {
    /// From the arena's regions, in [`Mlp::params`] order.
    pub fn from_regions([w1, b1, w2, b2]: [S; 4]) -> Self {
        MlpParams { w1, b1, w2, b2 }
    }
}

/// The MLP's activations: `h, a: [batch, hidden]` (before and after the ReLU),
/// `logits, probs: [batch, classes]`.
#[derive(Debug)]
pub struct MlpActs<S> {
    pub h: S,
    pub a: S,
    pub logits: S,
    pub probs: S,
}

impl<S> MlpActs<S> {
    /// From the arena's regions, in [`Mlp::activation_row_lens`] order.
    pub fn from_regions([h, a, logits, probs]: [S; 4]) -> Self {
        MlpActs {
            h,
            a,
            logits,
            probs,
        }
    }
}

impl MlpActs<Vec<f32>> {
    /// Zeroed buffers for one batch (outside the arena: the LibTorch bridge, tests).
    pub fn zeros(d: &MlpDims) -> Self {
        let z = |n: usize| vec![0.0f32; d.batch * n];
        MlpActs::from_regions([z(d.hidden), z(d.hidden), z(d.classes), z(d.classes)])
    }
}

impl<S: AsMut<[f32]>> MlpActs<S> {
    /// Zeroes every buffer (adjoints before a pullback that did not finish).
    pub fn zero(&mut self) {
        self.h.as_mut().fill(0.0);
        self.a.as_mut().fill(0.0);
        self.logits.as_mut().fill(0.0);
        self.probs.as_mut().fill(0.0);
    }

    /// The buffers as a view.
    pub fn as_view(&mut self) -> MlpActs<&mut [f32]> {
        MlpActs {
            h: self.h.as_mut(),
            a: self.a.as_mut(),
            logits: self.logits.as_mut(),
            probs: self.probs.as_mut(),
        }
    }
}

/// W1: `in_features → hidden → classes`. W1a is `hidden = 128`, W1b `hidden = 512` (MNIST:
/// `in = 784`, `classes = 10`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Mlp {
    pub in_features: usize,
    pub hidden: usize,
    pub classes: usize,
}

/// The MLP's sizes for one batch.
#[derive(Clone, Copy, Debug)]
pub struct MlpDims {
    pub batch: usize,
    pub in_features: usize,
    pub hidden: usize,
    pub classes: usize,
}

/// Mean cross-entropy of the MLP on a batch `x: [batch, in_features]`.
#[ferrograd::differentiable(wrt(p), reverse_only)]
pub fn mlp_loss(
    x: &[f32],
    labels: &[usize],
    p: &MlpParams<&[f32]>,
    acts: &mut MlpActs<&mut [f32]>,
    d: &MlpDims,
) -> Result<f32, KernelError> {
    linear(acts.h, x, p.w1, p.b1, d.batch, d.in_features, d.hidden)?;
    relu(acts.a, acts.h)?;
    linear(
        acts.logits,
        acts.a,
        p.w2,
        p.b2,
        d.batch,
        d.hidden,
        d.classes,
    )?;
    let loss = softmax_cross_entropy(acts.probs, acts.logits, labels, d.batch, d.classes)?;
    Ok(loss)
}

/// [`mlp_loss`] with event weights: `(1/batch) Σ_r w_r·CE_r`, `weights: [batch]`
/// ([`crate::weighted::weighted_softmax_cross_entropy`]).
#[ferrograd::differentiable(wrt(p), reverse_only)]
pub fn mlp_weighted_loss(
    x: &[f32],
    labels: &[usize],
    weights: &[f32],
    p: &MlpParams<&[f32]>,
    acts: &mut MlpActs<&mut [f32]>,
    d: &MlpDims,
) -> Result<f32, KernelError> {
    linear(acts.h, x, p.w1, p.b1, d.batch, d.in_features, d.hidden)?;
    relu(acts.a, acts.h)?;
    linear(
        acts.logits,
        acts.a,
        p.w2,
        p.b2,
        d.batch,
        d.hidden,
        d.classes,
    )?;
    let loss = weighted_softmax_cross_entropy(
        acts.probs,
        acts.logits,
        labels,
        weights,
        d.batch,
        d.classes,
    )?;
    Ok(loss)
}

impl Model for Mlp {
    fn input_len(&self) -> usize {
        self.in_features
    }

    fn classes(&self) -> usize {
        self.classes
    }

    fn params(&self) -> Result<Vec<ParamInfo>, TrainError> {
        for (f, v) in [
            ("in_features", self.in_features),
            ("hidden", self.hidden),
            ("classes", self.classes),
        ] {
            if v == 0 {
                return Err(TrainError::config(f, "must be at least 1"));
            }
        }
        let mut v = linear_params("fc1.weight", "fc1.bias", self.in_features, self.hidden).to_vec();
        v.extend(linear_params(
            "fc2.weight",
            "fc2.bias",
            self.hidden,
            self.classes,
        ));
        Ok(v)
    }

    fn activation_row_lens(&self) -> Result<Vec<usize>, TrainError> {
        self.params()?;
        Ok(vec![self.hidden, self.hidden, self.classes, self.classes])
    }

    fn logits_region(&self) -> usize {
        2
    }

    fn supports_weights(&self) -> bool {
        true
    }

    fn loss(&self, batch: &Batch<'_>, ws: Workspace<'_>) -> Result<f32, TrainError> {
        let d = MlpDims {
            batch: ws.rows(),
            in_features: self.in_features,
            hidden: self.hidden,
            classes: self.classes,
        };
        let r = ws.split::<4, 4, 0>()?;
        let p = MlpParams::from_regions(r.params);
        let mut acts = MlpActs::from_regions(r.acts);
        let (x, labels) = (batch.x, batch.labels);
        Ok(match (r.grads, batch.weights) {
            (Some((g, da)), None) => mlp_loss_grad(
                x,
                labels,
                &p,
                &mut acts,
                &d,
                &mut MlpParams::from_regions(g),
                &mut MlpActs::from_regions(da),
            )?,
            (Some((g, da)), Some(w)) => mlp_weighted_loss_grad(
                x,
                labels,
                w,
                &p,
                &mut acts,
                &d,
                &mut MlpParams::from_regions(g),
                &mut MlpActs::from_regions(da),
            )?,
            (None, None) => mlp_loss(x, labels, &p, &mut acts, &d)?,
            (None, Some(w)) => mlp_weighted_loss(x, labels, w, &p, &mut acts, &d)?,
        })
    }
}
