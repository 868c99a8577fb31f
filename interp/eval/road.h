// ROAD, RemOve And Debias (Rong, Leemann, Borisov, Kasneci, Kasneci, ICML 2022,
// arXiv:2202.00449), without retraining: remove a fraction of the pixels, most relevant first
// (MoRF) or least relevant first (LeRF), fill them by noisy linear imputation (imputation.h) and
// re-evaluate the model. Shape letters: C channels, H/W image size, P = H*W pixels.
#pragma once
#include <cstdint>
#include <vector>

#include "data/normalize.h"
#include "interp/batch.h"
#include "runtime/module.h"

namespace gb::interp::eval {

struct RoadOptions {
  // Fractions of the pixels removed, each in [0, 1): the reference notebook's 0.1 .. 0.9.
  std::vector<double> fractions = {0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9};
  double noise = 0.01;            // std of the noise added to imputed values, pixel units [0, 1]
  data::Normalization norm;       // of the model's inputs (empty: identity)
  uint64_t seed = 0, stream = 0;  // tie-breaker and imputation noise: Philox(seed, stream)
  BatchOptions batch;
};

struct RoadOrder {
  std::vector<double> probability;  // [F] softmax probability of the originally predicted class
  std::vector<double> correct;      // [F] 1 when the prediction equals the true label, else 0
  double probability_auc = 0, accuracy_auc = 0;  // trapezoid over the fractions
};

struct RoadResult {
  std::vector<double> fraction;  // [F] fraction removed, the same for both orders
  RoadOrder morf, lerf;          // a faithful map: MoRF falls fast, LeRF stays high
};

// ROAD curves of one image. Ranking as the reference ImputedDataset: the map is min-max rescaled,
// (a - min) / (max - min + 1e-5), plus 1e-4 N(0,1) tie-breaker noise (drawn from
// Philox(seed, stream) here, per image; the reference draws one field per data set), sorted by
// decreasing value. MoRF at fraction r removes the int(P r) highest pixels; LeRF at r removes
// the int(P r) lowest (the reference's LeRF at p keeps the top p, i.e. r = 1 - p). Imputation runs
// in pixel space: the image is un-normalised (x std + mean), imputed with noise there and
// normalised again, as the reference imputes before its transform. All 2F images go through
// forward_streamed, each built inside its chunk, so results do not depend on chunking.
// requires: x [1,C,H,W] or [C,H,W], map with H*W values, 0 <= predicted, label < K.
// throws: std::invalid_argument for an empty list or a fraction outside [0, 1), noise < 0.
RoadResult road(Module& model, const Tensor& x, const Tensor& map, int64_t predicted, int64_t label,
                const RoadOptions& opt);

// The check of road()'s options alone (for the CLI, before any work).
void check_road_options(const RoadOptions& opt);

}  // namespace gb::interp::eval
