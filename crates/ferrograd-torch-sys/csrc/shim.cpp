// ferrograd C++ shim; see shim.h for the contract.
#include "shim.h"

#include <ATen/Parallel.h>
#include <torch/csrc/autograd/autograd.h>
#include <torch/csrc/autograd/custom_function.h>

#include <exception>
#include <new>
#include <utility>

namespace {

// Owns the Rust state of one call; the Rust drop callback runs in the destructor.
// Lives in ctx->saved_data as a capsule, so it is released with the autograd node.
struct RustState final : torch::CustomClassHolder {
  RustState(void* state, const fg_vtable* vtable, size_t n_inputs)
      : state(state), vtable(*vtable), n_inputs(n_inputs) {}
  RustState(const RustState&) = delete;
  RustState& operator=(const RustState&) = delete;
  ~RustState() override {
    if (state != nullptr) vtable.drop(state);
  }
  void* state;
  fg_vtable vtable;
  size_t n_inputs;
};

constexpr const char* kStateKey = "ferrograd.state";

std::vector<const at::Tensor*> borrow(const std::vector<at::Tensor>& v) {
  std::vector<const at::Tensor*> ptrs;
  ptrs.reserve(v.size());
  for (const auto& t : v) ptrs.push_back(&t);
  return ptrs;
}

struct RustFunction : torch::autograd::Function<RustFunction> {
  // `inputs` must stay an at::TensorList: a std::vector would hit the generic
  // (non-tensor) overload of extract_vars and disconnect the outputs from the graph.
  static torch::autograd::variable_list forward(torch::autograd::AutogradContext* ctx,
                                                at::TensorList inputs,
                                                const c10::intrusive_ptr<RustState>& holder,
                                                void* env) {
    ctx->saved_data[kStateKey] = c10::IValue::make_capsule(holder);
    std::vector<const at::Tensor*> in;
    in.reserve(inputs.size());
    for (const auto& t : inputs) in.push_back(&t);
    std::vector<at::Tensor> outputs, saved, non_diff;
    uint8_t materialize = 1;
    std::string err;
    int32_t rc = holder->vtable.forward(
        holder->state, env, const_cast<fg_tensor*>(in.data()), in.size(), &outputs, &saved,
        &non_diff, &materialize, &err);
    TORCH_CHECK(rc == 0, err);
    if (!saved.empty()) ctx->save_for_backward(std::move(saved));
    if (!non_diff.empty()) ctx->mark_non_differentiable(non_diff);
    ctx->set_materialize_grads(materialize != 0);
    return outputs;
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    auto it = ctx->saved_data.find(kStateKey);
    TORCH_CHECK(it != ctx->saved_data.end(), "ferrograd: autograd node lost its Rust state");
    auto holder = c10::static_intrusive_pointer_cast<RustState>(it->second.toCapsule());
    // Throws "Trying to backward through the graph a second time" when released.
    std::vector<at::Tensor> saved = ctx->get_saved_variables();
    // Incoming grads may be expanded (stride 0) or otherwise strided; Rust code
    // that touches raw memory needs them contiguous.
    for (auto& g : grads) {
      if (g.defined() && !g.is_contiguous()) g = g.contiguous();
    }
    // Edges exist for the tensor inputs only; the two trailing non-tensor
    // arguments (holder, env) have none.
    const size_t n_inputs = holder->n_inputs;
    std::vector<uint8_t> needs(n_inputs);
    for (size_t i = 0; i < n_inputs; ++i) needs[i] = ctx->needs_input_grad(i) ? 1 : 0;
    auto saved_ptrs = borrow(saved);
    auto grad_ptrs = borrow(grads);
    std::vector<at::Tensor> grad_inputs;
    std::string err;
    int32_t rc = holder->vtable.backward(
        holder->state, const_cast<fg_tensor*>(saved_ptrs.data()), saved_ptrs.size(),
        const_cast<fg_tensor*>(grad_ptrs.data()), grad_ptrs.size(), needs.data(), n_inputs,
        &grad_inputs, &err);
    TORCH_CHECK(rc == 0, err);
    TORCH_CHECK(grad_inputs.size() == n_inputs, "ferrograd: backward returned ",
                grad_inputs.size(), " gradients for ", n_inputs, " inputs");
    // One (undefined) entry per non-tensor forward argument.
    grad_inputs.emplace_back();
    grad_inputs.emplace_back();
    return grad_inputs;
  }
};

fg_string* error_string(const char* prefix, const char* what) {
  try {
    auto* s = new std::string(prefix);
    s->append(what);
    return s;
  } catch (...) {
    // Out of memory while reporting an error: nothing sensible left to do.
    std::terminate();
  }
}

#define FG_PROTECT(prefix, body)                                 \
  try {                                                          \
    body                                                         \
  } catch (const c10::Error& e) {                                \
    return error_string(prefix, e.what_without_backtrace());     \
  } catch (const std::exception& e) {                            \
    return error_string(prefix, e.what());                       \
  } catch (...) {                                                \
    return error_string(prefix, "unknown C++ exception");        \
  }                                                              \
  return nullptr;

std::vector<at::Tensor> collect(const fg_tensor* ts, size_t n) {
  std::vector<at::Tensor> v;
  v.reserve(n);
  for (size_t i = 0; i < n; ++i) v.push_back(ts[i] == nullptr ? at::Tensor() : *ts[i]);
  return v;
}

}  // namespace

