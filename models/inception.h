// The inception block of the "inception" model (GoogLeNet scaled to 32x32, as in
// kuangliu/pytorch-cifar). Four branches on the same input, concatenated along channels:
//   b1: 1x1 conv -> BN -> ReLU                                        (b1.0 .. b1.2)
//   b2: 1x1 conv -> BN -> ReLU -> 3x3 conv -> BN -> ReLU              (b2.0 .. b2.5)
//   b3: 1x1 conv -> BN -> ReLU -> (3x3 conv -> BN -> ReLU) x 2        (b3.0 .. b3.8)
//   b4: 3x3 max-pool stride 1 pad 1 -> 1x1 conv -> BN -> ReLU         (b4.0 .. b4.3)
// (b3 stands in for GoogLeNet's 5x5 branch with two 3x3 convs.) Convs have bias, as in kuangliu.
// Shape letters: [N,C,H,W] -> [N,K1+K2+K3+K4,H,W].
#pragma once
#include <cstdint>
#include <string>

#include "runtime/module.h"

namespace gb::models {

struct InceptionWidths {
  int64_t b1;        // K1: 1x1 branch
  int64_t b2_red;    // 1x1 reduction before the 3x3 branch
  int64_t b2;        // K2: 3x3 branch
  int64_t b3_red;    // 1x1 reduction before the double-3x3 branch
  int64_t b3_mid;    // output of the first 3x3 conv of that branch (nominally = b3)
  int64_t b3;        // K3: double-3x3 branch
  int64_t b4;        // K4: pool-projection branch
  int64_t out() const { return b1 + b2 + b3 + b4; }
};

class InceptionBlock : public Module {
 public:
  InceptionBlock(int64_t in_channels, const InceptionWidths& w);
  Tensor forward(const Tensor& x) override;
  std::string type_name() const override { return "Inception"; }
  std::string describe() const override;
  int64_t in_channels;
  InceptionWidths widths;
};

}  // namespace gb::models
