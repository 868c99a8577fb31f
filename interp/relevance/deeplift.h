// DeepLIFT with the rescale rule (Shrikumar, Greenside, Kundaje, ICML 2017), as Captum 0.6
// implements it (captum/attr/_core/deep_lift.py: nonlinear() and maxpool()), on the relevance
// graph (relevance_graph.h) of one trace of cat([x, x0]) (eval mode: the halves are independent).
// Multipliers m start at one-hot(t) on the explained scores; affine ops (conv, linear, folded
// batch norm, add/sub, average pools, mean/sum, shape ops) pass m back by their own gradient;
// pointwise nonlinearities use m_in = m_out * (y - y0) / (x - x0), falling back to the gradient
// at x where |x - x0| < 1e-10 (Captum's eps); max pooling uses Captum's rule with the argmax of
// each half. Attribution = (x - x0) * m_x; summation-to-delta: sum = f_t(x) - f_t(x0).
// Departure from Captum: Captum rescales only the modules it hooks (ReLU, ELU, LeakyReLU,
// Sigmoid, Tanh, Softplus, max pools, Softmax) and passes the plain gradient through others
// (GELU, ReLU6/Hardtanh, Hardswish, Hardsigmoid, PReLU); glassbox rescales every pointwise op,
// so summation-to-delta also holds on those models. A final softmax is skipped (the logits are
// explained), where Captum would rescale it.
// Shape letters: N batch, C channels, H/W image size, K classes.
#pragma once
#include <vector>

#include "interp/target.h"
#include "runtime/module.h"

namespace gb::interp::relevance {

struct DeepLiftResult {
  Tensor attr;                   // [N,C,H,W]
  std::vector<int64_t> targets;  // [N]
  std::vector<double> delta;     // f_t(x) - f_t(x0) per sample
  std::vector<double> attr_sum;  // sum of attr per sample
  // max over samples of |attr_sum - delta| / |delta|
  double max_relative_error() const;
};

// requires: x and baseline [N,C,H,W] of the same shape, F32, on the CPU.
// throws: std::invalid_argument for mismatched shapes, a CUDA input, or naming the op and module
// without a rule (relevance_graph.h).
DeepLiftResult deeplift(Module& model, const Tensor& x, const Tensor& baseline,
                        const Target& target);

}  // namespace gb::interp::relevance
