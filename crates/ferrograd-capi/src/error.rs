//! Status codes, the thread-local last error, and the guard every entry point runs in.

use std::cell::RefCell;
use std::ffi::{c_char, CString};
use std::panic::{catch_unwind, AssertUnwindSafe};

use ferrograd_fit::FitError;

/// What every `ferrograd_*` call returns. On anything but `FERROGRAD_STATUS_OK`,
/// `ferrograd_last_error()` says what went wrong.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FerrogradStatus {
    Ok = 0,
    /// A required pointer was NULL.
    NullPointer = 1,
    /// An argument is invalid: a length, a NaN, an event outside the range, a bad parameter.
    InvalidArgument = 2,
    /// The computation failed on valid input (minimiser, non-positive-definite Hessian).
    Failed = 3,
    /// A Rust panic was caught at the boundary (a ferrograd bug; please report it).
    Panic = 4,
}

/// An error on its way to C.
#[derive(Debug, thiserror::Error)]
pub(crate) enum CError {
    #[error("`{0}` is NULL")]
    Null(&'static str),
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    Fit(#[from] FitError),
    /// From ferrograd-train (its message; configuration, data, checkpoint or I/O).
    #[error("{0}")]
    Train(String),
    /// From ferrograd-root (a missing file, tree or branch, an unreadable type, a bad cut).
    #[error("{0}")]
    Root(#[from] ferrograd_root::Error),
    /// Valid input on which the computation failed (a loss that stopped being finite).
    #[error("{0}")]
    Failed(String),
}

impl CError {
    fn status(&self) -> FerrogradStatus {
        match self {
            CError::Null(_) => FerrogradStatus::NullPointer,
            CError::Invalid(_) | CError::Train(_) | CError::Root(_) => {
                FerrogradStatus::InvalidArgument
            }
            CError::Failed(_) => FerrogradStatus::Failed,
            CError::Fit(e) => match e {
                FitError::NotPositiveDefinite { .. }
                | FitError::Minimiser(_)
                | FitError::NonFinite { .. }
                | FitError::Generation(_) => FerrogradStatus::Failed,
                _ => FerrogradStatus::InvalidArgument,
            },
        }
    }
}

thread_local! {
    static LAST_ERROR: RefCell<CString> = RefCell::new(CString::default());
}

fn set_last_error(msg: &str) {
    // Interior NULs cannot cross as a C string; they do not occur in our messages.
    let c = CString::new(msg.replace('\0', " ")).unwrap_or_default();
    LAST_ERROR.with(|e| *e.borrow_mut() = c);
}

/// Runs `f`, turning its error or a panic into a status and the thread's last error.
pub(crate) fn guard(f: impl FnOnce() -> Result<(), CError>) -> FerrogradStatus {
    set_last_error("");
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(())) => FerrogradStatus::Ok,
        Ok(Err(e)) => {
            set_last_error(&e.to_string());
            e.status()
        }
        Err(payload) => {
            let what = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".into());
            set_last_error(&format!(
                "internal error (panic caught at the C boundary): {what}"
            ));
            FerrogradStatus::Panic
        }
    }
}

/// The message of the last failed `ferrograd_*` call on this thread ("" after a success).
/// The pointer stays valid until the next `ferrograd_*` call on the same thread; never NULL;
/// do not free it.
#[no_mangle]
pub extern "C" fn ferrograd_last_error() -> *const c_char {
    LAST_ERROR.with(|e| e.borrow().as_ptr())
}