extern "C" {

fg_string* fg_string_new(void) { return new (std::nothrow) std::string(); }
void fg_string_free(fg_string* s) { delete s; }
void fg_string_set(fg_string* s, const char* data, size_t len) {
  try {
    s->assign(data, len);
  } catch (...) {
    // Keep whatever fits; the non-zero return code still signals the error.
  }
}
const char* fg_string_data(const fg_string* s) { return s->data(); }
size_t fg_string_len(const fg_string* s) { return s->size(); }

fg_tensor_vec* fg_tensor_vec_new(void) { return new (std::nothrow) std::vector<at::Tensor>(); }
void fg_tensor_vec_free(fg_tensor_vec* v) { delete v; }
size_t fg_tensor_vec_len(const fg_tensor_vec* v) { return v->size(); }
fg_string* fg_tensor_vec_push(fg_tensor_vec* v, fg_tensor t) {
  FG_PROTECT("", v->push_back(t == nullptr ? at::Tensor() : *t);)
}
fg_tensor fg_tensor_vec_take(fg_tensor_vec* v, size_t i) {
  if (i >= v->size()) return nullptr;
  return new (std::nothrow) at::Tensor(std::move((*v)[i]));
}

fg_string* fg_apply(void* state, const fg_vtable* vtable, void* env, const char* name,
                    size_t name_len, const fg_tensor* inputs, size_t n_inputs,
                    fg_tensor_vec* outputs) {
  c10::intrusive_ptr<RustState> holder;
  try {
    holder = c10::make_intrusive<RustState>(state, vtable, n_inputs);
  } catch (...) {
    vtable->drop(state);
    return error_string("ferrograd: ", "out of memory");
  }
  // The message prefix is only built when there is an error to report.
  auto fail = [&](const char* what) {
    std::string prefix = "ferrograd function `";
    try {
      prefix.append(name, name_len).append("`: ");
    } catch (...) {
    }
    return error_string(prefix.c_str(), what);
  };
  try {
    std::vector<at::Tensor> in = collect(inputs, n_inputs);
    auto result = RustFunction::apply(at::TensorList(in), holder, env);
    *outputs = std::move(result);
  } catch (const c10::Error& e) {
    return fail(e.what_without_backtrace());
  } catch (const std::exception& e) {
    return fail(e.what());
  } catch (...) {
    return fail("unknown C++ exception");
  }
  return nullptr;
}

fg_string* fg_backward(const fg_tensor* tensors, size_t n_tensors, const fg_tensor* grad_tensors,
                       size_t n_grad_tensors, int32_t retain_graph, int32_t create_graph) {
  FG_PROTECT("", {
    auto ts = collect(tensors, n_tensors);
    auto gs = collect(grad_tensors, n_grad_tensors);
    torch::autograd::backward(ts, gs, std::optional<bool>(retain_graph != 0), create_graph != 0);
  })
}

fg_string* fg_grad(const fg_tensor* outputs, size_t n_outputs, const fg_tensor* inputs,
                   size_t n_inputs, const fg_tensor* grad_outputs, size_t n_grad_outputs,
                   int32_t retain_graph, int32_t create_graph, int32_t allow_unused,
                   fg_tensor_vec* results) {
  FG_PROTECT("", {
    auto os = collect(outputs, n_outputs);
    auto is = collect(inputs, n_inputs);
    auto gs = collect(grad_outputs, n_grad_outputs);
    *results = torch::autograd::grad(os, is, gs, std::optional<bool>(retain_graph != 0),
                                     create_graph != 0, allow_unused != 0);
  })
}

fg_string* fg_tensor_get_info(fg_tensor t, fg_tensor_info* info) {
  FG_PROTECT("", {
    *info = fg_tensor_info{};
    info->defined = t->defined() ? 1 : 0;
    if (!t->defined()) return nullptr;
    info->is_strided = t->layout() == at::kStrided ? 1 : 0;
    switch (t->device().type()) {
      case c10::DeviceType::CPU: info->device_kind = 0; break;
      case c10::DeviceType::CUDA: info->device_kind = 1; break;
      case c10::DeviceType::Meta: info->device_kind = 2; break;
      default: info->device_kind = 3; break;
    }
    info->scalar_type = static_cast<int32_t>(t->scalar_type());
    info->requires_grad = t->requires_grad() ? 1 : 0;
    info->has_grad_fn = t->grad_fn() != nullptr ? 1 : 0;
    info->impl_use_count = static_cast<int64_t>(t->use_count());
    if (info->is_strided) {
      info->is_contiguous = t->is_contiguous() ? 1 : 0;
      info->numel = t->numel();
      info->has_storage = t->has_storage() ? 1 : 0;
      if (info->has_storage && info->device_kind != 2) {
        info->storage_use_count = static_cast<int64_t>(t->storage().use_count());
        info->data = info->numel > 0 ? t->data_ptr() : nullptr;
      }
    }
  })
}

fg_string* fg_tensor_bump_version(fg_tensor t) {
  FG_PROTECT("", torch::autograd::impl::bump_version(*t);)
}

void fg_parallel_for(size_t n, void (*task)(void* ctx, size_t i), void* ctx) {
  at::parallel_for(0, static_cast<int64_t>(n), 1, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) task(ctx, static_cast<size_t>(i));
  });
}

int32_t fg_grad_mode_enabled(void) { return at::GradMode::is_enabled() ? 1 : 0; }

fg_string* fg_tensor_to_meta(fg_tensor t, fg_tensor* out) {
  FG_PROTECT("", *out = new at::Tensor(t->to(c10::Device(c10::DeviceType::Meta)));)
}

}  // extern "C"
