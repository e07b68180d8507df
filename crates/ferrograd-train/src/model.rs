//! What the arena engine trains: the [`Model`] trait, the built-in models' catalogue
//! [`ModelSpec`], and the memory layout a model asks for.
//!
//! A model says which parameters it has (PyTorch names, shapes and `fan_in` for
//! initialisation), the per-example sizes of its activations and integer scratch, and how to
//! compute its loss (and gradient) over views of the arena. [`crate::Network`] lays the arena
//! out once from that and hands each step a [`Workspace`]; the model takes it apart into its
//! own named view structs ([`crate::models`]) and calls its `#[differentiable]` loss.

use ferrograd::kernels::{Conv1dDims, Pool1dDims};

use crate::arena::{split_mut, split_mut_usize, split_ref};
use crate::models::{cnn::GwCnn, mlp::Mlp};
use crate::TrainError;

/// A network the arena engine ([`crate::Network`]) can train. Implement it for your own model:
/// lay out its parameters and buffers, and compute its loss with a `#[differentiable]`
/// function over view structs (see [`crate::models::mlp`] for the pattern).
pub trait Model: std::fmt::Debug {
    /// A short name for messages (the built-in models give their checkpoint tag).
    fn name(&self) -> String {
        format!("{self:?}")
    }
    /// Values per input example.
    fn input_len(&self) -> usize;
    /// Number of output classes (the width of the logits).
    fn classes(&self) -> usize;
    /// Labels (and rows of logits) per input example: 1 for a classifier, the sequence length
    /// for a language model that predicts every next token.
    fn labels_per_example(&self) -> usize {
        1
    }
    /// Fills `params` (laid out as `infos`) from `seed`. The default is PyTorch's for
    /// `Linear`/`Conv1d` ([`crate::init::kaiming_uniform`] with each tensor's `fan_in`).
    fn init_params(&self, infos: &[ParamInfo], params: &mut [f32], seed: u64) {
        let mut rng = crate::init::SplitMix64::new(seed);
        let mut off = 0;
        for p in infos {
            let n = p.len();
            crate::init::kaiming_uniform(&mut rng, &mut params[off..off + n], p.fan_in);
            off += n;
        }
    }
    /// The parameters, in the order of the arena.
    ///
    /// # Errors
    /// [`TrainError::Config`] for impossible sizes.
    fn params(&self) -> Result<Vec<ParamInfo>, TrainError>;
    /// Per-example lengths of the `f32` activation regions, in the order of the arena.
    ///
    /// # Errors
    /// As [`Model::params`].
    fn activation_row_lens(&self) -> Result<Vec<usize>, TrainError>;
    /// Per-example lengths of the integer scratch regions (max-pool argmax); none by default.
    ///
    /// # Errors
    /// As [`Model::params`].
    fn index_row_lens(&self) -> Result<Vec<usize>, TrainError> {
        Ok(Vec::new())
    }
    /// Which activation region holds the logits `[rows, classes]`.
    fn logits_region(&self) -> usize;
    /// Whether [`Model::loss`] accepts event weights.
    fn supports_weights(&self) -> bool {
        false
    }
    /// The mean loss on `batch`, and, if `ws` has gradients, its gradient (added into them,
    /// with the activation adjoints as scratch that the pullbacks leave zeroed). Must not
    /// allocate.
    ///
    /// # Errors
    /// [`TrainError::Kernel`] for a label out of range; [`TrainError::Config`] for weights on
    /// a model that does not support them.
    fn loss(&self, batch: &Batch<'_>, ws: Workspace<'_>) -> Result<f32, TrainError>;
}

/// One batch: `x: [rows, input_len]`, `labels: [rows·labels_per_example]`, optional event
/// weights `[rows]`.
#[derive(Clone, Copy, Debug)]
pub struct Batch<'a> {
    pub x: &'a [f32],
    pub labels: &'a [usize],
    pub weights: Option<&'a [f32]>,
}

impl Batch<'_> {
    /// Number of labels (the number of examples for a classifier; [`Workspace::rows`] is the
    /// number of examples in every case).
    pub fn rows(&self) -> usize {
        self.labels.len()
    }
}

