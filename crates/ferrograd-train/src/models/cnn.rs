//! W2: the gravitational-wave 1D-CNN with softmax cross-entropy, as a [`Model`].

// Kernels are found with their `_pullback`s by name.
use ferrograd::kernels::*;

use crate::model::{linear_params, Batch, CnnDims, Model, ParamInfo, Workspace, CNN_CONVS};
use crate::TrainError;

/// W2's parameters over any storage: `&[f32]` views of the arena to read, `&mut [f32]` for
/// their gradients. PyTorch layout: `conv*_w: [c_out, c_in, k]`, `fc1_w: [64, flat]`,
/// `fc2_w: [classes, 64]`.
#[derive(Debug)]
pub struct CnnParams<S> {
    pub conv1_w: S,
    pub conv1_b: S,
    pub conv2_w: S,
    pub conv2_b: S,
    pub conv3_w: S,
    pub conv3_b: S,
    pub fc1_w: S,
    pub fc1_b: S,
    pub fc2_w: S,
    pub fc2_b: S,
}

impl<S> CnnParams<S> {
    /// From the arena's regions, in [`GwCnn::params`] order.
    pub fn from_regions(r: [S; 10]) -> Self {
        let [conv1_w, conv1_b, conv2_w, conv2_b, conv3_w, conv3_b, fc1_w, fc1_b, fc2_w, fc2_b] = r;
        CnnParams {
            conv1_w,
            conv1_b,
            conv2_w,
            conv2_b,
            conv3_w,
            conv3_b,
            fc1_w,
            fc1_b,
            fc2_w,
            fc2_b,
        }
    }
}

/// W2's activations: the outputs `p*` of the three fused convolution → ReLU → max-pool stages
/// (`[batch, c_out, pool_len]`; the convolutions' outputs live only inside the stage, see
/// [`conv1d_relu_max_pool1d`]), the hidden layer `f1`/`a1` (`[batch, 64]`), `logits` and
/// `probs` (`[batch, classes]`). The last stage's output is read as the flattened
/// `[batch, flat]`.
#[derive(Debug)]
pub struct CnnActs<S> {
    pub p1: S,
    pub p2: S,
    pub p3: S,
    pub f1: S,
    pub a1: S,
    pub logits: S,
    pub probs: S,
}

impl<S> CnnActs<S> {
    /// From the arena's regions, in [`GwCnn::activation_row_lens`] order.
    pub fn from_regions(r: [S; 7]) -> Self {
        let [p1, p2, p3, f1, a1, logits, probs] = r;
        CnnActs {
            p1,
            p2,
            p3,
            f1,
            a1,
            logits,
            probs,
        }
    }
}

impl CnnActs<Vec<f32>> {
    /// Zeroed buffers for one batch of `d.batch` rows (outside the arena: the LibTorch
    /// bridge, tests).
    pub fn zeros(d: &CnnDims) -> Self {
        let z = |n: usize| vec![0.0f32; n];
        let pooled = |i: usize| z(d.pool[i].rows * d.pool_len(i));
        let (h, k) = (d.batch * d.hidden, d.batch * d.classes);
        CnnActs::from_regions([pooled(0), pooled(1), pooled(2), z(h), z(h), z(k), z(k)])
    }
}

impl<S: AsMut<[f32]>> CnnActs<S> {
    /// Zeroes every buffer (adjoints before a pullback that did not finish).
    pub fn zero(&mut self) {
        self.p1.as_mut().fill(0.0);
        self.p2.as_mut().fill(0.0);
        self.p3.as_mut().fill(0.0);
        self.f1.as_mut().fill(0.0);
        self.a1.as_mut().fill(0.0);
        self.logits.as_mut().fill(0.0);
        self.probs.as_mut().fill(0.0);
    }

    /// The buffers as a view.
    pub fn as_view(&mut self) -> CnnActs<&mut [f32]> {
        CnnActs {
            p1: self.p1.as_mut(),
            p2: self.p2.as_mut(),
            p3: self.p3.as_mut(),
            f1: self.f1.as_mut(),
            a1: self.a1.as_mut(),
            logits: self.logits.as_mut(),
            probs: self.probs.as_mut(),
        }
    }
}

/// The max-pool argmax of each pooling stage (integer scratch the pullbacks read).
#[derive(Debug)]
pub struct PoolArgmax<S> {
    pub am1: S,
    pub am2: S,
    pub am3: S,
}

impl PoolArgmax<Vec<usize>> {
    /// Zeroed buffers for one batch.
    pub fn zeros(d: &CnnDims) -> Self {
        let z = |i: usize| vec![0usize; d.pool[i].rows * d.pool_len(i)];
        PoolArgmax {
            am1: z(0),
            am2: z(1),
            am3: z(2),
        }
    }

    /// The buffers as a view.
    pub fn as_view(&mut self) -> PoolArgmax<&mut [usize]> {
        PoolArgmax {
            am1: &mut self.am1,
            am2: &mut self.am2,
            am3: &mut self.am3,
        }
    }
}

