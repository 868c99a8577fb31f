// The op table's rows, the dispatch helper and the table's switches (CPU kernel mode, ReLU
// backward rule, the dispatch log). Each row names the kernel set of every backend: a missing
// entry (nullptr) means the op has no kernel there, and dispatching to it is an error.
#include "runtime/op_table.h"

#include <initializer_list>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

// A CUDA kernel set in a CUDA build; nullptr (no kernels) otherwise.
#ifdef GB_WITH_CUDA
#define GB_CUDA_SET(set) &kernels::cuda::set
#else
#define GB_CUDA_SET(set) nullptr
#endif

namespace gb {
namespace {
thread_local CpuKernelMode t_cpu_mode = CpuKernelMode::Fast;
thread_local ReluRule t_relu_rule = ReluRule::Standard;
thread_local DispatchLog* t_dispatch_log = nullptr;

constexpr DTypeSet kF32 = dtype_bit(DType::F32);

struct RowText {
  const char* backward;
  const char* files;
};

// A row whose kernel sets have the type the op's OpKernels names (checked at compile time).
template <OpId op>
OpRow row(const char* name, const OpKernels<op>* ref, const OpKernels<op>* cpu,
          const OpKernels<op>* cuda, RowText text, uint32_t thread_dependent_grads = 0,
          DTypeSet dtypes = kF32) {
  return OpRow{op,
               name,
               {ref, cpu, cuda},
               [](const void* set) { return static_cast<const OpKernels<op>*>(set)->names(); },
               dtypes,
               false,
               thread_dependent_grads,
               text.backward,
               text.files};
}

template <OpId op>
OpRow view_row(const char* name, RowText text) {
  static const NoKernels none;
  return OpRow{op,
               name,
               {&none, &none, &none},
               [](const void*) { return none.names(); },
               kAllDTypes,
               true,
               0,
               text.backward,
               text.files};
}

namespace ref = kernels::ref;
namespace cpu = kernels::cpu;

// Convolution, linear, matmul, batch norm and layer norm.
std::vector<OpRow> layer_rows() {
  return {
      row<OpId::Conv2d>(
          "conv2d", &ref::conv2d_kernels, &cpu::conv2d_kernels, GB_CUDA_SET(conv2d_kernels),
          {"backward_input for the input, backward_weight for weight and bias (skipped when "
           "not needed)",
           "kernels/conv2d.h kernels/ref/conv2d.cpp kernels/cpu/conv2d.cpp "
           "kernels/cpu/conv_depthwise.cpp kernels/cpu/conv_winograd.cpp "
           "kernels/cpu/conv_direct.cpp kernels/cpu/gemm.cpp kernels/cuda/conv2d.cu "
           "kernels/cuda/conv_depthwise.cu kernels/cuda/conv_cudnn.cu runtime/ops/conv2d.cpp"},
          /*thread_dependent_grads=*/0b110),
      row<OpId::Conv2dFused>(
          "conv2d_fused", &ref::conv2d_fused_kernels, &cpu::conv2d_fused_kernels, nullptr,
          {"none: inference only (refuses inputs that require grad)",
           "kernels/conv2d.h kernels/ref/conv2d.cpp kernels/cpu/conv2d.cpp "
           "kernels/cpu/conv_depthwise.cpp kernels/cpu/conv_winograd.cpp "
           "kernels/cpu/conv_direct.cpp runtime/ops/conv2d.cpp runtime/fusion.cpp"}),
      row<OpId::ConvTranspose2d>(
          "conv_transpose2d", &ref::conv_transpose2d_kernels, &cpu::conv_transpose2d_kernels,
          GB_CUDA_SET(conv_transpose2d_kernels),
          {"backward_input (conv2d's forward) for the input, backward_weight for weight and bias "
           "(skipped when not needed)",
           "kernels/conv_transpose2d.h kernels/ref/conv_transpose2d.cpp "
           "kernels/cpu/conv_transpose2d.cpp kernels/cpu/conv2d.cpp "
           "kernels/cuda/conv_transpose2d.cu kernels/cuda/conv2d.cu "
           "runtime/ops/conv_transpose2d.cpp"},
          /*thread_dependent_grads=*/0b010),
      row<OpId::Linear>("linear", &ref::linear_kernels, &cpu::linear_kernels,
                        GB_CUDA_SET(linear_kernels),
                        {"backward (dx skipped when not needed)",
                         "kernels/linear.h kernels/ref/linear.cpp kernels/cpu/linear.cpp "
                         "kernels/cuda/linear.cu runtime/ops/linear.cpp"}),
      row<OpId::MatMul>("matmul", &ref::matmul_kernels, &cpu::matmul_kernels,
                        GB_CUDA_SET(matmul_kernels),
                        {"backward (da and db, each skipped when not needed; a shared operand's "
                         "gradient summed over the batch)",
                         "kernels/matmul.h kernels/ref/matmul.cpp kernels/cpu/matmul.cpp "
                         "kernels/cpu/gemm.cpp kernels/cuda/matmul.cu runtime/ops/matmul.cpp"}),
      row<OpId::BatchNorm2d>(
          "batch_norm2d", &ref::batchnorm_kernels, &cpu::batchnorm_kernels,
          GB_CUDA_SET(batchnorm_kernels),
          {"backward_train (batch statistics) or backward_eval (running statistics)",
           "kernels/batchnorm.h kernels/ref/batchnorm.cpp kernels/cpu/batchnorm.cpp "
           "kernels/cuda/batchnorm.cu runtime/ops/batchnorm.cpp"}),
      row<OpId::BatchNormAct>(
          "batch_norm2d_act", &ref::batchnorm_act_kernels, &cpu::batchnorm_act_kernels,
          GB_CUDA_SET(batchnorm_act_kernels),
          {"the ReLU rule (table-selected) then backward_train; the residual gets the masked grad",
           "kernels/batchnorm.h kernels/ref/batchnorm.cpp kernels/cpu/batchnorm.cpp "
           "kernels/cuda/batchnorm.cu runtime/ops/batchnorm.cpp runtime/fusion.cpp"}),
      row<OpId::LayerNorm>(
          "layer_norm", &ref::layer_norm_kernels, &cpu::layer_norm_kernels,
          GB_CUDA_SET(layer_norm_kernels),
          {"backward (from the input and the saved row mean and rstd; dx, dweight, dbias each "
           "skipped when not needed)",
           "kernels/layernorm.h kernels/ref/layernorm.cpp kernels/cpu/layernorm.cpp "
           "kernels/cuda/layernorm.cu runtime/ops/layernorm.cpp"}),
  };
}

// Activations.
std::vector<OpRow> activation_rows() {
  const char* files_fast =
      "kernels/activation.h kernels/ref/activation.cpp kernels/cpu/elementwise.cpp "
      "kernels/cuda/elementwise.cu runtime/ops/activation.cpp";
  const char* files_import =
      "kernels/activation.h kernels/ref/activation.cpp kernels/cpu/elementwise.cpp "
      "kernels/cpu/exp_avx2.h kernels/cuda/elementwise.cu runtime/ops/pointwise.cpp";
  return {
      row<OpId::Relu>(
          "relu", &ref::relu_kernels, &cpu::relu_kernels, GB_CUDA_SET(relu_kernels),
          {"backward, or backward_guided / backward_deconv under a ReluRuleGuard", files_fast}),
      row<OpId::Gelu>("gelu", &ref::gelu_kernels, &cpu::gelu_kernels, GB_CUDA_SET(gelu_kernels),
                      {"backward (from the forward input)",
                       "kernels/activation.h kernels/ref/activation.cpp kernels/cpu/gelu.cpp "
                       "kernels/cpu/exp_avx2.h kernels/cuda/elementwise.cu "
                       "runtime/ops/activation.cpp"}),
      row<OpId::Clamp>("clamp", &ref::clamp_kernels, &cpu::clamp_kernels,
                       GB_CUDA_SET(clamp_kernels),
                       {"backward (from the forward input: dy where lo <= x <= hi)", files_import}),
      row<OpId::LeakyRelu>("leaky_relu", &ref::leaky_relu_kernels, &cpu::leaky_relu_kernels,
                           GB_CUDA_SET(leaky_relu_kernels),
                           {"backward (from the forward input)", files_import}),
      row<OpId::Sigmoid>("sigmoid", &ref::sigmoid_kernels, &cpu::sigmoid_kernels,
                         GB_CUDA_SET(sigmoid_kernels),
                         {"backward (from the forward output)", files_import}),
      row<OpId::Tanh>("tanh", &ref::tanh_kernels, &cpu::tanh_kernels, GB_CUDA_SET(tanh_kernels),
                      {"backward (from the forward output)", files_import}),
      row<OpId::HardSigmoid>("hardsigmoid", &ref::hardsigmoid_kernels, &cpu::hardsigmoid_kernels,
                             GB_CUDA_SET(hardsigmoid_kernels),
                             {"backward (from the forward input)", files_import}),
      row<OpId::HardSwish>("hardswish", &ref::hardswish_kernels, &cpu::hardswish_kernels,
                           GB_CUDA_SET(hardswish_kernels),
                           {"backward (from the forward input)", files_import}),
      row<OpId::PRelu>("prelu", &ref::prelu_kernels, &ref::prelu_kernels,
                       GB_CUDA_SET(prelu_kernels),
                       {"backward (from the forward input; dx and dslope, each skipped when not "
                        "needed)",
                        "kernels/prelu.h kernels/ref/prelu.cpp kernels/cuda/prelu.cu "
                        "runtime/ops/pointwise.cpp"}),
  };
}

// Pooling.
std::vector<OpRow> pool_rows() {
  return {
      row<OpId::MaxPool2d>("max_pool2d", &ref::maxpool2d_kernels, &cpu::maxpool2d_kernels,
                           GB_CUDA_SET(maxpool2d_kernels),
                           {"backward (argmax scatter)",
                            "kernels/pool.h kernels/ref/pool.cpp kernels/cpu/pool.cpp "
                            "kernels/cuda/pool.cu runtime/ops/pool.cpp"}),
      row<OpId::AvgPool2d>("avg_pool2d", &ref::avgpool2d_kernels, &cpu::avgpool2d_kernels,
                           GB_CUDA_SET(avgpool2d_kernels),
                           {"backward",
                            "kernels/pool.h kernels/ref/pool.cpp kernels/cpu/pool.cpp "
                            "kernels/cuda/pool.cu runtime/ops/pool.cpp"}),
      row<OpId::GlobalAvgPool>("global_avg_pool", &ref::global_avgpool_kernels,
                               &cpu::global_avgpool_kernels, GB_CUDA_SET(global_avgpool_kernels),
                               {"backward (dy / L)",
                                "kernels/pool.h kernels/ref/pool.cpp kernels/cpu/pool.cpp "
                                "kernels/cuda/pool.cu runtime/ops/pool.cpp"}),
  };
}

// Elementwise arithmetic, concat, constant padding, the views and copies, dropout.
std::vector<OpRow> elementwise_and_shape_rows() {
  return {
      row<OpId::Add>("add", &ref::binary_kernels, &cpu::binary_kernels, GB_CUDA_SET(binary_kernels),
                     {"ops: the gradient summed to each input's shape (sum_to)",
                      "kernels/elementwise.h kernels/ref/elementwise.cpp "
                      "kernels/cpu/elementwise.cpp kernels/cuda/elementwise.cu "
                      "runtime/ops/elementwise.cpp"}),
      row<OpId::Sub>("sub", &ref::binary_kernels, &cpu::binary_kernels, GB_CUDA_SET(binary_kernels),
                     {"ops: grad and scale(grad, -1), summed to each input's shape",
                      "kernels/elementwise.h kernels/ref/elementwise.cpp "
                      "kernels/cpu/elementwise.cpp kernels/cuda/elementwise.cu "
                      "runtime/ops/elementwise.cpp"}),
      row<OpId::Mul>(
          "mul", &ref::binary_kernels, &cpu::binary_kernels, GB_CUDA_SET(binary_kernels),
          {"kernels: grad * other (same_shape / broadcast), summed to each input's shape",
           "kernels/elementwise.h kernels/ref/elementwise.cpp "
           "kernels/cpu/elementwise.cpp kernels/cuda/elementwise.cu "
           "runtime/ops/elementwise.cpp"}),
      row<OpId::Div>(
          "div", &ref::binary_kernels, &cpu::binary_kernels, GB_CUDA_SET(binary_kernels),
          {"kernels: grad / b and -(grad / b) * y (same_shape / broadcast), summed to each "
           "input's shape",
           "kernels/elementwise.h kernels/ref/elementwise.cpp "
           "kernels/cpu/elementwise.cpp kernels/cuda/elementwise.cu "
           "runtime/ops/elementwise.cpp"}),
      row<OpId::Scale>("scale", &ref::scale_kernels, &ref::scale_kernels,
                       GB_CUDA_SET(scale_kernels),
                       {"ops: scale(grad, factor)",
                        "kernels/elementwise.h kernels/ref/elementwise.cpp "
                        "kernels/cuda/elementwise.cu runtime/ops/elementwise.cpp"}),
      row<OpId::Concat>("concat", &ref::strided_copy_kernels, &cpu::strided_copy_kernels,
                        GB_CUDA_SET(strided_copy_kernels),
                        {"ops: slices of the gradient",
                         "kernels/copy.h kernels/ref/copy.cpp kernels/cpu/copy.cpp "
                         "kernels/cuda/copy.cu runtime/ops/shape.cpp"}),
      row<OpId::Pad2d>("pad2d", &ref::pad2d_kernels, &ref::pad2d_kernels,
                       GB_CUDA_SET(pad2d_kernels),
                       {"backward (the slice of the gradient at the input)",
                        "kernels/pad.h kernels/shapes.h kernels/ref/pad.cpp kernels/cuda/pad.cu "
                        "runtime/ops/pad.cpp"}),
      view_row<OpId::Reshape>(
          "reshape", {"the gradient viewed with the input's shape", "runtime/ops/shape.cpp"}),
      view_row<OpId::Permute>(
          "permute", {"ops: the gradient permuted back (contiguous)", "runtime/ops/shape.cpp"}),
      view_row<OpId::Slice>(
          "slice", {"the gradient copied into zeros at the slice", "runtime/ops/shape.cpp"}),
      row<OpId::Copy>("contiguous", &ref::strided_copy_kernels, &cpu::strided_copy_kernels,
                      GB_CUDA_SET(strided_copy_kernels),
                      {"identity",
                       "kernels/copy.h kernels/ref/copy.cpp kernels/cpu/copy.cpp "
                       "kernels/cuda/copy.cu runtime/ops/shape.cpp"},
                      0, kAllDTypes),
      row<OpId::Cast>("cast", &ref::cast_kernels, &cpu::cast_kernels, GB_CUDA_SET(cast_kernels),
                      {"ops: the gradient cast back to the input's dtype",
                       "kernels/cast.h kernels/float_formats.h kernels/ref/cast.cpp "
                       "kernels/cpu/cast.cpp kernels/cuda/cast.cu runtime/ops/cast.cpp"},
                      0, kF32 | dtype_bit(DType::F16) | dtype_bit(DType::BF16)),
      row<OpId::Dropout>("dropout", &ref::binary_kernels, &cpu::binary_kernels,
                         GB_CUDA_SET(binary_kernels),
                         {"grad * mask (same_shape); the mask is drawn on the host (Philox)",
                          "kernels/elementwise.h kernels/ref/elementwise.cpp "
                          "kernels/cpu/elementwise.cpp kernels/cuda/elementwise.cu "
                          "runtime/ops/activation.cpp"}),
  };
}

// The softmax family, resize and the reductions.
std::vector<OpRow> loss_resize_reduce_rows() {
  return {
      row<OpId::Softmax>("softmax", &ref::softmax_kernels, &cpu::softmax_kernels,
                         GB_CUDA_SET(softmax_kernels),
                         {"backward (from the forward output)",
                          "kernels/softmax.h kernels/ref/softmax.cpp kernels/cpu/softmax.cpp "
                          "kernels/cuda/softmax.cu runtime/ops/softmax.cpp"}),
      row<OpId::LogSoftmax>("log_softmax", &ref::log_softmax_kernels, &cpu::log_softmax_kernels,
                            GB_CUDA_SET(log_softmax_kernels),
                            {"backward (from the forward output)",
                             "kernels/softmax.h kernels/ref/softmax.cpp kernels/cpu/softmax.cpp "
                             "kernels/cuda/softmax.cu runtime/ops/softmax.cpp"}),
      row<OpId::CrossEntropy>("cross_entropy", &ref::cross_entropy_kernels,
                              &cpu::cross_entropy_kernels, GB_CUDA_SET(cross_entropy_kernels),
                              {"backward (from the saved probabilities; dloss read on the device)",
                               "kernels/softmax.h kernels/ref/softmax.cpp kernels/cpu/softmax.cpp "
                               "kernels/cuda/softmax.cu runtime/ops/softmax.cpp"}),
      row<OpId::BilinearResize>("bilinear_resize", &ref::bilinear_resize_kernels,
                                &ref::bilinear_resize_kernels, GB_CUDA_SET(bilinear_resize_kernels),
                                {"backward",
                                 "kernels/resize.h kernels/ref/resize.cpp "
                                 "kernels/cuda/resize.cu runtime/ops/resize.cpp"}),
      row<OpId::Sum>("sum", &ref::reduce_kernels, &ref::reduce_kernels, GB_CUDA_SET(reduce_kernels),
                     {"kernels: the gradient broadcast back (add's broadcast)",
                      "kernels/reduce.h kernels/ref/reduce.cpp kernels/cuda/reduce.cu "
                      "runtime/ops/reduce.cpp"}),
      row<OpId::Mean>("mean", &ref::reduce_kernels, &ref::reduce_kernels,
                      GB_CUDA_SET(reduce_kernels),
                      {"kernels: the gradient broadcast back (add's broadcast), then scaled",
                       "kernels/reduce.h kernels/ref/reduce.cpp kernels/cuda/reduce.cu "
                       "runtime/ops/reduce.cpp"}),
  };
}

// Optimizer updates and gradient clipping (not differentiable).
std::vector<OpRow> optimizer_rows() {
  return {
      row<OpId::SgdUpdate>("sgd_update", &ref::sgd_kernels, &ref::sgd_kernels,
                           GB_CUDA_SET(sgd_kernels),
                           {"none: an optimizer step",
                            "kernels/optim.h kernels/ref/optim.cpp kernels/cuda/optim.cu "
                            "runtime/optim.cpp"}),
      row<OpId::AdamWUpdate>("adamw_update", &ref::adamw_kernels, &ref::adamw_kernels,
                             GB_CUDA_SET(adamw_kernels),
                             {"none: an optimizer step",
                              "kernels/optim.h kernels/ref/optim.cpp kernels/cuda/optim.cu "
                              "runtime/optim.cpp"}),
      row<OpId::ClipGradNorm>("clip_grad_norm", &ref::sum_squares_kernels,
                              &ref::sum_squares_kernels, GB_CUDA_SET(sum_squares_kernels),
                              {"none: scales gradients (scale's kernels) after the norm",
                               "kernels/reduce.h kernels/ref/reduce.cpp kernels/cuda/reduce.cu "
                               "runtime/optim.cpp"}),
  };
}

std::array<OpRow, kOpCount> build_table() {
  std::vector<OpRow> rows;
  for (auto group : {layer_rows, activation_rows, pool_rows, elementwise_and_shape_rows,
                     loss_resize_reduce_rows, optimizer_rows}) {
    for (OpRow& r : group()) rows.push_back(std::move(r));
  }
  if (rows.size() != kOpCount) throw std::logic_error("op table: a row is missing");
  std::array<OpRow, kOpCount> table{};
  for (size_t i = 0; i < kOpCount; ++i) table[i] = rows[i];
  return table;
}

}  // namespace

std::string dtype_set_name(DTypeSet set) {
  if (set == kAllDTypes) return "any";
  std::string out;
  for (DType t : {DType::F32, DType::F16, DType::BF16, DType::I64, DType::I32, DType::U8}) {
    if (!(set & dtype_bit(t))) continue;
    if (!out.empty()) out += ' ';
    out += dtype_name(t);
  }
  return out;
}

namespace {

[[noreturn]] void throw_no_kernel(OpId op, DeviceType device, DType dtype) {
  const OpRow& r = op_row(op);
  std::string msg =
      std::string("op '") + r.name + "' has no kernel for device " + device_type_name(device);
  if (!(r.dtypes & dtype_bit(dtype))) {
    msg = std::string("op '") + r.name + "' has no kernel for dtype " + dtype_name(dtype);
  } else if (device == DeviceType::Cpu) {
    msg += std::string(" (") + backend_name(backend_for(device)) + ")";
  }
  throw std::runtime_error(msg);
}
}  // namespace

const char* backend_name(Backend backend) {
  switch (backend) {
    case Backend::Reference:
      return "reference";
    case Backend::CpuFast:
      return "cpu";
    case Backend::Cuda:
      return "cuda";
    case Backend::Count:
      break;
  }
  return "?";
}

const std::array<OpRow, kOpCount>& op_table() {
  static const std::array<OpRow, kOpCount> table = build_table();
  return table;
}

const OpRow& op_row(OpId id) {
  const auto i = static_cast<size_t>(id);
  if (i >= kOpCount) throw std::logic_error("op table: no row for op id " + std::to_string(i));
  const OpRow& r = op_table()[i];
  if (r.id != id) throw std::logic_error("op table: row out of order");
  return r;
}

const char* op_name(OpId id) { return op_row(id).name; }

namespace {
// Appends each piece to out (plain appends: GCC 12 warns falsely on long operator+ chains).
void append(std::string& out, std::initializer_list<std::string_view> pieces) {
  for (std::string_view p : pieces) out.append(p);
}

// "  cpu        forward cpu::conv2d_forward, backward_input ..." for one backend of a row.
std::string backend_line(const OpRow& r, size_t backend) {
  std::string line = "  ";
  line += backend_name(static_cast<Backend>(backend));
  line.resize(13, ' ');
  const void* set = r.kernel_sets[backend];
  if (!set) return line + "none\n";
  bool first = true;
  for (const auto& k : r.list_kernels(set)) {
    append(line, {first ? "" : ", ", k.pass, " ", k.function});
    first = false;
  }
  return line + "\n";
}
}  // namespace

std::string format_op_table() {
#ifdef GB_WITH_CUDA
  const char* build = "this build has the CUDA backend";
#else
  const char* build = "this build has no CUDA backend: every cuda entry is none";
#endif
  std::string out = std::to_string(kOpCount);
  append(out, {" ops; kernels per backend: reference (kernels/ref), cpu (kernels/cpu), cuda "
               "(kernels/cuda); ",
               build, "\n"});
  for (const OpRow& r : op_table()) {
    append(out, {r.name, r.is_view ? "  (view: no kernels)" : "", "\n  backward   ", r.backward,
                 "\n  files      ", r.files, "\n  dtypes     ", dtype_set_name(r.dtypes)});
    if (r.thread_dependent_grads) {
      out += "; fast CPU gradients that may change with the thread count: inputs";
      for (uint32_t i = 0; i < 32; ++i) {
        if ((r.thread_dependent_grads >> i) & 1u) append(out, {" ", std::to_string(i)});
      }
    }
    out += "\n";
    if (r.is_view) continue;
    for (size_t b = 0; b < kBackendCount; ++b) out += backend_line(r, b);
  }
  return out;
}

CpuKernelMode cpu_kernel_mode() { return t_cpu_mode; }
CpuKernelModeGuard::CpuKernelModeGuard(CpuKernelMode mode) : prev_(t_cpu_mode) {
  t_cpu_mode = mode;
}
CpuKernelModeGuard::~CpuKernelModeGuard() { t_cpu_mode = prev_; }

Backend backend_for(DeviceType device) {
  if (device == DeviceType::Cuda) return Backend::Cuda;
  return t_cpu_mode == CpuKernelMode::Fast ? Backend::CpuFast : Backend::Reference;
}

bool supports(OpId op, DeviceType device, DType dtype) {
  const OpRow& r = op_row(op);
  if (!(r.dtypes & dtype_bit(dtype))) return false;
  return r.is_view || r.kernel_sets[static_cast<size_t>(backend_for(device))] != nullptr;
}

void require_kernel(OpId op, DeviceType device, DType dtype) {
  if (!supports(op, device, dtype)) throw_no_kernel(op, device, dtype);
}

namespace detail {
const void* kernel_set(OpId op, DeviceType device) {
  const Backend backend = backend_for(device);
  const void* set = op_row(op).kernel_sets[static_cast<size_t>(backend)];
  if (!set) throw_no_kernel(op, device, DType::F32);
  if (t_dispatch_log) t_dispatch_log->note(op, backend);
  return set;
}
}  // namespace detail

DispatchLog::DispatchLog() : prev_(t_dispatch_log) { t_dispatch_log = this; }
DispatchLog::~DispatchLog() { t_dispatch_log = prev_; }
bool DispatchLog::saw(OpId op, Backend backend) const {
  for (const auto& r : records_) {
    if (r.op == op && r.backend == backend) return true;
  }
  return false;
}

ReluRule relu_backward_rule() { return t_relu_rule; }
ReluRuleGuard::ReluRuleGuard(ReluRule rule) : prev_(t_relu_rule) { t_relu_rule = rule; }
ReluRuleGuard::~ReluRuleGuard() { t_relu_rule = prev_; }

kernels::ActGrad act_grad_rule(bool relu) {
  if (!relu) return kernels::ActGrad::Identity;
  switch (t_relu_rule) {
    case ReluRule::Standard:
      return kernels::ActGrad::Relu;
    case ReluRule::Guided:
      return kernels::ActGrad::Guided;
    case ReluRule::Deconv:
      return kernels::ActGrad::Deconv;
  }
  return kernels::ActGrad::Relu;
}

}  // namespace gb
