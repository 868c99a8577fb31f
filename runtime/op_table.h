// The op table, which dispatches: one row per op (OpId, an enum with a compile-time count) with
// its name, for each backend (reference, fast CPU, CUDA) the op family's kernel set (a struct of
// named function pointers, one per pass, declared with the contract in kernels/<family>.h), the
// element types its kernels take, how its backward is computed and the files it lives in.
// An op finds its kernels with kernels_for<OpId::X>(device), which picks the backend from the
// device (and, on the CPU, the CpuKernelMode) and throws an error naming the op and the device
// when the row has no kernels there: never a silent fallback to another backend or device.
// supports(op, device, dtype) answers the same question from the row. Backward rules can be
// overridden through the table's switches (ReluRule: Guided Backprop and Deconvnet replace ReLU's
// rule), never by special-casing modules. Start reading at op_table.cpp's rows.
#pragma once
#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "kernels/activation.h"
#include "kernels/batchnorm.h"
#include "kernels/cast.h"
#include "kernels/conv2d.h"
#include "kernels/conv_transpose2d.h"
#include "kernels/copy.h"
#include "kernels/elementwise.h"
#include "kernels/layernorm.h"
#include "kernels/linear.h"
#include "kernels/matmul.h"
#include "kernels/optim.h"
#include "kernels/pad.h"
#include "kernels/pool.h"
#include "kernels/prelu.h"
#include "kernels/reduce.h"
#include "kernels/resize.h"
#include "kernels/softmax.h"
#include "runtime/device.h"

