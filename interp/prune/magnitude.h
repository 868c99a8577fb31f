// Unstructured magnitude pruning: the smallest |w| of conv and linear weights are zeroed, per
// layer (each layer loses the same fraction) or globally (one threshold over all pruned layers).
// The masks stay fixed during fine-tuning: apply() after every optimizer step puts the zeros
// back (momentum and weight decay cannot revive them). Biases and BN are never masked. Dense
// kernels run such a model at the same speed: the gain is in storage (and in sparse kernels,
// which glassbox does not have).
// Shape letters: K output channels, C input channels, R/S kernel size, I/O linear features.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "runtime/module.h"

namespace gb::prune {

struct MagnitudeOptions {
  double sparsity = 0.5;      // fraction of the pruned layers' weights set to zero, in [0,1)
  bool global = false;        // one threshold over all layers; else the fraction per layer
  bool protect_first = true;  // keep the layer reading the input dense
  bool protect_last = true;   // keep the layer producing the output dense
};

// One mask per pruned weight: 1 keeps, 0 removes; tied to this model's tensors.
struct WeightMask {
  std::string param;  // "layer1.0.conv1.weight"
  Tensor weight;      // the model's parameter
  Tensor mask;        // same shape, 0/1
};

struct MaskSet {
  std::vector<WeightMask> masks;
  // weight *= mask for every mask (in place, outside autograd).
  void apply() const;
};

// Masks for the conv and linear weights of `model` (analysed on one image of shape chw to find
// the first and last layers), zeroing exactly floor(sparsity * n) weights (per layer, or over
// all of them with `global`; ties broken by position). Does not change the model: call apply().
// throws: std::invalid_argument for a sparsity outside [0,1) or a model with no prunable layer.
MaskSet magnitude_masks(Module& model, const Shape& chw, const MagnitudeOptions& opt);

struct LayerSparsity {
  std::string param;
  int64_t numel = 0, zeros = 0;
  double sparsity() const {
    return numel ? static_cast<double>(zeros) / static_cast<double>(numel) : 0.0;
  }
};

// Zeros per conv and linear weight of `model`, in module order.
std::vector<LayerSparsity> weight_sparsity(Module& model);

}  // namespace gb::prune
