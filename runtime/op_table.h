// The op table: every op named once, with its kernel per device, its plain reference kernel and
// its backward rule. supports(op, device) answers whether a kernel exists; require_kernel throws an
// error naming the op and the device when it does not (never a silent fallback to another device).
// Backward rules can be overridden per op through the table (Guided Backprop and Deconvnet
// replace ReLU's rule this way), never by special-casing modules.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "runtime/device.h"

namespace gb {

enum class OpId : uint16_t {
  Conv2d,
  Conv2dFused,
  Linear,
  BatchNorm2d,
  BatchNormAct,
  Relu,
  Gelu,
  MaxPool2d,
  AvgPool2d,
  GlobalAvgPool,
  Add,
  Sub,
  Mul,
  Scale,
  Concat,
  Reshape,
  Permute,
  Slice,
  Copy,
  Dropout,
  Softmax,
  LogSoftmax,
  CrossEntropy,
  BilinearResize,
  Sum,
  Mean,
  kCount
};

struct OpInfo {
  OpId id;
  const char* name;           // "conv2d"
  const char* cpu_kernel;     // the fast CPU kernel used by default
  const char* cpu_reference;  // the plain loop every fast kernel is tested against
  const char* cuda_kernel;    // nullptr: no CUDA kernel in this build
  const char* backward;       // how the gradient is computed
};

// All ops, in OpId order.
const std::vector<OpInfo>& op_table();
const OpInfo& op_info(OpId id);

// True when `op` has a kernel for `device`.
bool supports(OpId op, DeviceType device);
// requires: supports(op, device); otherwise throws "op 'conv2d' has no kernel for device cuda".
void require_kernel(OpId op, DeviceType device);

// Which CPU kernels ops dispatch to: the fast ones (default) or the plain references (for
// whole-network cross-checks). Thread-local, scoped.
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

}  // namespace gb
