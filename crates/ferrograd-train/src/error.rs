//! The one error type of the training library.

use std::path::PathBuf;

use ferrograd::kernels::KernelError;
use ferrograd_data::DataError;

/// Everything that can go wrong while building, training, evaluating or checkpointing a model.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    /// A kernel rejected its arguments (a bug in a model definition, or a data set whose
    /// examples do not have the model's input size).
    #[error(transparent)]
    Kernel(#[from] KernelError),
    /// Loading or batching the data failed.
    #[error(transparent)]
    Data(#[from] DataError),
    /// A configuration value is out of range.
    #[error("invalid {field}: {reason}")]
    Config { field: &'static str, reason: String },
    /// The loss, the gradient norm or the parameters stopped being finite; training stopped
    /// before the update (or, for the parameters, before writing a checkpoint).
    #[error(
        "{quantity} is {loss} at step {step} (epoch {epoch}, batch {batch}); training stopped. {}",
        match last_checkpoint {
            Some(p) => format!("The last good checkpoint is {} (resume from it with a lower learning rate, or train with rollback on non-finite values: --on-nan rollback).", p.display()),
            None => "No checkpoint was written yet (pass a checkpoint path to be able to resume, or train with rollback on non-finite values: --on-nan rollback).".to_owned(),
        }
    )]
    NonFiniteLoss {
        /// What was not finite: `loss`, `gradient norm`, `parameter norm`, `optimizer state`.
        quantity: &'static str,
        /// Its value.
        loss: f32,
        step: u64,
        epoch: u64,
        batch: usize,
        last_checkpoint: Option<PathBuf>,
    },
    /// A checkpoint file is unreadable, corrupt or belongs to a different model/optimizer.
    #[error("checkpoint {path}: {reason}")]
    Checkpoint { path: PathBuf, reason: String },
    /// Reading or writing a file failed.
    #[error("cannot {action} {path}: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl TrainError {
    pub(crate) fn config(field: &'static str, reason: impl Into<String>) -> Self {
        TrainError::Config {
            field,
            reason: reason.into(),
        }
    }
}
