// Losses and penalties beyond plain cross-entropy: knowledge distillation (a student trained on a
// teacher's softened outputs) and the network-slimming L1 penalty on BatchNorm scales, applied
// as a subgradient between backward and the optimizer step.
// Shape letters: N batch, K classes.
#pragma once

#include "runtime/module.h"
#include "runtime/tensor.h"

namespace gb::training {

// Network slimming (Liu et al. 2017): adds lambda * sign(gamma) to the gradient of every
// BatchNorm2d scale that has one. Call between backward() and the optimizer step.
void add_bn_l1_subgradient(Module& model, float lambda);

// Knowledge distillation (Hinton et al. 2015), mean over the batch:
//   alpha * T^2 * KL(softmax(teacher / T) || softmax(student / T)) + (1 - alpha) * CE(student, y)
// student [N,K] (differentiable), teacher [N,K] (treated as constant), labels I64 [N].
// requires: T > 0, alpha in [0,1], equal shapes. throws: std::invalid_argument otherwise.
Tensor distillation_loss(const Tensor& student, const Tensor& teacher, const Tensor& labels,
                         float temperature, float alpha);

}  // namespace gb::training
