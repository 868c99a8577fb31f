// What a layer's channels respond to: one image's activations of a layer, the test images that
// activate each channel most across a data set, and feature visualisation by activation
// maximisation (an input optimised for a channel or a class, with jitter, blur, total variation
// and L2 as regularisers; Olah et al., "Feature Visualization", Distill 2017; Mahendran & Vedaldi
// 2015 for total variation).
// Shape letters: N images, C input channels, H/W image size, K channels (or units) of the layer,
// h/w its spatial size.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "data/normalize.h"
#include "runtime/module.h"

namespace gb::interp {

// The output of `layer` (a module path) for x [N,C,H,W], cut from the graph, in eval mode (the
// mode is restored). If the layer runs more than once, the last call. Outputs of 2 or more
// dimensions are accepted: [N,K,h,w] channels, [N,K] units, [N,T,D] tokens (D counts as K).
// throws: std::invalid_argument naming the layer when the model has no such module or the
// module did not run.
Tensor layer_output(Module& model, const Tensor& x, const std::string& layer);

// A channel's score for one image: the mean of its activation over positions (h,w or tokens).
// requires: act [N,K,...]; returns [N][K].
std::vector<std::vector<float>> channel_scores(const Tensor& act);

struct ChannelTop {
  int64_t channel = 0;
  std::vector<std::pair<int64_t, float>> images;  // (image index, score), best first
};

// For each channel of `layer`, the `top` images of `count` (fed as batches by `batch_of`, which
// returns images [b,C,H,W] for indices [begin, end)) with the highest channel score; ties keep
// the lower index. requires: count >= 1, top >= 1, batch >= 1.
std::vector<ChannelTop> top_activating(Module& model, const std::string& layer, int64_t count,
                                       const std::function<Tensor(int64_t, int64_t)>& batch_of,
                                       int64_t top, int64_t batch = 64);

struct FeatureVisOptions {
  std::string layer;           // the layer of `units`; "": the units are classes (logits)
  std::vector<int64_t> units;  // channels of `layer`, or classes: one image each, one batch
  int64_t steps = 256;         // Adam steps on the inputs
  float lr = 0.05f;            // Adam learning rate, in units of the normalised input
  int64_t jitter = 2;          // each step the inputs are rolled by up to +-jitter pixels
  float blur_sigma = 0.5f;     // every `blur_every` steps the inputs are blurred (0: never)
  int64_t blur_every = 4;
  float tv_weight = 0.05f;  // weight of the mean squared difference of neighbouring pixels
  float l2_weight = 1e-3f;  // weight of the mean squared input
  uint64_t seed = 0;        // the starting noise (image u draws from stream u)
};

struct FeatureVis {
  int64_t unit = 0;
  Tensor image;                  // [1,C,H,W], normalised like the model's inputs
  std::vector<float> objective;  // the unit's score after each step (without regularisers)
};

// throws: std::invalid_argument naming the option when a unit is out of range for the layer (or
// the classes), the layer is unknown, or steps < 1.
void check_feature_units(Module& model, const Shape& chw, const FeatureVisOptions& opt);

// Optimises one input of shape chw [C,H,W] per unit, all in one batch, starting from small noise,
// to maximise the unit's score (the channel's mean activation; the class logit), kept within the
// pixel range [0,1] of `norm`. Images do not interact (eval mode), so each result is what a
// batch of one would give up to rounding. Deterministic for a seed. throws: as
// check_feature_units.
std::vector<FeatureVis> maximise_activation(Module& model, const Shape& chw,
                                            const data::Normalization& norm,
                                            const FeatureVisOptions& opt);

}  // namespace gb::interp
