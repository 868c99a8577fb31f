// Small pieces the jobs that draw explanations share (explain, activations, the report, the
// TensorBoard views): a method's map as a heat-map overlay, the display upscaling, the class
// probabilities of one image and a class's printable name.
// Shape letters: C channels, H/W image size, K classes.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "interp/registry.h"
#include "interp/visualize.h"

namespace gb::interp {

// m.map over `base` (an image already upscaled by `factor`): signed maps normalised
// symmetrically (99th percentile of |v|) in the diverging colormap, others clipped at the 99.5th
// percentile in viridis; half-transparent. requires: base is map size x factor.
Image heat_overlay(const Image& base, const MethodOutput& m, int64_t factor);

// The nearest-neighbour factor that makes an H x W image about `pixels` on its longer side (>= 1).
int64_t display_factor(int64_t H, int64_t W, int64_t pixels);

// softmax(model(x)) of one image x [1,C,H,W] (moved to the model's device), without a graph.
std::vector<float> class_probabilities(Module& model, const Tensor& x);

// classes[k], or k as text when there is no such name.
std::string class_name(const std::vector<std::string>& classes, int64_t k);

}  // namespace gb::interp
