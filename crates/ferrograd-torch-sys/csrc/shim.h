// ferrograd C++ shim: a torch::autograd::Function whose forward and backward
// call back into Rust. C ABI only; mirrored by crates/ferrograd-torch-sys/src/lib.rs.
//
// Conventions
// - `fg_tensor` is tch's tensor handle (`torch::Tensor*`, torch-sys `C_tensor*`).
//   Handles passed *into* callbacks are borrowed for the duration of the call.
//   Handles returned by `fg_tensor_vec_take` are owned by the caller (free them
//   with tch's `at_free`, i.e. drop the `tch::Tensor`).
// - Every exported function catches all C++ exceptions. Functions returning
//   `fg_string*` return NULL on success and an owned error message otherwise
//   (free it with `fg_string_free`).
// - Callbacks return 0 on success; on failure they return non-zero after
//   writing a message with `fg_string_set`; the shim raises it as a c10::Error.
#ifndef FERROGRAD_TORCH_SHIM_H
#define FERROGRAD_TORCH_SHIM_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
#include <string>
#include <vector>
#include <ATen/core/Tensor.h>
typedef at::Tensor* fg_tensor;
typedef std::vector<at::Tensor> fg_tensor_vec;
typedef std::string fg_string;
extern "C" {
#else
typedef void* fg_tensor;
typedef struct fg_tensor_vec fg_tensor_vec;
typedef struct fg_string fg_string;
#endif

// Forward callback. `inputs[0..n_inputs)` are the tensor inputs. Push the
// outputs to `outputs`, the tensors to save for backward to `saved`, and the
// outputs that are not differentiable to `non_differentiable`. Set
// `*materialize_grads` to 0 to receive undefined tensors instead of zeros for
// outputs that got no gradient.
typedef int32_t (*fg_forward_fn)(void* state, void* env, const fg_tensor* inputs,
                                 size_t n_inputs, fg_tensor_vec* outputs, fg_tensor_vec* saved,
                                 fg_tensor_vec* non_differentiable, uint8_t* materialize_grads,
                                 fg_string* err);

// Backward callback. `grads[i]` is the gradient of forward output i (undefined
// only when materialize_grads was turned off), `saved` the tensors saved in
// forward, `needs_input_grad[i]` whether input i needs a gradient. Push exactly
// `n_inputs` gradients (undefined tensors, pushed as NULL, for "no gradient").
typedef int32_t (*fg_backward_fn)(void* state, const fg_tensor* saved, size_t n_saved,
                                  const fg_tensor* grads, size_t n_grads,
                                  const uint8_t* needs_input_grad, size_t n_inputs,
                                  fg_tensor_vec* grad_inputs, fg_string* err);

// Called exactly once, when the autograd node (or the failed call) lets go of `state`.
typedef void (*fg_drop_fn)(void* state);

typedef struct fg_vtable {
  fg_forward_fn forward;
  fg_backward_fn backward;
  fg_drop_fn drop;
} fg_vtable;

// Strings.
fg_string* fg_string_new(void);
void fg_string_free(fg_string* s);
void fg_string_set(fg_string* s, const char* data, size_t len);
const char* fg_string_data(const fg_string* s);
size_t fg_string_len(const fg_string* s);

// Tensor vectors. `fg_tensor_vec_push` with NULL pushes an undefined tensor.
fg_tensor_vec* fg_tensor_vec_new(void);
void fg_tensor_vec_free(fg_tensor_vec* v);
size_t fg_tensor_vec_len(const fg_tensor_vec* v);
fg_string* fg_tensor_vec_push(fg_tensor_vec* v, fg_tensor t);
// Returns a new owned handle to element i (NULL if out of range).
fg_tensor fg_tensor_vec_take(fg_tensor_vec* v, size_t i);

// Runs the custom function: takes ownership of `state` in all cases (it is
// released through vtable->drop exactly once, possibly before this returns).
// `env` is passed unchanged to the forward callback. On success the outputs
// (part of the autograd graph when an input requires grad) are in `outputs`.
fg_string* fg_apply(void* state, const fg_vtable* vtable, void* env, const char* name,
                    size_t name_len, const fg_tensor* inputs, size_t n_inputs,
                    fg_tensor_vec* outputs);

// torch::autograd::backward(tensors, grad_tensors, retain_graph, create_graph).
// grad_tensors may be NULL (n must then be 0 or equal to n_tensors; NULL entries
// mean "implicit ones for scalars").
fg_string* fg_backward(const fg_tensor* tensors, size_t n_tensors, const fg_tensor* grad_tensors,
                       size_t n_grad_tensors, int32_t retain_graph, int32_t create_graph);

// torch::autograd::grad(outputs, inputs, grad_outputs, retain_graph, create_graph,
// allow_unused). Results (one per input, undefined for unused ones) go to `results`.
fg_string* fg_grad(const fg_tensor* outputs, size_t n_outputs, const fg_tensor* inputs,
                   size_t n_inputs, const fg_tensor* grad_outputs, size_t n_grad_outputs,
                   int32_t retain_graph, int32_t create_graph, int32_t allow_unused,
                   fg_tensor_vec* results);

// Facts about a tensor, for zero-copy access checks.
typedef struct fg_tensor_info {
  uint8_t defined;
  uint8_t is_strided;         // layout == kStrided (not sparse / mkldnn / ...)
  uint8_t is_contiguous;      // row-major contiguous
  uint8_t has_storage;        // false for meta and some wrapper tensors
  uint8_t requires_grad;
  uint8_t has_grad_fn;
  int32_t device_kind;        // 0 = CPU, 1 = CUDA, 2 = meta, 3 = other
  int32_t scalar_type;        // c10::ScalarType as int (6 = Float, 7 = Double)
  int64_t numel;
  void* data;                 // NULL if no storage or numel == 0
  int64_t impl_use_count;     // handles sharing this TensorImpl
  int64_t storage_use_count;  // TensorImpls sharing this storage
} fg_tensor_info;

fg_string* fg_tensor_get_info(fg_tensor t, fg_tensor_info* info);

// Bumps the tensor's version counter (after writing through a raw pointer), so
// autograd detects in-place modification of saved tensors.
fg_string* fg_tensor_bump_version(fg_tensor t);

// Runs task(ctx, i) for every i < n on LibTorch's intra-op threads (at::parallel_for,
// grain 1): with n equal to the thread count, index i runs on team thread i, index 0 on
// the caller. Inside a parallel region it runs them one after another. `task` must not
// throw or unwind.
void fg_parallel_for(size_t n, void (*task)(void* ctx, size_t i), void* ctx);

// Whether LibTorch records autograd graphs on this thread (GradMode::is_enabled()).
int32_t fg_grad_mode_enabled(void);

// A tensor with t's shape, dtype and strides on the meta device (no data), in *out (owned).
fg_string* fg_tensor_to_meta(fg_tensor t, fg_tensor* out);

#ifdef __cplusplus
}  // extern "C"
#endif

#endif  // FERROGRAD_TORCH_SHIM_H
