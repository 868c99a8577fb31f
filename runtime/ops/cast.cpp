// ops::cast: a tensor converted between F32, F16 and BF16 through the cast kernels
// (kernels/cast.h: round to nearest even, subnormals kept, NaNs quieted; widening exact). The
// backward casts the gradient back to the input's dtype, as PyTorch's .to(dtype) does (the
// identity on values; rounding has no useful derivative).
#include "runtime/ops.h"
#include "runtime/ops/common.h"
#include "runtime/trace.h"

namespace gb::ops {
using namespace detail;

namespace {
// The first element of a contiguous F32, F16 or BF16 tensor.
void* first_element(const Tensor& t) {
  if (t.dtype() == DType::F32) return t.data<float>();
  return t.data<uint16_t>();
}

kernels::FloatFormat float_format(DType t) {
  switch (t) {
    case DType::F16:
      return kernels::FloatFormat::F16;
    case DType::BF16:
      return kernels::FloatFormat::BF16;
    default:
      return kernels::FloatFormat::F32;
  }
}
}  // namespace

Tensor cast(const Tensor& x, DType to) {
  check_input(OpId::Cast, x, "input");
  if (!(op_row(OpId::Cast).dtypes & dtype_bit(to))) {
    fail(OpId::Cast, std::string("cannot cast to ") + dtype_name(to) + " (it takes " +
                         dtype_set_name(op_row(OpId::Cast).dtypes) + ")");
  }
  if (x.dtype() == to) return x;
  const auto& k = kernels_for<OpId::Cast>(x.device());
  Tensor xc = dense(x);
  Tensor y = Tensor::empty(x.shape(), to, x.device());
  k.convert(y.numel(), first_element(xc), float_format(x.dtype()), first_element(y),
            float_format(to));
  const DType from = x.dtype();
  record(OpId::Cast, {x}, y,
         [from](const Tensor& gy) { return std::vector<Tensor>{cast(gy, from)}; });
  if (tracing()) trace_attrs({{"to", {static_cast<double>(static_cast<int>(to))}}});
  return y;
}

}  // namespace gb::ops
