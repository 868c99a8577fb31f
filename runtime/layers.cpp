// Standard layer implementations and their PyTorch-style parameter initialisation.
#include "runtime/layers.h"

#include <cmath>

#include "runtime/fusion.h"
#include "runtime/rng.h"

namespace gb::nn {

Conv2d::Conv2d(int64_t in_channels, int64_t out_channels, int64_t kernel, int64_t stride,
               int64_t padding, int64_t groups, bool bias)
    : in_channels(in_channels),
      out_channels(out_channels),
      kernel(kernel),
      stride(stride),
      padding(padding),
      groups(groups),
      kernel_w(kernel),
      options(stride, padding, groups) {
  // Kaiming normal, fan_out, ReLU gain (torchvision's ResNet initialisation).
  const float stddev =
      std::sqrt(2.0f / static_cast<float>(out_channels / groups * kernel * kernel));
  register_parameter("weight", Tensor::randn({out_channels, in_channels / groups, kernel, kernel},
                                             init_generator(), stddev));
  if (bias) register_parameter("bias", Tensor::zeros({out_channels}));
}

Conv2d::Conv2d(int64_t in_channels, int64_t out_channels, int64_t kernel_h, int64_t kernel_w,
               const ops::Conv2dOptions& opt, bool bias)
    : in_channels(in_channels),
      out_channels(out_channels),
      kernel(kernel_h),
      stride(opt.stride_h),
      padding(opt.pad_h),
      groups(opt.groups),
      kernel_w(kernel_w),
      options(opt) {
  const float stddev =
      std::sqrt(2.0f / static_cast<float>(out_channels / groups * kernel_h * kernel_w));
  register_parameter("weight",
                     Tensor::randn({out_channels, in_channels / groups, kernel_h, kernel_w},
                                   init_generator(), stddev));
  if (bias) register_parameter("bias", Tensor::zeros({out_channels}));
}

bool Conv2d::square() const {
  const ops::Conv2dOptions& o = options;
  return kernel == kernel_w && o.stride_h == o.stride_w && o.pad_h == o.pad_w &&
         o.dilation_h == 1 && o.dilation_w == 1;
}

Tensor Conv2d::forward(const Tensor& x) {
  return ops::conv2d(x, local_tensor("weight"), local_tensor("bias"), options);
}

std::string Conv2d::describe() const {
  const ops::Conv2dOptions& o = options;
  auto hw = [](int64_t h, int64_t w) {
    return h == w ? std::to_string(h) : std::to_string(h) + "x" + std::to_string(w);
  };
  std::string s = std::to_string(in_channels) + "->" + std::to_string(out_channels) + " k" +
                  hw(kernel, kernel_w) + " s" + hw(o.stride_h, o.stride_w) + " p" +
                  hw(o.pad_h, o.pad_w);
  if (o.dilation_h != 1 || o.dilation_w != 1) s += " d" + hw(o.dilation_h, o.dilation_w);
  if (groups != 1) s += " g" + std::to_string(groups);
  return s;
}

ConvTranspose2d::ConvTranspose2d(int64_t in_channels, int64_t out_channels, int64_t kernel_h,
                                 int64_t kernel_w, const ops::ConvTranspose2dOptions& opt,
                                 bool bias)
    : in_channels(in_channels),
      out_channels(out_channels),
      kernel_h(kernel_h),
      kernel_w(kernel_w),
      options(opt) {
  // PyTorch's default: U(-1/sqrt(fan_in), 1/sqrt(fan_in)), fan_in = out/groups * kh * kw.
  const float bound =
      1.0f / std::sqrt(static_cast<float>(out_channels / opt.groups * kernel_h * kernel_w));
  register_parameter("weight",
                     Tensor::uniform({in_channels, out_channels / opt.groups, kernel_h, kernel_w},
                                     init_generator(), -bound, bound));
  if (bias) {
    register_parameter("bias", Tensor::uniform({out_channels}, init_generator(), -bound, bound));
  }
}

Tensor ConvTranspose2d::forward(const Tensor& x) {
  return ops::conv_transpose2d(x, local_tensor("weight"), local_tensor("bias"), options);
}

std::string ConvTranspose2d::describe() const {
  const auto& o = options;
  std::string s = std::to_string(in_channels) + "->" + std::to_string(out_channels) + " k" +
                  std::to_string(kernel_h) + "x" + std::to_string(kernel_w) + " s" +
                  std::to_string(o.stride_h) + "x" + std::to_string(o.stride_w) + " p" +
                  std::to_string(o.pad_h) + "x" + std::to_string(o.pad_w);
  if (o.output_padding_h || o.output_padding_w) {
    s += " op" + std::to_string(o.output_padding_h) + "x" + std::to_string(o.output_padding_w);
  }
  if (o.groups != 1) s += " g" + std::to_string(o.groups);
  return s;
}

Linear::Linear(int64_t in_features, int64_t out_features, bool bias)
    : in_features(in_features), out_features(out_features) {
  const float bound = 1.0f / std::sqrt(static_cast<float>(in_features));
  register_parameter("weight",
                     Tensor::uniform({out_features, in_features}, init_generator(), -bound, bound));
  if (bias) {
    register_parameter("bias", Tensor::uniform({out_features}, init_generator(), -bound, bound));
  }
}

Tensor Linear::forward(const Tensor& x) {
  return ops::linear(x, local_tensor("weight"), local_tensor("bias"));
}

std::string Linear::describe() const {
  return std::to_string(in_features) + "->" + std::to_string(out_features);
}

LayerNorm::LayerNorm(int64_t features, float eps) : features(features), eps(eps) {
  register_parameter("weight", Tensor::ones({features}));
  register_parameter("bias", Tensor::zeros({features}));
}

Tensor LayerNorm::forward(const Tensor& x) {
  return ops::layer_norm(x, local_tensor("weight"), local_tensor("bias"), eps);
}

BatchNorm2d::BatchNorm2d(int64_t channels, float momentum, float eps)
    : channels(channels), momentum(momentum), eps(eps) {
  register_parameter("weight", Tensor::ones({channels}));
  register_parameter("bias", Tensor::zeros({channels}));
  register_buffer("running_mean", Tensor::zeros({channels}));
  register_buffer("running_var", Tensor::ones({channels}));
  register_buffer("num_batches_tracked", Tensor::zeros({}, DType::I64));
}

namespace {
BatchNormSync& sync_setting() {
  thread_local BatchNormSync sync;  // per thread: the tests run ranks as threads
  return sync;
}
}  // namespace

void set_batch_norm_sync(const BatchNormSync& sync) { sync_setting() = sync; }
const BatchNormSync& batch_norm_sync() { return sync_setting(); }

Tensor BatchNorm2d::forward(const Tensor& x) {
  if (is_training()) {
    Tensor nbt = local_tensor("num_batches_tracked");
    nbt.data<int64_t>()[0] += 1;
    const BatchNormSync& sync = batch_norm_sync();
    if (sync.group) {
      return ops::batch_norm_synced(x, local_tensor("weight"), local_tensor("bias"),
                                    local_tensor("running_mean"), local_tensor("running_var"),
                                    momentum, eps, *sync.group, sync.local_weight);
    }
  }
  return ops::batch_norm(x, local_tensor("weight"), local_tensor("bias"),
                         local_tensor("running_mean"), local_tensor("running_var"), is_training(),
                         momentum, eps);
}

Tensor Dropout::forward(const Tensor& x) {
  return ops::dropout(x, p, is_training(), dropout_generator());
}

Sequential::Sequential(std::vector<ModulePtr> layers) {
  for (auto& l : layers) push_back(std::move(l));
}

void Sequential::push_back(ModulePtr m) {
  register_module(std::to_string(children().size()), std::move(m));
}

Tensor Sequential::forward(const Tensor& x) { return forward_children_fused(*this, x); }

}  // namespace gb::nn