namespace gb {

enum class OpId : uint16_t {
  Conv2d,
  Conv2dFused,
  ConvTranspose2d,
  Linear,
  MatMul,
  BatchNorm2d,
  BatchNormAct,
  LayerNorm,
  Relu,
  Gelu,
  Clamp,
  LeakyRelu,
  Sigmoid,
  Tanh,
  HardSigmoid,
  HardSwish,
  PRelu,
  MaxPool2d,
  AvgPool2d,
  GlobalAvgPool,
  Add,
  Sub,
  Mul,
  Div,
  Scale,
  Concat,
  Pad2d,
  Reshape,
  Permute,
  Slice,
  Copy,
  Cast,
  Dropout,
  Softmax,
  LogSoftmax,
  CrossEntropy,
  BilinearResize,
  Sum,
  Mean,
  SgdUpdate,
  AdamWUpdate,
  ClipGradNorm,
  Count
};
inline constexpr size_t kOpCount = static_cast<size_t>(OpId::Count);

// Where a kernel set comes from: kernels/ref (the plain loops every other kernel is tested
// against), kernels/cpu (the fast CPU kernels) or kernels/cuda.
enum class Backend : uint8_t { Reference, CpuFast, Cuda, Count };
inline constexpr size_t kBackendCount = static_cast<size_t>(Backend::Count);
const char* backend_name(Backend backend);  // "reference", "cpu", "cuda"

// The kernel-set type of each op's row. View ops (reshape, permute, slice) change only shape,
// strides and offset, on any device and dtype: their rows hold no kernels.
struct NoKernels {
  std::vector<kernels::KernelName> names() const { return {}; }
};
template <OpId op>
struct OpKernelsOf;
#define GB_OP_KERNELS(op, set_type) \
  template <>                       \
  struct OpKernelsOf<OpId::op> {    \
    using type = set_type;          \
  };
GB_OP_KERNELS(Conv2d, kernels::Conv2dKernels)
GB_OP_KERNELS(Conv2dFused, kernels::Conv2dFusedKernels)
GB_OP_KERNELS(ConvTranspose2d, kernels::ConvTranspose2dKernels)
GB_OP_KERNELS(Linear, kernels::LinearKernels)
GB_OP_KERNELS(MatMul, kernels::MatMulKernels)
GB_OP_KERNELS(BatchNorm2d, kernels::BatchNormKernels)
GB_OP_KERNELS(BatchNormAct, kernels::BatchNormActKernels)
GB_OP_KERNELS(LayerNorm, kernels::LayerNormKernels)
GB_OP_KERNELS(Relu, kernels::ReluKernels)
GB_OP_KERNELS(Gelu, kernels::GeluKernels)
GB_OP_KERNELS(Clamp, kernels::ClampKernels)
GB_OP_KERNELS(LeakyRelu, kernels::LeakyReluKernels)
GB_OP_KERNELS(Sigmoid, kernels::PointwiseKernels)
GB_OP_KERNELS(Tanh, kernels::PointwiseKernels)
GB_OP_KERNELS(HardSigmoid, kernels::HardSigmoidKernels)
GB_OP_KERNELS(HardSwish, kernels::PointwiseKernels)
GB_OP_KERNELS(PRelu, kernels::PreluKernels)
GB_OP_KERNELS(MaxPool2d, kernels::MaxPoolKernels)
GB_OP_KERNELS(AvgPool2d, kernels::AvgPoolKernels)
GB_OP_KERNELS(GlobalAvgPool, kernels::GlobalAvgPoolKernels)
GB_OP_KERNELS(Add, kernels::BinaryKernels)
GB_OP_KERNELS(Sub, kernels::BinaryKernels)
GB_OP_KERNELS(Mul, kernels::BinaryKernels)
GB_OP_KERNELS(Div, kernels::BinaryKernels)
GB_OP_KERNELS(Scale, kernels::ScaleKernels)
GB_OP_KERNELS(Concat, kernels::StridedCopyKernels)
GB_OP_KERNELS(Pad2d, kernels::Pad2dKernels)
GB_OP_KERNELS(Reshape, NoKernels)
GB_OP_KERNELS(Permute, NoKernels)
GB_OP_KERNELS(Slice, NoKernels)
GB_OP_KERNELS(Copy, kernels::StridedCopyKernels)
GB_OP_KERNELS(Cast, kernels::CastKernels)
GB_OP_KERNELS(Dropout, kernels::BinaryKernels)
GB_OP_KERNELS(Softmax, kernels::SoftmaxKernels)
GB_OP_KERNELS(LogSoftmax, kernels::SoftmaxKernels)
GB_OP_KERNELS(CrossEntropy, kernels::CrossEntropyKernels)
GB_OP_KERNELS(BilinearResize, kernels::ResizeKernels)
GB_OP_KERNELS(Sum, kernels::ReduceKernels)
GB_OP_KERNELS(Mean, kernels::ReduceKernels)
GB_OP_KERNELS(SgdUpdate, kernels::SgdKernels)
GB_OP_KERNELS(AdamWUpdate, kernels::AdamWKernels)
GB_OP_KERNELS(ClipGradNorm, kernels::SumSquaresKernels)
#undef GB_OP_KERNELS
template <OpId op>
using OpKernels = typename OpKernelsOf<op>::type;

// A set of element types (bit dtype_bit(t) for each member).
using DTypeSet = uint8_t;
constexpr DTypeSet dtype_bit(DType t) { return static_cast<DTypeSet>(1u << static_cast<int>(t)); }
inline constexpr DTypeSet kAllDTypes = 0xff;
// "F32", "F32 F16 BF16" (the members in DType order), or "any" for kAllDTypes.
std::string dtype_set_name(DTypeSet set);

struct OpRow {
  OpId id;
  const char* name;  // "conv2d": what errors, the profiler and `glassbox ops` call it
  // The op's kernel set per backend (an OpKernels<id>*), nullptr where the backend has none.
  std::array<const void*, kBackendCount> kernel_sets;
  // The passes and function names of a set of this row's type.
  std::vector<kernels::KernelName> (*list_kernels)(const void* kernel_set);
  DTypeSet dtypes;  // element types of the tensors the kernels compute on
  bool is_view;     // no kernels: shape, strides and offset only, any device and dtype
  // Bit i set: on the fast CPU kernels, the gradient of input i may change with the thread count
  // (per-thread partial sums); every other output is bit-identical for any thread count.
  uint32_t thread_dependent_grads;
  const char* backward;  // how the gradient is computed
  // The contract header, the kernels and the op with its backward. Tests: the op's cases in
  // tests/conformance/ (conformance_cases), plus algorithm edge cases in tests/test_kernels.cpp.
  const char* files;
};

// All rows, in OpId order.
const std::array<OpRow, kOpCount>& op_table();
const OpRow& op_row(OpId id);
const char* op_name(OpId id);
// The table as `glassbox ops` prints it: per op its backward, its files and, per backend, each
// pass's kernel function ("none" where the backend has no kernels in this build).
std::string format_op_table();

// Which CPU kernels ops dispatch to: the fast ones (default) or the plain references (for
// whole-network cross-checks and the conformance harness). Thread-local, scoped.
enum class CpuKernelMode { Fast, Reference };
CpuKernelMode cpu_kernel_mode();
class CpuKernelModeGuard {
 public:
  explicit CpuKernelModeGuard(CpuKernelMode mode);
  ~CpuKernelModeGuard();
  CpuKernelModeGuard(const CpuKernelModeGuard&) = delete;
  CpuKernelModeGuard& operator=(const CpuKernelModeGuard&) = delete;

