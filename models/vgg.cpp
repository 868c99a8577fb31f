// VGG-11 and VGG-16 with batch norm (registry names "vgg11", "vgg16"), sized for 32x32 inputs as
// in kuangliu/pytorch-cifar: the standard configurations (A and D) of 3x3 convs (with bias, as in
// torchvision) each followed by BN and ReLU, 2x2 max-pools, then global average pooling and a
// single linear layer 512 -> num_classes (no hidden fully connected layers or dropout).
// Children as torchvision's vgg*_bn: features.0 (conv), features.1 (BN), features.2 (ReLU), ...,
// avgpool, classifier.0 (linear). A max-pool that would see a 1x1 map (the fifth, for 28x28
// inputs: 28 -> 14 -> 7 -> 3 -> 1) is an Identity, so indices and weights are the same for any
// image size. Parameters at the defaults: vgg11 9,231,114; vgg16 14,728,266.
// Shape letters: N batch, C channels, H/W height/width, K output channels.
#include <memory>
#include <vector>

#include "models/builders.h"
#include "models/chain.h"
#include "runtime/layers.h"

namespace gb::models {
namespace {

constexpr int64_t kPool = 0;  // marks a max-pool in a configuration

ModulePtr make_vgg(const std::string& name, const std::vector<int64_t>& layers,
                   const ModelConfig& cfg) {
  cfg.validate();
  ChannelPlan plan(cfg);
  auto features = std::make_shared<nn::Sequential>();
  int64_t c = cfg.in_channels;
  int64_t hw = cfg.image_size;
  for (const int64_t k_nominal : layers) {
    const std::string idx = std::to_string(features->size());
    if (k_nominal == kPool) {
      if (hw >= 2) {
        features->push_back(std::make_shared<nn::MaxPool2d>(2, 2));
        hw /= 2;
      } else {
        features->push_back(std::make_shared<nn::Identity>());
      }
      continue;
    }
    const int64_t k = plan.out("features." + idx, k_nominal);
    features->push_back(std::make_shared<nn::Conv2d>(c, k, 3, 1, 1, 1, /*bias=*/true));
    features->push_back(std::make_shared<nn::BatchNorm2d>(k));
    features->push_back(std::make_shared<nn::ReLU>());
    c = k;
  }
  auto net = std::make_shared<Chain>("VGG");
  net->add("features", features);
  net->add("avgpool", std::make_shared<nn::GlobalAvgPool>());
  auto classifier = std::make_shared<nn::Sequential>();
  classifier->push_back(std::make_shared<nn::Linear>(c, cfg.num_classes));
  net->add("classifier", classifier);
  plan.check_all_used(name);
  return net;
}

}  // namespace

ModulePtr build_vgg11(const ModelConfig& cfg) {
  return make_vgg("vgg11", {64, kPool, 128, kPool, 256, 256, kPool, 512, 512, kPool, 512, 512,
                            kPool}, cfg);
}

ModulePtr build_vgg16(const ModelConfig& cfg) {
  return make_vgg("vgg16", {64, 64, kPool, 128, 128, kPool, 256, 256, 256, kPool, 512, 512, 512,
                            kPool, 512, 512, 512, kPool}, cfg);
}

}  // namespace gb::models
