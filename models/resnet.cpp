// BasicBlock and the generic stem + stages + pool + linear ResNet builder (see resnet.h).
#include "models/resnet.h"

#include <memory>
#include <stdexcept>

#include "models/chain.h"
#include "runtime/fusion.h"
#include "runtime/layers.h"
#include "runtime/ops.h"

namespace gb::models {

BasicBlock::BasicBlock(int64_t in_channels, int64_t mid_channels, int64_t out_channels,
                       int64_t stride, bool projection)
    : in_channels(in_channels),
      mid_channels(mid_channels),
      out_channels(out_channels),
      stride(stride),
      projection(projection) {
  if (!projection && (in_channels != out_channels || stride != 1)) {
    throw std::invalid_argument(
        "BasicBlock: an identity shortcut needs in == out channels and "
        "stride 1, got " +
        std::to_string(in_channels) + "->" + std::to_string(out_channels) + " s" +
        std::to_string(stride));
  }
  register_module("conv1", std::make_shared<nn::Conv2d>(in_channels, mid_channels, 3, stride, 1));
  register_module("bn1", std::make_shared<nn::BatchNorm2d>(mid_channels));
  register_module("conv2", std::make_shared<nn::Conv2d>(mid_channels, out_channels, 3, 1, 1));
  register_module("bn2", std::make_shared<nn::BatchNorm2d>(out_channels));
  auto shortcut = std::make_shared<nn::Sequential>();
  if (projection) {
    shortcut->push_back(std::make_shared<nn::Conv2d>(in_channels, out_channels, 1, stride, 0));
    shortcut->push_back(std::make_shared<nn::BatchNorm2d>(out_channels));
  }
  register_module("shortcut", shortcut);
}

Tensor BasicBlock::forward(const Tensor& x) {
  // Inference: conv+BN+ReLU, and conv+BN+shortcut+ReLU, each as one conv2d_fused op
  // (runtime/fusion.h).
  Module *conv1 = find("conv1"), *bn1 = find("bn1"), *conv2 = find("conv2"), *bn2 = find("bn2");
  if (conv1 && bn1 && conv2 && bn2 && nn::can_fuse_conv_bn(*conv1, *bn1) &&
      nn::can_fuse_conv_bn(*conv2, *bn2)) {
    const Tensor h = nn::fused_conv_bn(*conv1, *bn1, x, Tensor(), true);
    return nn::fused_conv_bn(*conv2, *bn2, h, call_child(*this, "shortcut", x), true);
  }
  // Training: BN+ReLU, and BN+shortcut+ReLU, each as one batch_norm_act op.
  if (conv1 && bn1 && conv2 && bn2 && nn::can_fuse_bn_act(*bn1) && nn::can_fuse_bn_act(*bn2)) {
    const Tensor h = nn::fused_bn_act(*bn1, (*conv1)(x), Tensor(), true);
    const Tensor y = (*conv2)(h);
    return nn::fused_bn_act(*bn2, y, call_child(*this, "shortcut", x), true);
  }
  Tensor h = ops::relu(call_child(*this, "bn1", call_child(*this, "conv1", x)));
  h = call_child(*this, "bn2", call_child(*this, "conv2", h));
  return ops::relu(ops::add(h, call_child(*this, "shortcut", x)));
}

std::string BasicBlock::describe() const {
  std::string s = std::to_string(in_channels) + "->" + std::to_string(out_channels);
  if (mid_channels != out_channels) s += " (mid " + std::to_string(mid_channels) + ")";
  s += " s" + std::to_string(stride);
  if (projection) s += " projection";
  return s;
}

ModulePtr make_resnet(const ResNetSpec& spec, const ModelConfig& cfg) {
  cfg.validate();
  const size_t stages = spec.stage_channels.size();
  if (spec.blocks.size() != stages || spec.strides.size() != stages) {
    throw std::logic_error("make_resnet(" + spec.name + "): stage lists differ in length");
  }
  ChannelPlan plan(cfg);
  auto net = std::make_shared<Chain>("ResNet");
  int64_t c = plan.out("conv1", spec.stem_channels);
  net->add("conv1", std::make_shared<nn::Conv2d>(cfg.in_channels, c, 3, 1, 1));
  net->add("bn1", std::make_shared<nn::BatchNorm2d>(c));
  net->add("relu", std::make_shared<nn::ReLU>());
  int64_t nominal_c = spec.stem_channels;
  for (size_t s = 0; s < stages; ++s) {
    const std::string layer = "layer" + std::to_string(s + 1);
    auto seq = std::make_shared<nn::Sequential>();
    for (int64_t b = 0; b < spec.blocks[s]; ++b) {
      const std::string p = layer + "." + std::to_string(b);
      const int64_t stride = b == 0 ? spec.strides[s] : 1;
      const int64_t nominal_k = spec.stage_channels[s];
      const bool projection = stride != 1 || nominal_c != nominal_k;
      const int64_t mid = plan.out(p + ".conv1", nominal_k);
      const int64_t k = plan.out(p + ".conv2", nominal_k);
      if (projection) {
        const int64_t ks = plan.out(p + ".shortcut.0", nominal_k);
        if (ks != k) {
          throw std::invalid_argument("model '" + spec.name + "': " + p + ".conv2 has " +
                                      std::to_string(k) + " channels but " + p +
                                      ".shortcut.0 has " + std::to_string(ks) +
                                      "; the residual add needs them equal");
        }
      } else if (c != k) {
        throw std::invalid_argument("model '" + spec.name + "': " + p +
                                    " has an identity shortcut but its input has " +
                                    std::to_string(c) + " channels and " + p + ".conv2 has " +
                                    std::to_string(k) + "; the residual add needs them equal");
      }
      seq->push_back(std::make_shared<BasicBlock>(c, mid, k, stride, projection));
      c = k;
      nominal_c = nominal_k;
    }
    net->add(layer, seq);
  }
  net->add("avgpool", std::make_shared<nn::GlobalAvgPool>());
  net->add("fc", std::make_shared<nn::Linear>(c, cfg.num_classes));
  plan.check_all_used(spec.name);
  return net;
}

}  // namespace gb::models
