// Magnitude masks (per layer or global threshold), applying them, and sparsity per layer.
// Shape letters: K output channels, C input channels, R/S kernel size.
#include "interp/prune/magnitude.h"

#include <algorithm>
#include <cmath>
#include <set>
#include <stdexcept>

#include "interp/prune/channel_graph.h"
#include "runtime/layers.h"

namespace gb::prune {
namespace {

// Conv2d and Linear weights in module order.
std::vector<std::pair<std::string, Tensor>> layer_weights(Module& model) {
  std::vector<std::pair<std::string, Tensor>> out;
  for (auto& [path, m] : model.named_modules()) {
    if (dynamic_cast<nn::Conv2d*>(m) == nullptr && dynamic_cast<nn::Linear*>(m) == nullptr)
      continue;
    Tensor w = m->local_tensor("weight");
    if (w.defined()) out.emplace_back(path.empty() ? "weight" : path + ".weight", w);
  }
  return out;
}

// Zeroes the `count` smallest entries of mag (ties: lower index first) in mask.
void mask_smallest(const std::vector<float>& mag, int64_t count, std::vector<float>& mask) {
  if (count <= 0) return;
  std::vector<float> sorted = mag;
  std::nth_element(sorted.begin(), sorted.begin() + (count - 1), sorted.end());
  const float t = sorted[static_cast<size_t>(count - 1)];
  int64_t below = 0;
  for (float v : mag) below += v < t ? 1 : 0;
  int64_t ties_left = count - below;
  for (size_t i = 0; i < mag.size(); ++i) {
    if (mag[i] < t) {
      mask[i] = 0.0f;
    } else if (mag[i] == t && ties_left > 0) {
      mask[i] = 0.0f;
      --ties_left;
    }
  }
}

}  // namespace

void MaskSet::apply() const {
  for (const auto& m : masks) {
    std::vector<float> w = m.weight.to_vector();
    const std::vector<float> k = m.mask.to_vector();
    for (size_t i = 0; i < w.size(); ++i) w[i] *= k[i];
    Tensor weight = m.weight;  // a handle: writes go to the model's storage
    weight.copy_(Tensor::from_vector(weight.shape(), w));
  }
}

MaskSet magnitude_masks(Module& model, const Shape& chw, const MagnitudeOptions& opt) {
  if (!(opt.sparsity >= 0.0 && opt.sparsity < 1.0)) {
    throw std::invalid_argument("unstructured pruning: sparsity must be in [0,1), got " +
                                std::to_string(opt.sparsity));
  }
  std::set<std::string> protected_layers;
  const ChannelGraph g = analyze_channels(model, chw);
  for (const auto& L : g.layers) {
    if ((opt.protect_first && L.reads_input) || (opt.protect_last && L.is_output)) {
      protected_layers.insert(L.path.empty() ? "weight" : L.path + ".weight");
    }
  }
  MaskSet set;
  std::vector<std::vector<float>> mags;
  for (auto& [name, w] : layer_weights(model)) {
    if (protected_layers.count(name)) continue;
    std::vector<float> mag = w.to_vector();
    for (float& v : mag) v = std::abs(v);
    mags.push_back(std::move(mag));
    set.masks.push_back({name, w, Tensor()});
  }
  if (set.masks.empty()) {
    throw std::invalid_argument(
        "unstructured pruning: the model has no conv or linear weight "
        "left to prune (the first and last layers are protected)");
  }
  std::vector<std::vector<float>> masks(mags.size());
  for (size_t i = 0; i < mags.size(); ++i) masks[i].assign(mags[i].size(), 1.0f);
  if (opt.global) {
    std::vector<float> all;
    for (const auto& m : mags) all.insert(all.end(), m.begin(), m.end());
    std::vector<float> flat(all.size(), 1.0f);
    const auto count =
        static_cast<int64_t>(std::floor(opt.sparsity * static_cast<double>(all.size())));
    mask_smallest(all, count, flat);
    size_t off = 0;
    for (size_t i = 0; i < masks.size(); ++i) {
      std::copy_n(flat.begin() + static_cast<int64_t>(off), masks[i].size(), masks[i].begin());
      off += masks[i].size();
    }
  } else {
    for (size_t i = 0; i < mags.size(); ++i) {
      const auto count =
          static_cast<int64_t>(std::floor(opt.sparsity * static_cast<double>(mags[i].size())));
      mask_smallest(mags[i], count, masks[i]);
    }
  }
  for (size_t i = 0; i < masks.size(); ++i) {
    set.masks[i].mask = Tensor::from_vector(set.masks[i].weight.shape(), masks[i]);
  }
  return set;
}

std::vector<LayerSparsity> weight_sparsity(Module& model) {
  std::vector<LayerSparsity> out;
  for (auto& [name, w] : layer_weights(model)) {
    LayerSparsity s{name, w.numel(), 0};
    for (float v : w.to_vector()) s.zeros += v == 0.0f ? 1 : 0;
    out.push_back(s);
  }
  return out;
}

}  // namespace gb::prune
