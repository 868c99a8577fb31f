// Internal helpers shared by the op implementations: input checks that name the op, contiguous
// inputs for kernels, the fast/reference CPU kernel switch, and the CUDA dispatch helpers.
// GB_CUDA(call) is the call in a CUDA build and an error otherwise; it is only reached for CUDA
// tensors, which check_input already refuses when the op has no CUDA kernel in this build.
#pragma once
#include <initializer_list>
#include <stdexcept>
#include <string>

#include "runtime/autograd.h"
#include "runtime/op_table.h"
#include "runtime/tensor.h"

namespace gb::ops::detail {

[[noreturn]] inline void fail(OpId op, const std::string& what) {
  throw std::invalid_argument(std::string(op_info(op).name) + ": " + what);
}

// requires: t defined, F32, on a device the op has a kernel for.
inline void check_input(OpId op, const Tensor& t, const char* what) {
  if (!t.defined()) fail(op, std::string(what) + " is undefined");
  if (t.dtype() != DType::F32) {
    fail(op, std::string(what) + " must be F32, got " + dtype_name(t.dtype()));
  }
  require_kernel(op, t.device().type);
}

inline void check_dim(OpId op, const Tensor& t, int64_t dim, const char* what) {
  if (t.dim() != dim) {
    fail(op, std::string(what) + " must have " + std::to_string(dim) + " dimensions, got shape " +
                 shape_str(t.shape()));
  }
}

// A contiguous tensor with x's values (x itself when already contiguous).
inline Tensor dense(const Tensor& x) { return x.is_contiguous() ? x : x.clone(); }

inline bool fast_cpu() { return cpu_kernel_mode() == CpuKernelMode::Fast; }

inline bool on_cuda(const Tensor& t) { return t.device().type == DeviceType::CUDA; }

// An uninitialised F32 tensor of `shape` on `like`'s device.
inline Tensor empty_like_device(const Shape& shape, const Tensor& like) {
  return Tensor::empty(shape, DType::F32, like.device());
}

// requires: every defined tensor in ts is on `device`; otherwise names the op and both devices.
inline void check_same_device(OpId op, const Tensor& first,
                              std::initializer_list<const Tensor*> others) {
  for (const Tensor* t : others) {
    if (t->defined() && !(t->device() == first.device())) {
      fail(op, "inputs on different devices: " + first.device().str() + " and " +
                   t->device().str());
    }
  }
}

[[noreturn]] inline void no_cuda_in_build() {
  throw std::logic_error("CUDA kernel reached in a build without CUDA");
}

}  // namespace gb::ops::detail

#ifdef GB_WITH_CUDA
#define GB_CUDA(call) call
#else
#define GB_CUDA(call) ::gb::ops::detail::no_cuda_in_build()
#endif

namespace gb::ops::detail {

}  // namespace gb::ops::detail
