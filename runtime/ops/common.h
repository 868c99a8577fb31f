// Internal helpers shared by the op implementations: input checks that name the op, contiguous
// inputs for kernels, and the fast/reference CPU kernel switch.
#pragma once
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

}  // namespace gb::ops::detail
