//! `TrainError` → Python exception: bad values are `ValueError`, file problems the matching
//! `OSError` subclass, a diverging run `FloatingPointError`.

use std::io::ErrorKind;

use ferrograd_train::TrainError;
use pyo3::exceptions::{
    PyFileExistsError, PyFileNotFoundError, PyFloatingPointError, PyIsADirectoryError, PyOSError,
    PyPermissionError, PyValueError,
};
use pyo3::PyErr;

/// The Python exception for a training-library error, with its message.
pub fn train_error(e: TrainError) -> PyErr {
    match &e {
        TrainError::Io { source, .. } => {
            let msg = e.to_string();
            match source.kind() {
                ErrorKind::NotFound => PyFileNotFoundError::new_err(msg),
                ErrorKind::PermissionDenied => PyPermissionError::new_err(msg),
                ErrorKind::AlreadyExists => PyFileExistsError::new_err(msg),
                ErrorKind::IsADirectory => PyIsADirectoryError::new_err(msg),
                _ => PyOSError::new_err(msg),
            }
        }
        // The library's message advises CLI flags; from Python the remedy is a lower rate.
        TrainError::NonFiniteLoss {
            quantity,
            loss,
            step,
            epoch,
            batch,
            ..
        } => PyFloatingPointError::new_err(format!(
            "training diverged: the {quantity} is {loss} at step {step} (epoch {epoch}, \
             batch {batch}); the model keeps the weights it had before fit(). Lower the \
             learning rate or scale the inputs."
        )),
        _ => PyValueError::new_err(e.to_string()),
    }
}
