// Reference reductions (contract: kernels/reduce.h): the sum of x over the dims where out_shape
// is 1, in double, one accumulator per output, visiting x in row-major order (an odometer over
// in_shape carries the output offset); and the sum of squares in double. No shape letters: shapes
// are given as arrays of ndim sizes.
#include "kernels/reduce.h"

#include <cstddef>
#include <vector>

namespace gb::kernels::ref {

void sum_to_shape(int ndim, const int64_t* in_shape, const float* x, const int64_t* out_shape,
                  double divisor, float* y) {
  const auto nd = static_cast<size_t>(ndim);
  std::vector<int64_t> out_strides(nd, 0);  // 0 on the summed dims
  int64_t out_count = 1, in_count = 1;
  for (int d = ndim; d-- > 0;) {
    out_strides[static_cast<size_t>(d)] = out_shape[d] == 1 ? 0 : out_count;
    out_count *= out_shape[d];
    in_count *= in_shape[d];
  }
  std::vector<double> acc(static_cast<size_t>(out_count), 0.0);
  std::vector<int64_t> idx(nd, 0);
  int64_t o = 0;
  for (int64_t i = 0; i < in_count; ++i) {
    acc[static_cast<size_t>(o)] += x[i];
    for (size_t d = nd; d-- > 0;) {
      if (++idx[d] < in_shape[d]) {
        o += out_strides[d];
        break;
      }
      o -= out_strides[d] * (in_shape[d] - 1);
      idx[d] = 0;
    }
  }
  for (size_t i = 0; i < acc.size(); ++i) y[i] = static_cast<float>(acc[i] / divisor);
}

void sum_squares(int64_t n, const float* x, double* acc, bool accumulate) {
  double total = accumulate ? *acc : 0.0;
  for (int64_t i = 0; i < n; ++i) total += static_cast<double>(x[i]) * x[i];
  *acc = total;
}

const ReduceKernels reduce_kernels{GB_KERNEL(ref::sum_to_shape)};
const SumSquaresKernels sum_squares_kernels{GB_KERNEL(ref::sum_squares)};

}  // namespace gb::kernels::ref
