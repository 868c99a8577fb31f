// Seeded data augmentation and per-epoch shuffling, reproducible from (seed, epoch, sample)
// alone: every random decision comes from gb::Philox with the stream derived from the epoch and
// the counter from the sample's index in the data set, so neither batch order nor threading
// changes what a sample gets.
// Shape letters: C channels, H height, W width; images are CHW.
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

namespace gb::data {

struct AugmentConfig {
  int crop_pad = 0;   // random crop of the image padded by this many zero pixels per side; 0: off
  bool flip = false;  // horizontal flip with probability 1/2
  int cutout = 0;     // zero a square of this side centred uniformly in the image (clipped); 0: off

  bool any() const { return crop_pad > 0 || flip || cutout > 0; }
  // The standard CIFAR recipe: pad 4 + random crop, horizontal flip.
  static AugmentConfig cifar() { return {4, true, 0}; }
};

// The random decisions for one sample.
struct AugmentDraw {
  int dy = 0, dx = 0;  // crop offset into the padded image, each in [0, 2 * crop_pad]
  bool flip = false;
  int cut_y = 0, cut_x = 0;  // cutout centre, in [0, H) x [0, W)
};

// Philox streams of the data module: (tag << 56) ^ epoch, tags 1 = shuffle, 2 = augment.
uint64_t shuffle_stream(uint64_t epoch);
uint64_t augment_stream(uint64_t epoch);

// The decisions for sample `index` in epoch `epoch`: Philox(seed, augment_stream(epoch)),
// blocks 2*index and 2*index+1. Disabled parts come out as 0 / false; enabling one part does
// not change the draws of the others.
AugmentDraw draw_augment(const AugmentConfig& cfg, uint64_t seed, uint64_t epoch, uint64_t index,
                         int H, int W);

// dst = cutout(flip(crop(pad(src)))): dst(c, y, x) = src(c, y + dy - pad, x' + dx - pad) with
// x' = W - 1 - x when flipped, 0 outside src; then the cutout square is set to 0. The float
// version runs on normalised images, so padding and cutout are 0 there (the channel mean),
// as in the ResNet paper's CIFAR recipe.
// requires: src and dst do not overlap, each C*H*W elements.
void apply_augment(const float* src, float* dst, int C, int H, int W, const AugmentConfig& cfg,
                   const AugmentDraw& draw);
void apply_augment(const uint8_t* src, uint8_t* dst, int C, int H, int W, const AugmentConfig& cfg,
                   const AugmentDraw& draw);

// The order in which epoch `epoch` visits samples 0..n-1: identity without `shuffle`, else a
// Fisher-Yates shuffle driven by gb::Generator(seed, shuffle_stream(epoch)).
std::vector<size_t> epoch_order(size_t n, uint64_t seed, uint64_t epoch, bool shuffle);

}  // namespace gb::data