/// One step's borrow of the arena: flat buffers and their layouts. [`Workspace::split`] cuts
/// it into fixed-size arrays of disjoint slices (on the stack, no allocation).
#[derive(Debug)]
pub struct Workspace<'a> {
    pub(crate) params: &'a [f32],
    pub(crate) param_lens: &'a [usize],
    pub(crate) acts: &'a mut [f32],
    pub(crate) act_row_lens: &'a [usize],
    pub(crate) index: &'a mut [usize],
    pub(crate) index_row_lens: &'a [usize],
    /// Gradients and activation adjoints, for a gradient step.
    pub(crate) grads: Option<(&'a mut [f32], &'a mut [f32])>,
    pub(crate) max_batch: usize,
    pub(crate) rows: usize,
}

/// A [`Workspace`] cut into regions: `P` parameters, `A` activations (the rows of this batch),
/// `I` integer scratch regions, and for a gradient step the matching gradient and adjoint
/// regions.
#[derive(Debug)]
pub struct Regions<'a, const P: usize, const A: usize, const I: usize> {
    pub params: [&'a [f32]; P],
    pub acts: [&'a mut [f32]; A],
    pub index: [&'a mut [usize]; I],
    pub grads: Option<GradRegions<'a, P, A>>,
}

/// The gradient regions of `P` parameters and the adjoints of `A` activations.
pub type GradRegions<'a, const P: usize, const A: usize> = ([&'a mut [f32]; P], [&'a mut [f32]; A]);

impl<'a> Workspace<'a> {
    /// Rows in this batch.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Cuts the buffers into `P`/`A`/`I` regions (the counts of the model's layout).
    ///
    /// # Errors
    /// [`TrainError::Config`] if the counts do not match the layout the arena was made from.
    pub fn split<const P: usize, const A: usize, const I: usize>(
        self,
    ) -> Result<Regions<'a, P, A, I>, TrainError> {
        let (pl, rl, il) = (
            fixed::<P>(self.param_lens)?,
            fixed::<A>(self.act_row_lens)?,
            fixed::<I>(self.index_row_lens)?,
        );
        let (mb, rows) = (self.max_batch, self.rows);
        let regions = rl.map(|l| l * mb);
        let acts = prefix(split_mut(self.acts, &regions), rl, rows);
        let index = prefix(split_mut_usize(self.index, &il.map(|l| l * mb)), il, rows);
        let grads = self
            .grads
            .map(|(g, da)| (split_mut(g, &pl), prefix(split_mut(da, &regions), rl, rows)));
        Ok(Regions {
            params: split_ref(self.params, &pl),
            acts,
            index,
            grads,
        })
    }
}

/// The layout as a fixed-size array, or an error if the model's count is another.
fn fixed<const N: usize>(v: &[usize]) -> Result<[usize; N], TrainError> {
    v.try_into().map_err(|_| {
        TrainError::config(
            "model",
            format!(
                "the model splits {N} regions but its layout has {} (a bug in the model)",
                v.len()
            ),
        )
    })
}

/// The first `row_lens[i]·rows` elements of each piece (the rows of this batch).
fn prefix<T, const N: usize>(
    pieces: [&mut [T]; N],
    row_lens: [usize; N],
    rows: usize,
) -> [&mut [T]; N] {
    let mut i = 0;
    pieces.map(|s| {
        let n = row_lens[i] * rows;
        i += 1;
        &mut s[..n]
    })
}

/// The built-in models (DESIGN.md §7), by name: what the CLI's `--model`, checkpoints
/// (`tag`) and the benchmark peers refer to. Each is a [`Model`] (through [`Mlp`] and
/// [`GwCnn`]); the engine itself trains any [`Model`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ModelSpec {
    /// W1: `Linear(in→hidden) → ReLU → Linear(hidden→classes)`, softmax cross-entropy.
    /// W1a is `hidden = 128`, W1b `hidden = 512` (MNIST: `in = 784`, `classes = 10`).
    Mlp {
        in_features: usize,
        hidden: usize,
        classes: usize,
    },
    /// W2, the GW 1D-CNN on `[B, 1, len]`:
    /// `Conv1d(1→16,k16)→ReLU→MaxPool4 → Conv1d(16→32,k8)→ReLU→MaxPool4 →
    /// Conv1d(32→64,k8)→ReLU→MaxPool4 → Flatten → Linear(→64)→ReLU → Linear(→classes)`.
    /// For `len = 2048` the flattened size is 64·29 = 1856.
    GwCnn { len: usize, classes: usize },
}

/// One parameter tensor.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParamInfo {
    /// PyTorch-style name (`fc1.weight`, `conv2.bias`, …).
    pub name: &'static str,
    /// PyTorch layout (`[out, in]` for linear weights, `[c_out, c_in, k]` for convolutions).
    pub shape: Vec<usize>,
    /// Fan-in for PyTorch's default initialisation.
    pub fan_in: usize,
}

