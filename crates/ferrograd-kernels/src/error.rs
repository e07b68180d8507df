//! The one error type of the kernels: every precondition violation is reported with the data
//! needed to fix the call, never by panicking or reading out of bounds.

/// A kernel was called with arguments that do not describe a valid problem.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KernelError {
    /// A slice does not have the length implied by the dimensions.
    #[error("{kernel}: `{arg}` has length {actual}, expected {expected} (shape {shape})")]
    Length {
        kernel: &'static str,
        arg: &'static str,
        expected: usize,
        actual: usize,
        shape: &'static str,
    },
    /// A dimension is zero or otherwise out of its valid range.
    #[error("{kernel}: `{arg}` = {value} is invalid: must be {requirement}")]
    Dim {
        kernel: &'static str,
        arg: &'static str,
        value: usize,
        requirement: &'static str,
    },
    /// A floating-point hyper-parameter is out of range (stored as its bit pattern so that
    /// the error stays `Eq`; the message prints the value).
    #[error("{kernel}: `{arg}` = {} is invalid: must be {requirement}", f32::from_bits(*.bits))]
    Param {
        kernel: &'static str,
        arg: &'static str,
        bits: u32,
        requirement: &'static str,
    },
    /// The product of the dimensions does not fit in `usize`.
    #[error("{kernel}: the sizes {dims:?} overflow usize")]
    Overflow {
        kernel: &'static str,
        dims: [usize; 4],
    },
    /// An integer label / index / recorded position is out of range.
    #[error("{kernel}: `{arg}`[{position}] = {value} is out of range (must be < {bound})")]
    Index {
        kernel: &'static str,
        arg: &'static str,
        position: usize,
        value: usize,
        bound: usize,
    },
}

impl KernelError {
    pub(crate) fn param(
        kernel: &'static str,
        arg: &'static str,
        value: f32,
        requirement: &'static str,
    ) -> Self {
        KernelError::Param {
            kernel,
            arg,
            bits: value.to_bits(),
            requirement,
        }
    }
}

/// `Ok(())` when `len == expected`, else a [`KernelError::Length`].
pub(crate) fn check_len(
    kernel: &'static str,
    arg: &'static str,
    len: usize,
    expected: usize,
    shape: &'static str,
) -> Result<(), KernelError> {
    if len == expected {
        Ok(())
    } else {
        Err(KernelError::Length {
            kernel,
            arg,
            expected,
            actual: len,
            shape,
        })
    }
}

/// Checks an adjoint argument of a pullback. An **empty** adjoint means "this gradient is not
/// needed" (the `#[differentiable]` macro passes `&mut []` for inputs that carry no
/// derivative): returns `Ok(false)` and the pullback skips that computation. A non-empty
/// adjoint must have exactly `expected` elements (`Ok(true)`), else [`KernelError::Length`].
pub(crate) fn check_adj(
    kernel: &'static str,
    arg: &'static str,
    len: usize,
    expected: usize,
    shape: &'static str,
) -> Result<bool, KernelError> {
    if len == 0 {
        return Ok(false);
    }
    check_len(kernel, arg, len, expected, shape)?;
    Ok(true)
}

/// The product of up to four dimensions, or [`KernelError::Overflow`].
pub(crate) fn size(kernel: &'static str, dims: &[usize]) -> Result<usize, KernelError> {
    let mut all = [1usize; 4];
    for (slot, &d) in all.iter_mut().zip(dims) {
        *slot = d;
    }
    dims.iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .ok_or(KernelError::Overflow { kernel, dims: all })
}

/// `Ok(())` when `value >= 1`, else a [`KernelError::Dim`].
pub(crate) fn check_positive(
    kernel: &'static str,
    arg: &'static str,
    value: usize,
) -> Result<(), KernelError> {
    if value == 0 {
        Err(KernelError::Dim {
            kernel,
            arg,
            value,
            requirement: ">= 1",
        })
    } else {
        Ok(())
    }
}
