// Internal helpers shared by the op implementations: input checks that name the op (dtype and
// device checked against the op table's row) and contiguous inputs for the kernels. Kernels are
// found with kernels_for<OpId::X>(device) (runtime/op_table.h); no op chooses a backend itself.
#pragma once
#include <initializer_list>
#include <stdexcept>
#include <string>

#include "runtime/autograd.h"
#include "runtime/op_table.h"
#include "runtime/tensor.h"

namespace gb::ops::detail {

[[noreturn]] inline void fail(OpId op, const std::string& what) {
  throw std::invalid_argument(std::string(op_name(op)) + ": " + what);
}

// requires: t defined, of a dtype the op's row takes, on a device it has kernels for.
inline void check_input(OpId op, const Tensor& t, const char* what) {
  if (!t.defined()) fail(op, std::string(what) + " is undefined");
  if (!(op_row(op).dtypes & dtype_bit(t.dtype()))) {
    fail(op, std::string(what) + " must be " + dtype_set_name(op_row(op).dtypes) + ", got " +
                 dtype_name(t.dtype()));
  }
  require_kernel(op, t.device().type, t.dtype());
}

inline void check_dim(OpId op, const Tensor& t, int64_t dim, const char* what) {
  if (t.dim() != dim) {
    fail(op, std::string(what) + " must have " + std::to_string(dim) + " dimensions, got shape " +
                 shape_str(t.shape()));
  }
}

// A contiguous tensor with x's values (x itself when already contiguous).
inline Tensor dense(const Tensor& x) { return x.is_contiguous() ? x : x.clone(); }

// An uninitialised F32 tensor of `shape` on `like`'s device.
inline Tensor empty_like_device(const Shape& shape, const Tensor& like) {
  return Tensor::empty(shape, DType::F32, like.device());
}

// A tensor's float data, or nullptr for an undefined tensor (optional kernel arguments).
inline float* f32_or_null(const Tensor& t) { return t.defined() ? t.f32() : nullptr; }

// requires: every defined tensor in ts is on `device`; otherwise names the op and both devices.
inline void check_same_device(OpId op, const Tensor& first,
                              std::initializer_list<const Tensor*> others) {
  for (const Tensor* t : others) {
    if (t->defined() && !(t->device() == first.device())) {
      fail(op,
           "inputs on different devices: " + first.device().str() + " and " + t->device().str());
    }
  }
}

}  // namespace gb::ops::detail
