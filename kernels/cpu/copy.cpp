// Fast strided copy (contract: kernels/copy.h): size-1 dims are dropped and neighbouring dims that
// both operands step through as one are merged; when the innermost merged dim is contiguous on
// both sides (a concat slice, a slice of rows) each run is one memcpy, otherwise the elements of
// the innermost dim are copied one by one. Serial: copies are memory-bound and callers copy small
// tensors. No shape letters: shapes are arrays of ndim sizes, strides are in elements.
#include "kernels/copy.h"

#include <cstring>
#include <stdexcept>
#include <string>

namespace gb::kernels::cpu {
namespace {
constexpr int kMaxDims = 8;

struct MergedDims {
  int n = 0;
  int64_t size[kMaxDims] = {}, src[kMaxDims] = {}, dst[kMaxDims] = {};
};

MergedDims merge_dims(int ndim, const int64_t* shape, const int64_t* ss, const int64_t* ds) {
  MergedDims m;
  for (int d = 0; d < ndim; ++d) {
    if (shape[d] == 1) continue;
    const int k = m.n - 1;
    if (k >= 0 && m.src[k] == ss[d] * shape[d] && m.dst[k] == ds[d] * shape[d]) {
      m.size[k] *= shape[d];
      m.src[k] = ss[d];
      m.dst[k] = ds[d];
      continue;
    }
    m.size[m.n] = shape[d];
    m.src[m.n] = ss[d];
    m.dst[m.n] = ds[d];
    ++m.n;
  }
  return m;
}

// Copies the innermost merged dim of length `len` (one memcpy when contiguous on both sides).
void copy_run(const MergedDims& m, const unsigned char* s, unsigned char* t, size_t eb) {
  const int last = m.n - 1;
  const int64_t len = m.size[last];
  if (m.src[last] == 1 && m.dst[last] == 1) {
    std::memcpy(t, s, eb * static_cast<size_t>(len));
    return;
  }
  for (int64_t i = 0; i < len; ++i) {
    std::memcpy(t + i * m.dst[last] * static_cast<int64_t>(eb),
                s + i * m.src[last] * static_cast<int64_t>(eb), eb);
  }
}
}  // namespace

void strided_copy(int ndim, const int64_t* shape, const void* src, const int64_t* src_strides,
                  void* dst, const int64_t* dst_strides, size_t elem_bytes) {
  if (ndim < 0 || ndim > kMaxDims) {
    throw std::invalid_argument("strided_copy: ndim " + std::to_string(ndim) + " outside 0..8");
  }
  if (elem_bytes != 1 && elem_bytes != 2 && elem_bytes != 4 && elem_bytes != 8) {
    throw std::invalid_argument("strided_copy: element size " + std::to_string(elem_bytes) +
                                " is not 1, 2, 4 or 8");
  }
  int64_t contiguous[kMaxDims] = {};
  int64_t total = 1;
  for (int d = ndim - 1; d >= 0; --d) {
    contiguous[d] = total;
    total *= shape[d];
  }
  if (total == 0) return;
  const auto* s = static_cast<const unsigned char*>(src);
  auto* t = static_cast<unsigned char*>(dst);
  const MergedDims m = merge_dims(ndim, shape, src_strides, dst_strides ? dst_strides : contiguous);
  if (m.n == 0) {  // a single element
    std::memcpy(t, s, elem_bytes);
    return;
  }
  const auto eb = static_cast<int64_t>(elem_bytes);
  int64_t idx[kMaxDims] = {};
  int64_t os = 0, od = 0;
  const int64_t runs = total / m.size[m.n - 1];
  for (int64_t r = 0; r < runs; ++r) {
    copy_run(m, s + os * eb, t + od * eb, elem_bytes);
    for (int d = m.n - 1; d-- > 0;) {  // odometer over the outer merged dims
      if (++idx[d] < m.size[d]) {
        os += m.src[d];
        od += m.dst[d];
        break;
      }
      os -= m.src[d] * (m.size[d] - 1);
      od -= m.dst[d] * (m.size[d] - 1);
      idx[d] = 0;
    }
  }
}

const StridedCopyKernels strided_copy_kernels{GB_KERNEL(cpu::strided_copy)};

}  // namespace gb::kernels::cpu
