// Metrics that test whether an explanation is faithful: deletion and insertion curves with their
// AUC (Petsiuk et al., RISE, 2018), the cascading model-parameter randomisation check (Adebayo et
// al., "Sanity Checks for Saliency Maps", 2018), Spearman rank correlation, the
// completeness/efficiency error of additive attributions, and a timing helper.
// Shape letters: C channels, H/W image size, P = H*W pixels, K classes.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "interp/perturb.h"

namespace gb::interp {

// ---- deletion / insertion ----

struct CurveOptions {
  int64_t steps = 32;  // the curve has steps+1 points, k/steps of pixels
  FillOptions deletion_fill = constant_fill(0.0f);  // what deleted pixels become
  FillOptions insertion_start = blur_fill(4.0f);    // the image insertion starts from
  Score score = Score::Probability;
  BatchOptions batch;
};

struct Curve {
  std::vector<double> fraction;  // [steps+1] fraction of pixels changed, 0 .. 1
  std::vector<double> score;     // [steps+1] target score after that many pixels
  double auc = 0.0;              // trapezoidal area under score(fraction)
};

// Pixel indices (y*W + x) by decreasing attribution, ties by increasing index.
// requires: attribution [H,W], [1,H,W] or [1,1,H,W].
std::vector<int64_t> pixel_order(const Tensor& attribution);

// Deletion: step k replaces (in every channel) the round(k P / steps) most-attributed pixels of
// the image by the deletion fill. A faithful map makes the score fall fast (low AUC).
// Insertion: step k starts from the insertion_start image and puts those pixels of the image
// back. A faithful map makes the score rise fast (high AUC). All steps+1 images are evaluated
// batched through forward_streamed. requires: image [C,H,W] (or [1,C,H,W]), attribution with
// H*W elements (see pixel_order), steps >= 1.
Curve deletion_curve(Module& model, const Tensor& image, const Tensor& attribution, int64_t target,
                     const CurveOptions& opt = {});
Curve insertion_curve(Module& model, const Tensor& image, const Tensor& attribution, int64_t target,
                      const CurveOptions& opt = {});

// Trapezoidal area under y(x). requires: x.size() == y.size().
double trapezoid_auc(const std::vector<double>& x, const std::vector<double>& y);

// ---- rank correlation ----

// Ranks 1..n with ties given their average rank.
std::vector<double> average_ranks(const std::vector<float>& v);
// Spearman's rho: Pearson correlation of the average ranks. 0 when either input is constant.
// requires: a.size() == b.size() >= 2.
double spearman(const std::vector<float>& a, const std::vector<float>& b);
// Over the elements of two tensors with equal element counts.
double spearman(const Tensor& a, const Tensor& b);

// ---- cascading randomisation ----

// Computes an explanation map of the (possibly randomised) model.
using ExplainFn = std::function<Tensor(Module& model)>;

struct RandomizationOptions {
  // Module paths randomised one after the other, cumulatively. Empty: every module that owns
  // parameters directly, from the output side (reverse registration order).
  std::vector<std::string> layers;
  uint64_t seed = 0;
  bool absolute = false;  // compare |map| instead of map
};

struct RandomizationStep {
  std::string layer;      // the module randomised at this step (all earlier ones stay random)
  double spearman = 0.0;  // rank correlation of this step's map with the original map
  Tensor map;
};

struct RandomizationReport {
  Tensor original;
  std::vector<RandomizationStep> steps;
};

// The default layer order of cascading_randomization for `model`.
std::vector<std::string> randomization_layers(Module& model);

// Cascading model-parameter randomisation: explains with the trained parameters, then re-draws
// the parameters of layers[0], explains, adds layers[1], explains, ... Each parameter tensor under
// a randomised module is re-drawn from a normal distribution with the tensor's own mean and
// standard deviation (Philox(seed), one stream per tensor), so scales stay plausible; a tensor
// with no spread (e.g. an untrained BN scale of ones) keeps its values. Buffers are untouched.
// Every parameter is restored afterwards, also when `explain` throws.
// requires: each name in opt.layers is a module of `model` (std::invalid_argument otherwise).
RandomizationReport cascading_randomization(Module& model, const ExplainFn& explain,
                                            const RandomizationOptions& opt = {});

// ---- completeness ----

struct CompletenessError {
  double sum = 0.0;        // sum of the attributions
  double expected = 0.0;   // f(input) - f(baseline)
  double abs_error = 0.0;  // |sum - expected|
  double rel_error = 0.0;  // abs_error / max(|expected|, 1e-12)
};
// Completeness (IG) / efficiency (Shapley): attributions should sum to f(input) - f(baseline).
CompletenessError completeness_error(const std::vector<double>& attributions, double f_input,
                                     double f_baseline);
CompletenessError completeness_error(const Tensor& attributions, double f_input, double f_baseline);

// ---- timing ----

struct Timing {
  double median_ms = 0.0;
  double min_ms = 0.0;
  double max_ms = 0.0;
  int repetitions = 0;
};
// Runs fn `warmup` times untimed, then `repetitions` times timed (steady clock).
// requires: repetitions >= 1, warmup >= 0.
Timing time_repeated(const std::function<void()>& fn, int repetitions = 5, int warmup = 1);

// Milliseconds since construction (or the last restart()).
class Stopwatch {
 public:
  Stopwatch();
  void restart();
  double elapsed_ms() const;

 private:
  int64_t start_ns_;
};

}  // namespace gb::interp
