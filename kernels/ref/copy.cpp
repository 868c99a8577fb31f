// Reference strided copy (contract: kernels/copy.h): an odometer over `shape` in row-major order,
// one element at a time, each copied as raw bytes. No shape letters: shapes are arrays of ndim
// sizes, strides are in elements.
#include "kernels/copy.h"

#include <cstddef>
#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

namespace gb::kernels::ref {

void strided_copy(int ndim, const int64_t* shape, const void* src, const int64_t* src_strides,
                  void* dst, const int64_t* dst_strides, size_t elem_bytes) {
  if (ndim < 0 || ndim > 8) {
    throw std::invalid_argument("strided_copy: ndim " + std::to_string(ndim) + " outside 0..8");
  }
  if (elem_bytes != 1 && elem_bytes != 2 && elem_bytes != 4 && elem_bytes != 8) {
    throw std::invalid_argument("strided_copy: element size " + std::to_string(elem_bytes) +
                                " is not 1, 2, 4 or 8");
  }
  const auto nd = static_cast<size_t>(ndim);
  std::vector<int64_t> contiguous(nd, 1);
  int64_t total = 1;
  for (size_t d = nd; d-- > 0;) {
    contiguous[d] = total;
    total *= shape[d];
  }
  const int64_t* dstr = dst_strides ? dst_strides : contiguous.data();
  const auto* s = static_cast<const unsigned char*>(src);
  auto* t = static_cast<unsigned char*>(dst);
  const auto eb = static_cast<int64_t>(elem_bytes);
  std::vector<int64_t> idx(nd, 0);
  int64_t os = 0, od = 0;
  for (int64_t i = 0; i < total; ++i) {
    std::memcpy(t + od * eb, s + os * eb, elem_bytes);
    for (size_t d = nd; d-- > 0;) {
      if (++idx[d] < shape[d]) {
        os += src_strides[d];
        od += dstr[d];
        break;
      }
      os -= src_strides[d] * (shape[d] - 1);
      od -= dstr[d] * (shape[d] - 1);
      idx[d] = 0;
    }
  }
}

const StridedCopyKernels strided_copy_kernels{GB_KERNEL(ref::strided_copy)};

}  // namespace gb::kernels::ref
