// A localisation set with known object masks, generated from a labelled data set: an object image
// of class k, downscaled by area averaging, pasted at a seeded position onto the image of another
// class; the mask is the pasted box and the target is k. For the pointing game and relevance mass
// (map_scores.h). Shape letters: N samples, C channels, H/W image size, h/w pasted size.
#pragma once
#include <cstdint>
#include <vector>

#include "data/dataset.h"
#include "data/normalize.h"
#include "interp/batch.h"
#include "runtime/module.h"

namespace gb::interp::eval {

struct LocalisationOptions {
  int64_t count = 200;          // samples generated
  double scale = 0.5;           // pasted side / image side (0.5: 16x16 on 32x32)
  uint64_t seed = 0;            // every draw of sample s: Philox(seed, kLocalisationStream + s)
  bool require_correct = true;  // keep only samples the model assigns to the object's class
};

struct LocalisationSample {
  std::vector<uint8_t> image;  // C*H*W, 0..255
  std::vector<uint8_t> mask;   // H*W, 1 inside the pasted box
  int64_t target = 0;          // the object's class
  int64_t background_class = 0;
  int64_t object_index = 0, background_index = 0;  // in the source data set
  int64_t y0 = 0, x0 = 0, h = 0, w = 0;            // the box
  int64_t id = 0;                                  // s: its position among the generated
};

struct LocalisationSet {
  std::vector<LocalisationSample> samples;
  int64_t generated = 0;  // before the require_correct filter
};

// Generates opt.count samples from `ds`. Sample s: object i and background j uniform over ds with
// label(j) != label(i) (redrawn up to 64 times), the object area-averaged to
// h = max(1, round(H scale)) x w = max(1, round(W scale)), pasted at a uniform position.
// requires: ds has >= 2 classes among its images, 0 < scale <= 1, count >= 1.
// throws: std::invalid_argument naming --localisation / --loc-scale, or when ds has one class.
LocalisationSet make_localisation_set(const data::Dataset& ds, const LocalisationOptions& opt);

// Keeps the samples whose predicted class (model on the normalised image) is their target.
// Batched through forward_streamed.
void keep_recognised(LocalisationSet& set, Module& model, const data::Normalization& norm,
                     int channels, int height, int width, const BatchOptions& batch = {});

// Sample s's image, normalised, as [1,C,H,W].
Tensor localisation_input(const LocalisationSample& s, const data::Normalization& norm,
                          int channels, int height, int width);

}  // namespace gb::interp::eval