impl ParamInfo {
    /// Number of elements.
    pub fn len(&self) -> usize {
        self.shape.iter().product()
    }

    /// Whether the tensor has no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Channels and kernel sizes of W2's three convolutions.
pub(crate) const CNN_CONVS: [(usize, usize, usize); 3] = [(1, 16, 16), (16, 32, 8), (32, 64, 8)];
/// Max-pool window (= stride) after each convolution.
pub(crate) const CNN_POOL: usize = 4;
/// Width of W2's hidden fully connected layer.
pub(crate) const CNN_HIDDEN: usize = 64;

/// The shapes of W2 for a given input length and batch size.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CnnDims {
    pub conv: [Conv1dDims; 3],
    pub pool: [Pool1dDims; 3],
    /// Flattened features after the last pool (`64·len3`).
    pub flat: usize,
    pub hidden: usize,
    pub classes: usize,
    pub batch: usize,
}

impl CnnDims {
    /// The shapes for `batch` examples of `len` samples, or an error if `len` is too short for
    /// three convolution + pooling stages.
    pub fn new(len: usize, classes: usize, batch: usize) -> Result<Self, TrainError> {
        let mut l = len;
        let mut conv = [Conv1dDims {
            batch,
            c_in: 1,
            len_in: 1,
            c_out: 1,
            kernel: 1,
            stride: 1,
            padding: 0,
            dilation: 1,
        }; 3];
        let mut pool = [Pool1dDims {
            rows: 1,
            len_in: 1,
            kernel: CNN_POOL,
            stride: CNN_POOL,
            padding: 0,
        }; 3];
        for (i, &(c_in, c_out, kernel)) in CNN_CONVS.iter().enumerate() {
            conv[i] = Conv1dDims {
                batch,
                c_in,
                len_in: l,
                c_out,
                kernel,
                stride: 1,
                padding: 0,
                dilation: 1,
            };
            let lc = conv[i].len_out().map_err(|_| {
                TrainError::config("len", format!("{len} samples is too short for the W2 CNN"))
            })?;
            pool[i] = Pool1dDims {
                rows: batch * c_out,
                len_in: lc,
                kernel: CNN_POOL,
                stride: CNN_POOL,
                padding: 0,
            };
            l = pool[i].len_out().map_err(|_| {
                TrainError::config("len", format!("{len} samples is too short for the W2 CNN"))
            })?;
        }
        Ok(CnnDims {
            conv,
            pool,
            flat: CNN_CONVS[2].1 * l,
            hidden: CNN_HIDDEN,
            classes,
            batch,
        })
    }

    /// The same shapes for another batch size.
    pub fn with_batch(mut self, batch: usize) -> Self {
        for (c, p) in self.conv.iter_mut().zip(self.pool.iter_mut()) {
            c.batch = batch;
            p.rows = batch * c.c_out;
        }
        self.batch = batch;
        self
    }

    /// Output length of convolution `i` (validated in [`CnnDims::new`]).
    pub fn conv_len(&self, i: usize) -> usize {
        self.pool[i].len_in
    }

    /// Output length of pool `i`.
    pub fn pool_len(&self, i: usize) -> usize {
        (self.pool[i].len_in - CNN_POOL) / CNN_POOL + 1
    }
}

impl ModelSpec {
    /// W1a: MNIST MLP with 128 hidden units.
    pub const W1A: ModelSpec = ModelSpec::Mlp {
        in_features: 784,
        hidden: 128,
        classes: 10,
    };
    /// W1b: MNIST MLP with 512 hidden units.
    pub const W1B: ModelSpec = ModelSpec::Mlp {
        in_features: 784,
        hidden: 512,
        classes: 10,
    };
    /// W2: the GW CNN on 2048 samples, two classes.
    pub const W2: ModelSpec = ModelSpec::GwCnn {
        len: 2048,
        classes: 2,
    };

    /// The model this names.
    fn with<R>(&self, f: impl FnOnce(&dyn Model) -> R) -> R {
        match *self {
            ModelSpec::Mlp {
                in_features,
                hidden,
                classes,
            } => f(&Mlp {
                in_features,
                hidden,
                classes,
            }),
            ModelSpec::GwCnn { len, classes } => f(&GwCnn { len, classes }),
        }
    }