/// Mean cross-entropy of W2 on a batch `x: [batch, 1, len]`.
#[ferrograd::differentiable(wrt(p), reverse_only)]
pub fn gw_cnn_loss(
    x: &[f32],
    labels: &[usize],
    p: &CnnParams<&[f32]>,
    acts: &mut CnnActs<&mut [f32]>,
    am: &mut PoolArgmax<&mut [usize]>,
    d: &CnnDims,
) -> Result<f32, KernelError> {
    // Convolution, ReLU and max-pool fused: the values of `conv1d`, `relu` and `max_pool1d`.
    conv1d_relu_max_pool1d(
        acts.p1, x, p.conv1_w, p.conv1_b, am.am1, d.conv[0], d.pool[0],
    )?;
    conv1d_relu_max_pool1d(
        acts.p2, acts.p1, p.conv2_w, p.conv2_b, am.am2, d.conv[1], d.pool[1],
    )?;
    conv1d_relu_max_pool1d(
        acts.p3, acts.p2, p.conv3_w, p.conv3_b, am.am3, d.conv[2], d.pool[2],
    )?;
    linear(
        acts.f1, acts.p3, p.fc1_w, p.fc1_b, d.batch, d.flat, d.hidden,
    )?;
    relu(acts.a1, acts.f1)?;
    linear(
        acts.logits,
        acts.a1,
        p.fc2_w,
        p.fc2_b,
        d.batch,
        d.hidden,
        d.classes,
    )?;
    let loss = softmax_cross_entropy(acts.probs, acts.logits, labels, d.batch, d.classes)?;
    Ok(loss)
}

/// W2 on `[B, 1, len]`:
/// `Conv1d(1→16,k16)→ReLU→MaxPool4 → Conv1d(16→32,k8)→ReLU→MaxPool4 →
/// Conv1d(32→64,k8)→ReLU→MaxPool4 → Flatten → Linear(→64)→ReLU → Linear(→classes)`.
/// For `len = 2048` the flattened size is 64·29 = 1856.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GwCnn {
    pub len: usize,
    pub classes: usize,
}

impl GwCnn {
    fn dims(&self, batch: usize) -> Result<CnnDims, TrainError> {
        if self.classes == 0 {
            return Err(TrainError::config("classes", "must be at least 1"));
        }
        CnnDims::new(self.len, self.classes, batch)
    }
}

impl Model for GwCnn {
    fn input_len(&self) -> usize {
        self.len
    }

    fn classes(&self) -> usize {
        self.classes
    }

    fn params(&self) -> Result<Vec<ParamInfo>, TrainError> {
        let d = self.dims(1)?;
        let names = [
            ("conv1.weight", "conv1.bias"),
            ("conv2.weight", "conv2.bias"),
            ("conv3.weight", "conv3.bias"),
        ];
        let mut v = Vec::new();
        for ((w, b), &(c_in, c_out, k)) in names.iter().zip(&CNN_CONVS) {
            v.push(ParamInfo {
                name: w,
                shape: vec![c_out, c_in, k],
                fan_in: c_in * k,
            });
            v.push(ParamInfo {
                name: b,
                shape: vec![c_out],
                fan_in: c_in * k,
            });
        }
        v.extend(linear_params("fc1.weight", "fc1.bias", d.flat, d.hidden));
        v.extend(linear_params(
            "fc2.weight",
            "fc2.bias",
            d.hidden,
            self.classes,
        ));
        Ok(v)
    }

    fn activation_row_lens(&self) -> Result<Vec<usize>, TrainError> {
        let d = self.dims(1)?;
        let mut v = Vec::new();
        for (i, &(_, c_out, _)) in CNN_CONVS.iter().enumerate() {
            v.push(c_out * d.pool_len(i));
        }
        v.extend([d.hidden, d.hidden, self.classes, self.classes]);
        Ok(v)
    }

    fn index_row_lens(&self) -> Result<Vec<usize>, TrainError> {
        let d = self.dims(1)?;
        Ok(CNN_CONVS
            .iter()
            .enumerate()
            .map(|(i, &(_, c_out, _))| c_out * d.pool_len(i))
            .collect())
    }

    fn logits_region(&self) -> usize {
        5
    }

    fn loss(&self, batch: &Batch<'_>, ws: Workspace<'_>) -> Result<f32, TrainError> {
        if batch.weights.is_some() {
            return Err(TrainError::config(
                "weights",
                "event weights are implemented for the MLP only",
            ));
        }
        let d = self.dims(ws.rows())?;
        let r = ws.split::<10, 7, 3>()?;
        let p = CnnParams::from_regions(r.params);
        let mut acts = CnnActs::from_regions(r.acts);
        let [am1, am2, am3] = r.index;
        let mut am = PoolArgmax { am1, am2, am3 };
        let (x, labels) = (batch.x, batch.labels);
        Ok(match r.grads {
            Some((g, da)) => gw_cnn_loss_grad(
                x,
                labels,
                &p,
                &mut acts,
                &mut am,
                &d,
                &mut CnnParams::from_regions(g),
                &mut CnnActs::from_regions(da),
            )?,
            None => gw_cnn_loss(x, labels, &p, &mut acts, &mut am, &d)?,
        })
    }
}
