//! Raw FFI to ferrograd's C++ shim (`csrc/shim.h`): a `torch::autograd::Function`
//! whose forward and backward call back into Rust through `extern "C"` function
//! pointers, plus a few autograd/tensor helpers.
//!
//! Tensor handles are tch's (`torch_sys::C_tensor`, a `torch::Tensor*` in C++).
//! All functions here are `unsafe` to call; the safe API lives in `ferrograd-torch`.
//!
//! # Linking
//! The build script compiles the shim against the libtorch that `torch-sys` links
//! and exposes its lib dir to direct dependents' build scripts as
//! `DEP_FERROGRAD_TORCH_SHIM_LIBTORCH_LIB`. Binaries need an rpath to it; Cargo
//! does not propagate `rustc-link-arg`, so a crate that builds binaries (tests,
//! examples, benches) emits it from its own build.rs (see `ferrograd-torch`).

#![expect(non_camel_case_types, reason = "C type names mirror csrc/shim.h")]

use std::ffi::{c_char, c_void};

pub use torch_sys::C_tensor;

/// Opaque `std::string`.
#[repr(C)]
pub struct fg_string {
    _private: [u8; 0],
}

/// Opaque `std::vector<at::Tensor>`.
#[repr(C)]
pub struct fg_tensor_vec {
    _private: [u8; 0],
}

/// Borrowed or owned tensor handle (see each function).
pub type fg_tensor = *mut C_tensor;

/// Forward callback; see `csrc/shim.h`.
pub type fg_forward_fn = unsafe extern "C" fn(
    state: *mut c_void,
    env: *mut c_void,
    inputs: *const fg_tensor,
    n_inputs: usize,
    outputs: *mut fg_tensor_vec,
    saved: *mut fg_tensor_vec,
    non_differentiable: *mut fg_tensor_vec,
    materialize_grads: *mut u8,
    err: *mut fg_string,
) -> i32;

/// Backward callback; see `csrc/shim.h`.
pub type fg_backward_fn = unsafe extern "C" fn(
    state: *mut c_void,
    saved: *const fg_tensor,
    n_saved: usize,
    grads: *const fg_tensor,
    n_grads: usize,
    needs_input_grad: *const u8,
    n_inputs: usize,
    grad_inputs: *mut fg_tensor_vec,
    err: *mut fg_string,
) -> i32;

/// Drops the Rust state; called exactly once per `fg_apply`.
pub type fg_drop_fn = unsafe extern "C" fn(state: *mut c_void);

/// Callbacks for one kind of custom function.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct fg_vtable {
    pub forward: fg_forward_fn,
    pub backward: fg_backward_fn,
    pub drop: fg_drop_fn,
}

/// Facts about a tensor (`fg_tensor_get_info`).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct fg_tensor_info {
    pub defined: u8,
    pub is_strided: u8,
    pub is_contiguous: u8,
    pub has_storage: u8,
    pub requires_grad: u8,
    pub has_grad_fn: u8,
    /// 0 = CPU, 1 = CUDA, 2 = meta, 3 = other.
    pub device_kind: i32,
    /// `c10::ScalarType` (6 = Float, 7 = Double).
    pub scalar_type: i32,
    pub numel: i64,
    pub data: *mut c_void,
    pub impl_use_count: i64,
    pub storage_use_count: i64,
}

impl Default for fg_tensor_info {
    fn default() -> Self {
        Self {
            defined: 0,
            is_strided: 0,
            is_contiguous: 0,
            has_storage: 0,
            requires_grad: 0,
            has_grad_fn: 0,
            device_kind: 0,
            scalar_type: 0,
            numel: 0,
            data: std::ptr::null_mut(),
            impl_use_count: 0,
            storage_use_count: 0,
        }
    }
}

extern "C" {
    pub fn fg_string_new() -> *mut fg_string;
    pub fn fg_string_free(s: *mut fg_string);
    pub fn fg_string_set(s: *mut fg_string, data: *const c_char, len: usize);
    pub fn fg_string_data(s: *const fg_string) -> *const c_char;
    pub fn fg_string_len(s: *const fg_string) -> usize;

    pub fn fg_tensor_vec_new() -> *mut fg_tensor_vec;
    pub fn fg_tensor_vec_free(v: *mut fg_tensor_vec);
    pub fn fg_tensor_vec_len(v: *const fg_tensor_vec) -> usize;
    pub fn fg_tensor_vec_push(v: *mut fg_tensor_vec, t: fg_tensor) -> *mut fg_string;
    pub fn fg_tensor_vec_take(v: *mut fg_tensor_vec, i: usize) -> fg_tensor;

    pub fn fg_apply(
        state: *mut c_void,
        vtable: *const fg_vtable,
        env: *mut c_void,
        name: *const c_char,
        name_len: usize,
        inputs: *const fg_tensor,
        n_inputs: usize,
        outputs: *mut fg_tensor_vec,
    ) -> *mut fg_string;

    pub fn fg_backward(
        tensors: *const fg_tensor,
        n_tensors: usize,
        grad_tensors: *const fg_tensor,
        n_grad_tensors: usize,
        retain_graph: i32,
        create_graph: i32,
    ) -> *mut fg_string;

    pub fn fg_grad(
        outputs: *const fg_tensor,
        n_outputs: usize,
        inputs: *const fg_tensor,
        n_inputs: usize,
        grad_outputs: *const fg_tensor,
        n_grad_outputs: usize,
        retain_graph: i32,
        create_graph: i32,
        allow_unused: i32,
        results: *mut fg_tensor_vec,
    ) -> *mut fg_string;

    pub fn fg_tensor_get_info(t: fg_tensor, info: *mut fg_tensor_info) -> *mut fg_string;
    pub fn fg_tensor_bump_version(t: fg_tensor) -> *mut fg_string;
    pub fn fg_grad_mode_enabled() -> i32;
    pub fn fg_parallel_for(
        n: usize,
        task: unsafe extern "C" fn(ctx: *mut c_void, i: usize),
        ctx: *mut c_void,
    );
    pub fn fg_tensor_to_meta(t: fg_tensor, out: *mut fg_tensor) -> *mut fg_string;
}