    /// Checks the sizes (all ≥ 1, CNN input long enough).
    ///
    /// # Errors
    /// [`TrainError::Config`] naming the bad field.
    pub fn validate(&self) -> Result<(), TrainError> {
        self.params().map(|_| ())
    }

    /// Values per input example.
    pub fn input_len(&self) -> usize {
        self.with(|m| m.input_len())
    }

    /// Number of output classes.
    pub fn classes(&self) -> usize {
        self.with(|m| m.classes())
    }

    /// The parameters, in the order of the arena.
    ///
    /// # Errors
    /// As [`ModelSpec::validate`].
    pub fn params(&self) -> Result<Vec<ParamInfo>, TrainError> {
        self.with(|m| m.params())
    }

    /// A stable text form stored in checkpoints: `mlp:784:128:10`, `gwcnn:2048:2`.
    pub fn tag(&self) -> String {
        match *self {
            ModelSpec::Mlp {
                in_features,
                hidden,
                classes,
            } => format!("mlp:{in_features}:{hidden}:{classes}"),
            ModelSpec::GwCnn { len, classes } => format!("gwcnn:{len}:{classes}"),
        }
    }

    /// Parses [`ModelSpec::tag`]'s form.
    pub fn from_tag(tag: &str) -> Option<ModelSpec> {
        let mut it = tag.split(':');
        let kind = it.next()?;
        let nums: Vec<usize> = it.map(|s| s.parse().ok()).collect::<Option<_>>()?;
        match (kind, nums.as_slice()) {
            ("mlp", &[in_features, hidden, classes]) => Some(ModelSpec::Mlp {
                in_features,
                hidden,
                classes,
            }),
            ("gwcnn", &[len, classes]) => Some(ModelSpec::GwCnn { len, classes }),
            _ => None,
        }
    }
}

impl Model for ModelSpec {
    fn name(&self) -> String {
        self.tag()
    }
    fn input_len(&self) -> usize {
        ModelSpec::input_len(self)
    }
    fn classes(&self) -> usize {
        ModelSpec::classes(self)
    }
    fn params(&self) -> Result<Vec<ParamInfo>, TrainError> {
        ModelSpec::params(self)
    }
    fn activation_row_lens(&self) -> Result<Vec<usize>, TrainError> {
        self.with(|m| m.activation_row_lens())
    }
    fn index_row_lens(&self) -> Result<Vec<usize>, TrainError> {
        self.with(|m| m.index_row_lens())
    }
    fn logits_region(&self) -> usize {
        self.with(|m| m.logits_region())
    }
    fn supports_weights(&self) -> bool {
        self.with(|m| m.supports_weights())
    }
    fn loss(&self, batch: &Batch<'_>, ws: Workspace<'_>) -> Result<f32, TrainError> {
        self.with(|m| m.loss(batch, ws))
    }
}

/// One parameter of a linear layer pair (weight `[out, in]`, bias `[out]`), PyTorch's names.
pub(crate) fn linear_params(
    w: &'static str,
    b: &'static str,
    i: usize,
    o: usize,
) -> [ParamInfo; 2] {
    [
        ParamInfo {
            name: w,
            shape: vec![o, i],
            fan_in: i,
        },
        ParamInfo {
            name: b,
            shape: vec![o],
            fan_in: i,
        },
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn w2_matches_design() {
        let d = CnnDims::new(2048, 2, 32).unwrap();
        assert_eq!(
            [d.conv_len(0), d.conv_len(1), d.conv_len(2)],
            [2033, 501, 118]
        );
        assert_eq!(
            [d.pool_len(0), d.pool_len(1), d.pool_len(2)],
            [508, 125, 29]
        );
        assert_eq!(d.flat, 1856);
        let n: usize = ModelSpec::W2
            .params()
            .unwrap()
            .iter()
            .map(|p| p.len())
            .sum();
        // conv: 16·16+16, 32·16·8+32, 64·32·8+64; fc: 1856·64+64, 64·2+2
        assert_eq!(n, 272 + 4128 + 16448 + 118_848 + 130);
        assert!(CnnDims::new(40, 2, 1).is_err());
    }

    #[test]
    fn tags_round_trip() {
        for s in [ModelSpec::W1A, ModelSpec::W1B, ModelSpec::W2] {
            assert_eq!(ModelSpec::from_tag(&s.tag()), Some(s));
        }
        assert_eq!(ModelSpec::from_tag("mlp:1:2"), None);
        assert_eq!(ModelSpec::from_tag("cnn:1:2"), None);
    }
}
