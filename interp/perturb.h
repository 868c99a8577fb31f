// Perturbation building blocks shared by occlusion, feature ablation, LIME, the Shapley methods
// and the deletion/insertion metrics: fills for hidden regions (per-channel mean, a blurred copy,
// a constant), box and Gaussian blurs, batches of masked images built from coalition vectors over
// segments, the target score read from logits, and the value-function abstraction the LIME and
// Shapley solvers work on (so they can run on closed-form games without a network). Occlusion and
// feature ablation themselves live here too.
// Every method evaluates its perturbed images through interp/batch.h (chunked, no-grad), never one
// forward per sample.
// Shape letters: N images in a batch, C channels, H/W image size, K classes, S segments (players).
// A coalition is a row of S bytes, z[s] != 0 meaning "segment s shows the image".
#pragma once
#include <cstdint>
#include <functional>
#include <vector>

#include "interp/batch.h"
#include "interp/incremental.h"
#include "interp/slic.h"
#include "runtime/module.h"

namespace gb::interp {

// ---- images, blurs and fills ----

// `image` as a contiguous [C,H,W] tensor. requires: [C,H,W] or [1,C,H,W].
Tensor as_image(const Tensor& image);

// Mean over the in-image pixels of the (2r+1) x (2r+1) window around each pixel (separable, so
// borders average fewer pixels). requires: image [C,H,W] (or [1,C,H,W]), radius >= 0.
Tensor box_blur(const Tensor& image, int64_t radius);
// Gaussian blur with standard deviation `sigma` pixels, truncated at ceil(3 sigma) and
// renormalised over the in-image pixels at borders. requires: sigma > 0. Returns [C,H,W].
Tensor gaussian_blur(const Tensor& image, float sigma);

enum class FillKind { Mean, Blur, Constant };
enum class BlurKind { Box, Gaussian };

// What hidden pixels become.
struct FillOptions {
  FillKind kind = FillKind::Mean;  // Mean: the image's per-channel mean
  float value = 0.0f;              // Constant: this value in every channel
  BlurKind blur = BlurKind::Gaussian;
  float sigma = 4.0f;  // Blur: Gaussian sigma, or the box radius (rounded)
};
FillOptions constant_fill(float value);
FillOptions blur_fill(float sigma = 4.0f, BlurKind kind = BlurKind::Gaussian);

// The [C,H,W] image whose pixels replace hidden ones.
Tensor make_fill(const Tensor& image, const FillOptions& opt);

// ---- scores ----

enum class Score { Logit, Probability };  // Probability: softmax over the K logits

// out[n] = the target's score in row n of `logits` [N,K].
// requires: 0 <= target < K; out has N floats. Throws std::invalid_argument for a bad target.
void target_scores(const Tensor& logits, int64_t target, Score score, float* out);

// ---- masked batches ----

// [count,C,H,W]: image n shows `image` where coalitions[n*S + label(pixel)] != 0 and `fill`
// elsewhere. requires: image and fill [C,H,W] of seg's H,W; coalitions holds count*S bytes.
Tensor masked_batch(const Tensor& image, const Tensor& fill, const Segments& seg,
                    const uint8_t* coalitions, int64_t count);

// Per-pixel map [H,W] of one value per segment. requires: values.size() == seg.count.
Tensor segment_map(const Segments& seg, const std::vector<double>& values);

// ---- value functions (games) ----

// A cooperative game over S players: writes v(row i) into values_out[i] for the `count` rows of
// `coalitions` (count x S bytes, row-major; coalitions.size() >= count*S).
using ValueFn =
    std::function<void(const std::vector<uint8_t>& coalitions, int64_t count, float* values_out)>;

// Calls `v` on the `count` rows of `coalitions` (S bytes each) in pieces of at most `chunk` rows,
// in order. requires: chunk >= 1.
void evaluate_coalitions(const ValueFn& v, const std::vector<uint8_t>& coalitions, int64_t count,
                         int64_t players, int64_t chunk, float* values_out);

struct ImageGameOptions {
  FillOptions fill;            // what hidden segments show
  Score score = Score::Logit;  // the game's value is this score of the target class
  BatchOptions batch;          // memory budget of each forward chunk
  // When given: what incremental inference computed (added to), or why it did not run
  // (batch.incremental, interp/incremental.h).
  IncrementalStats* incremental_stats = nullptr;
};

// The game "target score of the image with the segments outside the coalition hidden".
// Each call renders its coalitions chunk by chunk and evaluates them through incremental
// inference (interp/incremental.h) when use_incremental(opt.batch, H, W) and the model allows it,
// else
// through forward_streamed. The fill, and for incremental inference the trace of the image (its
// activations and the folded weights), are made here, once: parameters changed or hooks added
// after this call are not seen by the incremental path. The returned function keeps a reference
// to `model` and the opt.incremental_stats pointer, which must outlive it, and copies of the
// image and segments; it is not safe to call from two threads at once.
// requires: image [C,H,W] (or [1,C,H,W]) with H,W equal to seg's; 0 <= target < K.
ValueFn image_value_fn(Module& model, const Tensor& image, const Segments& seg, int64_t target,
                       const ImageGameOptions& opt = {});

// ---- occlusion and feature ablation ----

struct OcclusionOptions {
  int64_t window = 8;  // square window side, in pixels (clipped to the image)
  int64_t stride = 4;  // step between windows; the last window in each direction touches the edge
  FillOptions fill = constant_fill(0.0f);
  Score score = Score::Logit;
  BatchOptions batch;
  IncrementalStats* incremental_stats = nullptr;  // as in ImageGameOptions
};

// Occlusion map [H,W]: for each window position, drop = score(image) - score(image with the window
// filled in every channel); a pixel's attribution is the mean drop over the windows covering it.
// All 1 + #windows images go through forward_streamed. requires: window >= 1, stride >= 1.
Tensor occlusion(Module& model, const Tensor& image, int64_t target,
                 const OcclusionOptions& opt = {});

struct AblationResult {
  std::vector<double> drop;  // [S]: score(image) - score(image with segment s filled)
  Tensor map;                // [H,W]: each pixel carries its segment's drop
  double score = 0.0;        // score(image)
};

// Feature ablation over a segment mask: 1 + S images, batched.
AblationResult feature_ablation(Module& model, const Tensor& image, const Segments& seg,
                                int64_t target, const ImageGameOptions& opt = {});

}  // namespace gb::interp
