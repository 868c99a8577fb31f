// The op table's rows and the dispatch switches (CPU kernel mode, ReLU backward rule).
#include "runtime/op_table.h"

#include <stdexcept>
#include <string>

// A CUDA kernel's name in a CUDA build; nullptr (no kernel) otherwise.
#ifdef GB_WITH_CUDA
#define GB_CUDA_KERNEL(name) name
#else
#define GB_CUDA_KERNEL(name) nullptr
#endif

namespace gb {
namespace {
thread_local CpuKernelMode t_cpu_mode = CpuKernelMode::Fast;
thread_local ReluRule t_relu_rule = ReluRule::Standard;
}  // namespace

const std::vector<OpInfo>& op_table() {
  static const std::vector<OpInfo> table = {
      {OpId::Conv2d, "conv2d",
       "cpu::conv2d_* (Winograd F(4x4,3x3) for 3x3 stride 1 pad 1; padded-flat implicit GEMM; "
       "im2col + packed GEMM otherwise)",
       "ref::conv2d_*",
       GB_CUDA_KERNEL(
           "cuda::conv2d_* (implicit GEMM, split-K weight grad; cuDNN with --conv-backend cudnn)"),
       "conv2d_backward_input + conv2d_backward_weight"},
      {OpId::Conv2dFused, "conv2d_fused",
       "cpu::conv2d_forward_fused (conv + scale/shift/residual/ReLU epilogue)",
       "ref::conv2d_forward + epilogue loop", nullptr,
       "none: inference only (refuses inputs that require grad)"},
      {OpId::Linear, "linear", "cpu::linear_* (packed GEMM)", "ref::linear_*",
       GB_CUDA_KERNEL("cuda::linear_* (tiled SGEMM)"), "linear_backward"},
      {OpId::BatchNorm2d, "batch_norm2d", "cpu::batchnorm_*", "ref::batchnorm_*",
       GB_CUDA_KERNEL("cuda::batchnorm_*"), "batchnorm_backward_train / _eval"},
      {OpId::BatchNormAct, "batch_norm2d_act", "cpu::batchnorm_act_* (train BN + residual + ReLU)",
       "ref::batchnorm_*_train, + residual, ref::relu_*", GB_CUDA_KERNEL("cuda::batchnorm_act_*"),
       "ReLU rule (table-selected) then batchnorm_backward_train; residual gets the masked grad"},
      {OpId::Relu, "relu", "cpu::relu_forward", "ref::relu_forward", GB_CUDA_KERNEL("cuda::relu_*"),
       "relu_backward (rule overridable: guided, deconv)"},
      {OpId::Gelu, "gelu", "ref::gelu_forward", "ref::gelu_forward", GB_CUDA_KERNEL("cuda::gelu_*"),
       "gelu_backward"},
      {OpId::MaxPool2d, "max_pool2d", "cpu::maxpool2d_* (planes in parallel)",
       "ref::maxpool2d_forward", GB_CUDA_KERNEL("cuda::maxpool2d_*"),
       "maxpool2d_backward (argmax scatter)"},
      {OpId::AvgPool2d, "avg_pool2d", "cpu::avgpool2d_* (planes in parallel)",
       "ref::avgpool2d_forward", GB_CUDA_KERNEL("cuda::avgpool2d_*"), "avgpool2d_backward"},
      {OpId::GlobalAvgPool, "global_avg_pool", "cpu::global_avgpool_*",
       "ref::global_avgpool_forward", GB_CUDA_KERNEL("cuda::global_avgpool_*"),
       "global_avgpool_backward"},
      {OpId::Add, "add", "cpu::add (same shapes; broadcast loop otherwise)", "broadcast loop",
       GB_CUDA_KERNEL("cuda::add / broadcast_binary"), "grad summed to each input's shape"},
      {OpId::Sub, "sub", "cpu::sub (same shapes; broadcast loop otherwise)", "broadcast loop",
       GB_CUDA_KERNEL("cuda::sub / broadcast_binary"),
       "grad and -grad summed to each input's shape"},
      {OpId::Mul, "mul", "cpu::mul (same shapes; broadcast loop otherwise)", "broadcast loop",
       GB_CUDA_KERNEL("cuda::mul / broadcast_binary"),
       "grad * other, summed to each input's shape"},
      {OpId::Scale, "scale", "loop", "loop", GB_CUDA_KERNEL("cuda::scale"), "grad * factor"},
      {OpId::Concat, "concat", "strided copy", "strided copy",
       GB_CUDA_KERNEL("cuda::strided_copy into slices"), "slices of grad"},
      {OpId::Reshape, "reshape", "view (copies only a non-contiguous input)", "view",
       GB_CUDA_KERNEL("view (cuda::strided_copy for a non-contiguous input)"),
       "grad reshaped back"},
      {OpId::Permute, "permute", "view (strides permuted)", "view", GB_CUDA_KERNEL("view"),
       "grad permuted back"},
      {OpId::Slice, "slice", "view (offset and stride)", "view", GB_CUDA_KERNEL("view"),
       "grad scattered into zeros"},
      {OpId::Copy, "contiguous", "strided copy", "strided copy",
       GB_CUDA_KERNEL("cuda::strided_copy"), "identity"},
      {OpId::Dropout, "dropout", "Philox mask", "Philox mask",
       GB_CUDA_KERNEL("host Philox mask, cuda::mul"), "grad * mask"},
      {OpId::Softmax, "softmax", "cpu::softmax_* (rows in parallel)", "ref::softmax_forward",
       GB_CUDA_KERNEL("cuda::softmax_*"), "softmax_backward"},
      {OpId::LogSoftmax, "log_softmax", "cpu::log_softmax_* (rows in parallel)",
       "ref::log_softmax_forward", GB_CUDA_KERNEL("cuda::log_softmax_*"), "log_softmax_backward"},
      {OpId::CrossEntropy, "cross_entropy", "cpu::cross_entropy_* (rows in parallel)",
       "ref::cross_entropy_forward", GB_CUDA_KERNEL("cuda::cross_entropy_*_device"),
       "cross_entropy_backward"},
      {OpId::BilinearResize, "bilinear_resize", "ref::bilinear_resize_forward",
       "ref::bilinear_resize_forward", GB_CUDA_KERNEL("cuda::bilinear_resize_*"),
       "bilinear_resize_backward"},
      {OpId::Sum, "sum", "loop (double accumulator)", "loop",
       GB_CUDA_KERNEL("cuda::reduce_sum (fixed-order)"), "grad broadcast"},
      {OpId::Mean, "mean", "loop (double accumulator)", "loop",
       GB_CUDA_KERNEL("cuda::reduce_sum (fixed-order) then scale"), "grad / count broadcast"},
  };
  return table;
}

const OpInfo& op_info(OpId id) {
  const auto& t = op_table();
  const auto i = static_cast<size_t>(id);
  if (i >= t.size() || t[i].id != id) throw std::logic_error("op table: row out of order");
  return t[i];
}

bool supports(OpId op, DeviceType device) {
  const OpInfo& info = op_info(op);
  switch (device) {
    case DeviceType::CPU:
      return info.cpu_kernel != nullptr;
    case DeviceType::CUDA:
      return info.cuda_kernel != nullptr;
  }
  return false;
}

void require_kernel(OpId op, DeviceType device) {
  if (!supports(op, device)) {
    throw std::runtime_error(std::string("op '") + op_info(op).name +
                             "' has no kernel for device " + device_type_name(device));
  }
}

CpuKernelMode cpu_kernel_mode() { return t_cpu_mode; }
CpuKernelModeGuard::CpuKernelModeGuard(CpuKernelMode mode) : prev_(t_cpu_mode) {
  t_cpu_mode = mode;
}
CpuKernelModeGuard::~CpuKernelModeGuard() { t_cpu_mode = prev_; }

ReluRule relu_backward_rule() { return t_relu_rule; }
ReluRuleGuard::ReluRuleGuard(ReluRule rule) : prev_(t_relu_rule) { t_relu_rule = rule; }
ReluRuleGuard::~ReluRuleGuard() { t_relu_rule = prev_; }

}  // namespace gb
