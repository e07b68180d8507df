//! The crate's one error type: bad settings, and failures of the generator, the ROOT I/O, the
//! training engine or the plotting, each with what it was doing.

use std::path::PathBuf;

/// What went wrong in the GW workflow.
#[derive(Debug, thiserror::Error)]
pub enum GwError {
    /// A setting out of range; names the setting and what is allowed.
    #[error("{field}: {reason}")]
    Config { field: &'static str, reason: String },
    /// The strain generator refused its configuration.
    #[error(transparent)]
    Data(#[from] ferrograd_data::DataError),
    /// Reading or writing a ROOT file failed.
    #[error(transparent)]
    Root(#[from] ferrograd_root::Error),
    /// The training engine failed.
    #[error(transparent)]
    Train(#[from] ferrograd_train::TrainError),
    /// The loss stopped being finite.
    #[error("training diverged: the loss is {loss} at epoch {epoch}, batch {batch}; lower the learning rate")]
    Diverged {
        epoch: usize,
        batch: usize,
        loss: f32,
    },
    /// A data file that does not hold what the workflow wrote (wrong branches, no signals).
    #[error("{}: {reason}", path.display())]
    BadFile { path: PathBuf, reason: String },
    /// Creating a directory or drawing a PNG failed.
    #[error("{}: {reason}", path.display())]
    Output { path: PathBuf, reason: String },
}

impl GwError {
    pub(crate) fn config(field: &'static str, reason: impl Into<String>) -> Self {
        GwError::Config {
            field,
            reason: reason.into(),
        }
    }
}

/// The crate's result type.
pub type Result<T, E = GwError> = std::result::Result<T, E>;
