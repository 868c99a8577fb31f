// RISE: randomized input sampling for explanation (Petsiuk, Das, Saenko, BMVC 2018;
// reference eclique/RISE explanations.py). S_t(x) = 1/(M p) sum_i f_t(x . M_i) M_i with f the
// softmax probability (the reference wraps the model in Softmax). Mask i: a binary s x s grid
// with P(1) = p, upsampled bilinearly to (s+1)*cell (cell = ceil(H/s)) with reflect padding at
// the border (skimage resize(order=1, mode='reflect', anti_aliasing=False), as the reference),
// cropped to H x W at a shift (dx, dy) in [0, cell)^2. Every draw of mask i comes from
// Philox(seed, i), so the masks do not depend on the chunking and the same masks serve every
// image. The mask multiplies the normalised image (0 = the mean colour), as the reference does.
// Images go through forward_streamed (interp/batch.h) in chunks; nothing is held whole.
// Shape letters: C channels, H/W image size, K classes, M masks.
#pragma once
#include <cstdint>

#include "interp/batch.h"
#include "runtime/module.h"
#include "runtime/tensor.h"

namespace gb::interp {

struct RiseOptions {
  int64_t masks = 2000;  // M (paper: 4000-8000 on ImageNet; 2000 suits 32x32)
  int64_t cells = 4;     // s (paper: 7 on 224x224)
  double p = 0.5;        // probability of a kept cell
  uint64_t seed = 0;
  bool probability = true;  // false: the target logit instead of its softmax probability
  BatchOptions batch;
};

// throws: std::invalid_argument naming --rise-masks, --rise-cells or --rise-p when masks < 1,
// cells < 1 or p not in (0, 1].
void check_rise_options(const RiseOptions& opt);

// Mask `index` [H,W] in [0,1]. requires: H, W >= 1, valid options.
Tensor rise_mask(int64_t index, int64_t H, int64_t W, const RiseOptions& opt);

struct RiseResult {
  Tensor map;          // [H,W]
  int64_t chunks = 0;  // forward passes run
  int64_t chunk = 0;   // images per forward pass (the last may hold fewer)
};

// RISE map of x [1,C,H,W] for class `target`. requires: 0 <= target < K.
// throws: std::invalid_argument for bad options or an input that is not [1,C,H,W].
RiseResult rise(Module& model, const Tensor& x, int64_t target, const RiseOptions& opt = {});

}  // namespace gb::interp
