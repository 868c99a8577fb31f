// ResNet-18, CIFAR variant (as in kuangliu/pytorch-cifar): a 3x3 stride-1 stem conv of 64 with
// no max-pool, four stages of two BasicBlocks with 64/128/256/512 channels and strides 1, 2, 2, 2,
// option-B (1x1 conv + BN) shortcuts where the shape changes, global average pool, linear.
// Parameters at the defaults (10 classes): 11,173,962.
#include "models/builders.h"
#include "models/resnet.h"

namespace gb::models {

ModulePtr build_resnet18(const ModelConfig& cfg) {
  return make_resnet({"resnet18", 64, {64, 128, 256, 512}, {2, 2, 2, 2}, {1, 2, 2, 2}}, cfg);
}

}  // namespace gb::models