 private:
  CpuKernelMode prev_;
};

// The backend ops on `device` dispatch to now: Cuda for a GPU; on the CPU, CpuFast or Reference
// as cpu_kernel_mode() says.
Backend backend_for(DeviceType device);

// True when `op` can run on `device` with tensors of `dtype`: a view op always; otherwise when the
// row takes dtype and has a kernel set for backend_for(device).
bool supports(OpId op, DeviceType device, DType dtype = DType::F32);
// requires: supports(op, device, dtype); otherwise throws std::runtime_error naming the op, the
// device (and the dtype): "op 'conv2d_fused' has no kernel for device cuda".
void require_kernel(OpId op, DeviceType device, DType dtype = DType::F32);

namespace detail {
// The row's kernel set for `device`; throws as require_kernel when there is none. Notes the
// dispatch in the current DispatchLog, if any.
const void* kernel_set(OpId op, DeviceType device);
}  // namespace detail

// The kernels `op` runs on `device`. Ops call it once per forward and capture the result for
// their backward, so both passes use the same backend.
template <OpId op>
const OpKernels<op>& kernels_for(Device device) {
  return *static_cast<const OpKernels<op>*>(detail::kernel_set(op, device.type));
}

// Records every dispatch (op, backend) on this thread while alive; the conformance harness uses
// it to prove that a case ran the row it claims to test. Nesting: the innermost log records.
struct DispatchRecord {
  OpId op;
  Backend backend;
};
class DispatchLog {
 public:
  DispatchLog();
  ~DispatchLog();
  DispatchLog(const DispatchLog&) = delete;
  DispatchLog& operator=(const DispatchLog&) = delete;
  const std::vector<DispatchRecord>& records() const { return records_; }
  bool saw(OpId op, Backend backend) const;
  void note(OpId op, Backend backend) { records_.push_back({op, backend}); }

 private:
  std::vector<DispatchRecord> records_;
  DispatchLog* prev_;
};

// ReLU backward rules selectable through the table.
enum class ReluRule { Standard, Guided, Deconv };
ReluRule relu_backward_rule();
// Replaces ReLU's backward rule within its scope (thread-local).
class ReluRuleGuard {
 public:
  explicit ReluRuleGuard(ReluRule rule);
  ~ReluRuleGuard();
  ReluRuleGuard(const ReluRuleGuard&) = delete;
  ReluRuleGuard& operator=(const ReluRuleGuard&) = delete;

 private:
  ReluRule prev_;
};
// The kernels' form of the current rule for an activation that is ReLU (relu) or none.
kernels::ActGrad act_grad_rule(bool relu);

}  // namespace gb
