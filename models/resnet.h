// ResNet pieces shared by the CIFAR ResNets (resnet20/32/56) and ResNet-18: the BasicBlock and a
// builder for a stem + stages + global-pool + linear network. Names follow the PyTorch CIFAR
// reimplementations: conv1, bn1, layer1.0.conv1, layer1.0.shortcut.0, fc.
// Shape letters: N batch, C input channels, H/W height/width, K output channels.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "models/model_config.h"
#include "runtime/module.h"

namespace gb::models {

// out = relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut(x)), [N,C,H,W] -> [N,K,H/s,W/s].
// conv1 is 3x3 stride s (C -> M), conv2 3x3 stride 1 (M -> K). The shortcut child is an empty
// Sequential (identity; requires C == K and s == 1) or, with `projection`, Sequential(1x1 conv
// stride s, BN) ("option B"). The ReLUs are op calls, not children, so the parameter names match
// PyTorch; a forward hook on the block itself sees the block output (after the final ReLU).
class BasicBlock : public Module {
 public:
  BasicBlock(int64_t in_channels, int64_t mid_channels, int64_t out_channels, int64_t stride,
             bool projection);
  Tensor forward(const Tensor& x) override;
  std::string type_name() const override { return "BasicBlock"; }
  std::string describe() const override;
  int64_t in_channels, mid_channels, out_channels, stride;
  bool projection;
};

struct ResNetSpec {
  std::string name;                     // registry name, for error messages
  int64_t stem_channels;                // 3x3 stride-1 stem conv width (before cfg.width)
  std::vector<int64_t> stage_channels;  // K per stage (before cfg.width)
  std::vector<int64_t> blocks;          // BasicBlocks per stage
  std::vector<int64_t> strides;         // stride of each stage's first block
};

// Root children: conv1, bn1, relu, layer1..layerS (Sequential of BasicBlocks), avgpool
// (GlobalAvgPool), fc. [N,C,H,W] -> [N,num_classes]. Any H, W >= 1 works (global pooling).
// A block gets a projection shortcut where its nominal (un-overridden) C != K or stride != 1.
ModulePtr make_resnet(const ResNetSpec& spec, const ModelConfig& cfg);

}  // namespace gb::models
