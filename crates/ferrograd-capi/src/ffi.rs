//! Caller pointers to Rust references, after NULL and length checks. The only `unsafe` code
//! of the crate.

use std::ffi::{c_char, CStr};

use crate::error::CError;

/// `ptr[..len]` as a slice. `len == 0` gives an empty slice whatever `ptr` is.
///
/// # Safety
/// If non-NULL, `ptr` must point to `len` readable, initialised `T`s that stay valid and
/// unmodified for `'a` (the C caller's contract, stated in the header).
pub(crate) unsafe fn slice<'a, T>(
    ptr: *const T,
    len: usize,
    name: &'static str,
) -> Result<&'a [T], CError> {
    if len == 0 {
        return Ok(&[]);
    }
    if ptr.is_null() {
        return Err(CError::Null(name));
    }
    check_len::<T>(len, name)?;
    // SAFETY: non-NULL, and the caller guarantees `len` valid elements for `'a`; the length
    // fits in isize bytes (checked above).
    Ok(unsafe { std::slice::from_raw_parts(ptr, len) })
}

/// `ptr[..len]` as a mutable slice.
///
/// # Safety
/// If non-NULL, `ptr` must point to `len` writable `T`s, not aliased by any other argument,
/// valid for `'a`.
pub(crate) unsafe fn slice_mut<'a, T>(
    ptr: *mut T,
    len: usize,
    name: &'static str,
) -> Result<&'a mut [T], CError> {
    if len == 0 {
        return Ok(&mut []);
    }
    if ptr.is_null() {
        return Err(CError::Null(name));
    }
    check_len::<T>(len, name)?;
    // SAFETY: non-NULL, and the caller guarantees `len` writable, unaliased elements for `'a`.
    Ok(unsafe { std::slice::from_raw_parts_mut(ptr, len) })
}

/// `*ptr` as a mutable reference.
///
/// # Safety
/// If non-NULL, `ptr` must point to a writable `T` valid for `'a`.
pub(crate) unsafe fn out<'a, T>(ptr: *mut T, name: &'static str) -> Result<&'a mut T, CError> {
    // SAFETY: `as_mut` checks NULL; the caller guarantees a valid, writable `T` otherwise.
    unsafe { ptr.as_mut() }.ok_or(CError::Null(name))
}

/// `*ptr` as a shared reference.
///
/// # Safety
/// If non-NULL, `ptr` must point to a valid `T` for `'a`.
pub(crate) unsafe fn handle<'a, T>(ptr: *const T, name: &'static str) -> Result<&'a T, CError> {
    // SAFETY: `as_ref` checks NULL; the caller guarantees a live handle otherwise.
    unsafe { ptr.as_ref() }.ok_or(CError::Null(name))
}

/// `*ptr` as a mutable reference to a handle.
///
/// # Safety
/// If non-NULL, `ptr` must point to a live `T` not used elsewhere for `'a`.
pub(crate) unsafe fn handle_mut<'a, T>(
    ptr: *mut T,
    name: &'static str,
) -> Result<&'a mut T, CError> {
    // SAFETY: `as_mut` checks NULL; the caller guarantees exclusive access otherwise.
    unsafe { ptr.as_mut() }.ok_or(CError::Null(name))
}

fn check_len<T>(len: usize, name: &'static str) -> Result<(), CError> {
    if len.saturating_mul(std::mem::size_of::<T>()) > isize::MAX as usize {
        return Err(CError::Invalid(format!(
            "`{name}`: length {len} is too large"
        )));
    }
    Ok(())
}

/// A required NUL-terminated UTF-8 string argument.
///
/// # Safety
/// If non-NULL, `ptr` must point to a NUL-terminated string valid for `'a`.
pub(crate) unsafe fn str_arg<'a>(
    ptr: *const c_char,
    name: &'static str,
) -> Result<&'a str, CError> {
    // SAFETY: forwarded caller contract.
    unsafe { opt_str_arg(ptr, name) }?.ok_or(CError::Null(name))
}

/// An optional NUL-terminated UTF-8 string argument (NULL: `None`).
///
/// # Safety
/// If non-NULL, `ptr` must point to a NUL-terminated string valid for `'a`.
pub(crate) unsafe fn opt_str_arg<'a>(
    ptr: *const c_char,
    name: &'static str,
) -> Result<Option<&'a str>, CError> {
    if ptr.is_null() {
        return Ok(None);
    }
    // SAFETY: non-NULL and NUL-terminated (caller contract).
    let s = unsafe { CStr::from_ptr(ptr) };
    s.to_str()
        .map(Some)
        .map_err(|_| CError::Invalid(format!("`{name}` is not UTF-8")))
}

/// `names[..n]`, an array of NUL-terminated strings, each required.
///
/// # Safety
/// If non-NULL, `names` must point to `n` pointers, each NULL (an error) or a NUL-terminated
/// string, all valid for `'a`.
pub(crate) unsafe fn str_array<'a>(
    names: *const *const c_char,
    n: usize,
    name: &'static str,
) -> Result<Vec<&'a str>, CError> {
    // SAFETY: forwarded caller contract.
    let ptrs = unsafe { slice(names, n, name) }?;
    ptrs.iter()
        .enumerate()
        .map(|(i, &p)| {
            // SAFETY: each element is NULL (checked) or NUL-terminated (caller contract).
            unsafe { opt_str_arg(p, name) }?
                .ok_or_else(|| CError::Invalid(format!("`{name}[{i}]` is NULL")))
        })
        .collect()
}
