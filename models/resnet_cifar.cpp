// ResNet-20/32/56, the CIFAR ResNets of He et al. 2016 (section 4.2): a 3x3 stem conv of 16,
// three stages of n BasicBlocks (n = 3, 5, 9) with 16/32/64 channels, stride 2 at the first
// block of stages 2 and 3, global average pooling and a linear layer. Downsampling shortcuts are
// option B (1x1 conv stride 2 + BN), as in most PyTorch CIFAR reimplementations used for
// pruning; the paper's option A (zero-padding) has 2,752 fewer parameters.
// Parameters at the defaults: resnet20 272,474; resnet32 466,906; resnet56 855,770.
#include "models/builders.h"
#include "models/resnet.h"

namespace gb::models {
namespace {
ModulePtr resnet_cifar(const std::string& name, int64_t n, const ModelConfig& cfg) {
  return make_resnet({name, 16, {16, 32, 64}, {n, n, n}, {1, 2, 2}}, cfg);
}
}  // namespace

ModulePtr build_resnet20(const ModelConfig& cfg) { return resnet_cifar("resnet20", 3, cfg); }
ModulePtr build_resnet32(const ModelConfig& cfg) { return resnet_cifar("resnet32", 5, cfg); }
ModulePtr build_resnet56(const ModelConfig& cfg) { return resnet_cifar("resnet56", 9, cfg); }

}  // namespace gb::models
