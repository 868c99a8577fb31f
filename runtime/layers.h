// The standard layers: Conv2d, ConvTranspose2d, Linear, BatchNorm2d, LayerNorm, activations,
// Softmax, pooling, Flatten, Dropout, Identity and Sequential (the transformer blocks are in
// runtime/transformer.h). Parameter names and initialisation follow PyTorch's conventions
// (conv: Kaiming-normal fan_out as in torchvision's ResNets; linear: U(-1/sqrt(I), 1/sqrt(I))).
// Shape letters: N, C, H, W input; K output channels; R, S kernel size; D features (last dim).
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "runtime/module.h"
#include "runtime/ops.h"

namespace gb::nn {

class Conv2d : public Module {
 public:
  Conv2d(int64_t in_channels, int64_t out_channels, int64_t kernel, int64_t stride = 1,
         int64_t padding = 0, int64_t groups = 1, bool bias = false);
  // Any kernel size, per-axis stride, padding and dilation (imported models).
  Conv2d(int64_t in_channels, int64_t out_channels, int64_t kernel_h, int64_t kernel_w,
         const ops::Conv2dOptions& opt, bool bias);
  Tensor forward(const Tensor& x) override;
  std::string type_name() const override { return "Conv2d"; }
  std::string describe() const override;
  // True for a square kernel with the same stride and padding on both axes and no dilation:
  // then kernel, stride and padding describe the layer alone.
  bool square() const;
  // kernel, stride and padding: along H (and W when square()).
  int64_t in_channels, out_channels, kernel, stride, padding, groups;
  int64_t kernel_w;
  ops::Conv2dOptions options;  // what forward runs
};

// Transposed convolution: weight [in, out/groups, kernel_h, kernel_w] (PyTorch's layout), bias
// [out] when `bias`; options as ops::conv_transpose2d.
class ConvTranspose2d : public Module {
 public:
  ConvTranspose2d(int64_t in_channels, int64_t out_channels, int64_t kernel_h, int64_t kernel_w,
                  const ops::ConvTranspose2dOptions& opt, bool bias);
  Tensor forward(const Tensor& x) override;
  std::string type_name() const override { return "ConvTranspose2d"; }
  std::string describe() const override;
  int64_t in_channels, out_channels, kernel_h, kernel_w;
  ops::ConvTranspose2dOptions options;
};

// Input [..., in_features] (rank >= 2: [N,I] or tokens [N,T,I]) -> [..., out_features].
class Linear : public Module {
 public:
  Linear(int64_t in_features, int64_t out_features, bool bias = true);
  Tensor forward(const Tensor& x) override;
  std::string type_name() const override { return "Linear"; }
  std::string describe() const override;
  int64_t in_features, out_features;
};

// Synced batch norm for data-parallel training (--sync-bn): while `group` is set, every
// training-mode BatchNorm2d (and the fused batch_norm_act path, runtime/fusion.h) computes its
// statistics over the group's global batch with ops::batch_norm_synced, this rank's share of the
// global loss being `local_weight`. The trainer sets it for each step, for the calling thread;
// default: off (group null, each process normalises with its own batch).
struct BatchNormSync {
  ProcessGroup* group = nullptr;
  float local_weight = 1.0f;
};
void set_batch_norm_sync(const BatchNormSync& sync);
const BatchNormSync& batch_norm_sync();

class BatchNorm2d : public Module {
 public:
  explicit BatchNorm2d(int64_t channels, float momentum = 0.1f, float eps = 1e-5f);
  Tensor forward(const Tensor& x) override;
  std::string type_name() const override { return "BatchNorm2d"; }
  std::string describe() const override { return std::to_string(channels); }
  int64_t channels;
  float momentum, eps;
};

// nn.LayerNorm(D) over the last dimension: weight [D] (ones), bias [D] (zeros), eps.
class LayerNorm : public Module {
 public:
  explicit LayerNorm(int64_t features, float eps = 1e-5f);
  Tensor forward(const Tensor& x) override;
  std::string type_name() const override { return "LayerNorm"; }
  std::string describe() const override { return std::to_string(features); }
  int64_t features;
  float eps;
};

class ReLU : public Module {
 public:
  Tensor forward(const Tensor& x) override { return ops::relu(x); }
  std::string type_name() const override { return "ReLU"; }
};

class GELU : public Module {
 public:
  Tensor forward(const Tensor& x) override { return ops::gelu(x); }
  std::string type_name() const override { return "GELU"; }
};

// Softmax over the last dimension, as a module of its own so that hooks can read (and gb::grad
// differentiate with respect to) its output: a transformer's attention probabilities.
class Softmax : public Module {
 public:
  Tensor forward(const Tensor& x) override { return ops::softmax(x); }
  std::string type_name() const override { return "Softmax"; }
};

class MaxPool2d : public Module {
 public:
  explicit MaxPool2d(int64_t kernel, int64_t stride = 0, int64_t padding = 0)
      : kernel(kernel), stride(stride), padding(padding) {}
  Tensor forward(const Tensor& x) override { return ops::max_pool2d(x, kernel, stride, padding); }
  std::string type_name() const override { return "MaxPool2d"; }
  int64_t kernel, stride, padding;
};

class AvgPool2d : public Module {
 public:
  explicit AvgPool2d(int64_t kernel, int64_t stride = 0, int64_t padding = 0)
      : kernel(kernel), stride(stride), padding(padding) {}
  Tensor forward(const Tensor& x) override { return ops::avg_pool2d(x, kernel, stride, padding); }
  std::string type_name() const override { return "AvgPool2d"; }
  int64_t kernel, stride, padding;
};

// [N,C,H,W] -> [N,C]
class GlobalAvgPool : public Module {
 public:
  Tensor forward(const Tensor& x) override { return ops::global_avg_pool(x); }
  std::string type_name() const override { return "GlobalAvgPool"; }
};

class Flatten : public Module {
 public:
  Tensor forward(const Tensor& x) override { return ops::flatten(x, 1); }
  std::string type_name() const override { return "Flatten"; }
};

class Dropout : public Module {
 public:
  explicit Dropout(float p) : p(p) {}
  Tensor forward(const Tensor& x) override;
  std::string type_name() const override { return "Dropout"; }
  float p;
};

class Identity : public Module {
 public:
  Tensor forward(const Tensor& x) override { return x; }
  std::string type_name() const override { return "Identity"; }
};

// Children named "0", "1", ... run in order.
class Sequential : public Module {
 public:
  Sequential() = default;
  explicit Sequential(std::vector<ModulePtr> layers);
  void push_back(ModulePtr m);
  Tensor forward(const Tensor& x) override;
  std::string type_name() const override { return "Sequential"; }
  size_t size() const { return children().size(); }
};

}  // namespace gb::nn
