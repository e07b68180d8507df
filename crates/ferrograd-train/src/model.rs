//! The two model families (DESIGN.md §7) and their memory layouts.
//!
//! A [`ModelSpec`] says which network; it knows its parameters (PyTorch names, shapes and
//! `fan_in` for initialisation, in the order the loss function takes them) and the per-example
//! sizes of its activations, from which [`crate::Network`] lays out its arena once.

use ferrograd::kernels::{Conv1dDims, Pool1dDims};

use crate::TrainError;

/// Which network.
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
    pub(crate) fn conv_len(&self, i: usize) -> usize {
        self.pool[i].len_in
    }

    /// Output length of pool `i`.
    pub(crate) fn pool_len(&self, i: usize) -> usize {
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

    /// Checks the sizes (all ≥ 1, CNN input long enough).
    ///
    /// # Errors
    /// [`TrainError::Config`] naming the bad field.
    pub fn validate(&self) -> Result<(), TrainError> {
        match *self {
            ModelSpec::Mlp {
                in_features,
                hidden,
                classes,
            } => {
                for (f, v) in [
                    ("in_features", in_features),
                    ("hidden", hidden),
                    ("classes", classes),
                ] {
                    if v == 0 {
                        return Err(TrainError::config(f, "must be at least 1"));
                    }
                }
                Ok(())
            }
            ModelSpec::GwCnn { len, classes } => {
                if classes == 0 {
                    return Err(TrainError::config("classes", "must be at least 1"));
                }
                CnnDims::new(len, classes, 1).map(|_| ())
            }
        }
    }

    /// Values per input example.
    pub fn input_len(&self) -> usize {
        match *self {
            ModelSpec::Mlp { in_features, .. } => in_features,
            ModelSpec::GwCnn { len, .. } => len,
        }
    }

    /// Number of output classes.
    pub fn classes(&self) -> usize {
        match *self {
            ModelSpec::Mlp { classes, .. } | ModelSpec::GwCnn { classes, .. } => classes,
        }
    }

    /// The parameters, in the order the loss function takes them.
    ///
    /// # Errors
    /// As [`ModelSpec::validate`].
    pub fn params(&self) -> Result<Vec<ParamInfo>, TrainError> {
        self.validate()?;
        let lin = |w: &'static str, b: &'static str, i: usize, o: usize| {
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
        };
        Ok(match *self {
            ModelSpec::Mlp {
                in_features,
                hidden,
                classes,
            } => {
                let mut v = lin("fc1.weight", "fc1.bias", in_features, hidden).to_vec();
                v.extend(lin("fc2.weight", "fc2.bias", hidden, classes));
                v
            }
            ModelSpec::GwCnn { len, classes } => {
                let d = CnnDims::new(len, classes, 1)?;
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
                v.extend(lin("fc1.weight", "fc1.bias", d.flat, d.hidden));
                v.extend(lin("fc2.weight", "fc2.bias", d.hidden, classes));
                v
            }
        })
    }

    /// Per-example lengths of the `f32` activations, in the loss function's order.
    pub(crate) fn activation_row_lens(&self) -> Result<Vec<usize>, TrainError> {
        self.validate()?;
        Ok(match *self {
            ModelSpec::Mlp {
                hidden, classes, ..
            } => vec![hidden, hidden, classes, classes],
            ModelSpec::GwCnn { len, classes } => {
                let d = CnnDims::new(len, classes, 1)?;
                let mut v = Vec::new();
                for (i, &(_, c_out, _)) in CNN_CONVS.iter().enumerate() {
                    let lc = c_out * d.conv_len(i);
                    v.extend([lc, lc, c_out * d.pool_len(i)]);
                }
                v.extend([d.hidden, d.hidden, classes, classes]);
                v
            }
        })
    }

    /// Per-example lengths of the integer scratch (max-pool argmax).
    pub(crate) fn argmax_row_lens(&self) -> Result<Vec<usize>, TrainError> {
        self.validate()?;
        Ok(match *self {
            ModelSpec::Mlp { .. } => Vec::new(),
            ModelSpec::GwCnn { len, classes } => {
                let d = CnnDims::new(len, classes, 1)?;
                CNN_CONVS
                    .iter()
                    .enumerate()
                    .map(|(i, &(_, c_out, _))| c_out * d.pool_len(i))
                    .collect()
            }
        })
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
