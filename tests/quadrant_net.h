// A hand-built network whose attributions are known, shared by the perturbation and metric
// suites: a 16x16 stride-16 conv of constant weights gives the four quadrant means of a 3x32x32
// image (top-left, top-right, bottom-left, bottom-right), and a linear layer [2,4] (no bias)
// maps them to two logits. Shape letters: none beyond the fixed sizes above.
#pragma once
#include <memory>
#include <vector>

#include "runtime/layers.h"
#include "runtime/tensor.h"

namespace gb::testing {

// Logit k = sum_q fc_weight[k * 4 + q] * mean of quadrant q. The default: logit 0 = mean of the
// top-left quadrant, logit 1 = 0.
inline std::shared_ptr<gb::nn::Sequential> quadrant_net(const std::vector<float>& fc_weight = {
                                                            1, 0, 0, 0, 0, 0, 0, 0}) {
  auto net = std::make_shared<gb::nn::Sequential>();
  auto conv = std::make_shared<gb::nn::Conv2d>(3, 1, 16, 16);
  auto fc = std::make_shared<gb::nn::Linear>(4, 2);
  net->push_back(conv);
  net->push_back(std::make_shared<gb::nn::Flatten>());
  net->push_back(fc);
  conv->local_tensor("weight").fill_(1.0f / (3 * 16 * 16));
  fc->local_tensor("weight").copy_(gb::Tensor::from_vector({2, 4}, fc_weight));
  fc->local_tensor("bias").fill_(0.0f);
  return net;
}

}  // namespace gb::testing
