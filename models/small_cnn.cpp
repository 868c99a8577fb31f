// "smallcnn": a small, fast CNN for quick tests and Fashion-MNIST (1x28x28) or CIFAR (3x32x32):
// features = conv3x3(32)-BN-ReLU, conv3x3(64)-BN-ReLU, maxpool2, conv3x3(128)-BN-ReLU, maxpool2;
// then avgpool (global) and fc 128 -> num_classes. Convs have no bias (BN follows).
// Children: features.0 .. features.10, avgpool, fc.
// Parameters at the defaults: 94,762 (3 input channels), 94,186 (1 input channel).
// Shape letters: N batch, C channels, H/W height/width, K output channels.
#include <memory>

#include "models/builders.h"
#include "models/chain.h"
#include "runtime/layers.h"

namespace gb::models {

ModulePtr build_small_cnn(const ModelConfig& cfg) {
  cfg.validate();
  ChannelPlan plan(cfg);
  auto features = std::make_shared<nn::Sequential>();
  int64_t c = cfg.in_channels;
  int64_t hw = cfg.image_size;
  const auto conv_bn_relu = [&](int64_t k_nominal) {
    const int64_t k = plan.out("features." + std::to_string(features->size()), k_nominal);
    features->push_back(std::make_shared<nn::Conv2d>(c, k, 3, 1, 1));
    features->push_back(std::make_shared<nn::BatchNorm2d>(k));
    features->push_back(std::make_shared<nn::ReLU>());
    c = k;
  };
  const auto pool = [&] {
    if (hw >= 2) {
      features->push_back(std::make_shared<nn::MaxPool2d>(2, 2));
      hw /= 2;
    } else {
      features->push_back(std::make_shared<nn::Identity>());
    }
  };
  conv_bn_relu(32);
  conv_bn_relu(64);
  pool();
  conv_bn_relu(128);
  pool();
  auto net = std::make_shared<Chain>("SmallCNN");
  net->add("features", features);
  net->add("avgpool", std::make_shared<nn::GlobalAvgPool>());
  net->add("fc", std::make_shared<nn::Linear>(c, cfg.num_classes));
  plan.check_all_used("smallcnn");
  return net;
}

}  // namespace gb::models
