// Gradient attributions w.r.t. the input: the raw gradient and saliency, input x gradient,
// SmoothGrad (and SmoothGrad-squared), Integrated Gradients with a choice of baseline and
// quadrature (and its completeness error), Guided Backprop and Deconvnet. Guided Backprop and
// Deconvnet replace ReLU's backward rule through the op table (ReluRuleGuard), so they work on
// any model that uses ops::relu, without special-casing modules.
// Every method runs the model in eval mode (restored afterwards), backpropagates the target
// logit with gb::grad (no parameter .grad is touched), and evaluates its many inputs (noisy
// copies, path points) as batches: one forward and one backward per chunk of `max_batch`.
// Shape letters: N images, C channels, H/W size; attributions have the input's shape [N,C,H,W].
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "interp/target.h"
#include "runtime/module.h"

namespace gb::interp {

struct Attribution {
  Tensor attr;                   // [N,C,H,W], or [N,1,H,W] for saliency
  std::vector<int64_t> classes;  // the explained class of each input
};

// d logit[n, class_n] / d x_n, [N,C,H,W], from one forward and one backward.
// requires: x is a CPU float [N,C,H,W]. throws: std::invalid_argument otherwise.
Attribution gradient(Module& model, const Tensor& x, const Target& target = {});
// Saliency (Simonyan et al. 2014): max over channels of |gradient|, [N,1,H,W].
Attribution saliency(Module& model, const Tensor& x, const Target& target = {});
// [N,C,H,W] -> [N,1,H,W]: max_c |g[n,c,i,j]|.
Tensor saliency_reduce(const Tensor& g);
// x * gradient, [N,C,H,W].
Attribution input_x_gradient(Module& model, const Tensor& x, const Target& target = {});
// Guided Backprop (Springenberg et al. 2015): the gradient with ReluRule::Guided (only positive
// gradients pass a ReLU, and only where its input was positive). [N,C,H,W].
Attribution guided_backprop(Module& model, const Tensor& x, const Target& target = {});
// Deconvnet (Zeiler & Fergus 2014): the gradient with ReluRule::Deconv (a ReLU passes the
// positive part of the gradient whatever its input). [N,C,H,W].
Attribution deconvnet(Module& model, const Tensor& x, const Target& target = {});

struct SmoothGradOptions {
  Target target;           // resolved once on the clean inputs; every noisy copy explains it
  int64_t samples = 25;    // noisy copies per input; requires >= 1
  float noise = 0.15f;     // noise std as a fraction of (max - min) of each input; >= 0
  uint64_t seed = 0;       // copy s of input n uses Philox(seed, n) values s*CHW .. s*CHW+CHW-1
  bool squared = false;    // SmoothGrad-squared: the mean of gradient^2
  int64_t max_batch = 64;  // noisy copies per forward/backward pass
};
// SmoothGrad (Smilkov et al. 2017): the mean gradient over noisy copies x + N(0, sigma^2),
// [N,C,H,W]; with noise 0 it is the plain gradient. Bit-identical for the same seed, inputs,
// max_batch and thread count.
Attribution smooth_grad(Module& model, const Tensor& x, const SmoothGradOptions& opt = {});

// Quadrature rules on [0, 1] for the path integral. All use exactly `steps` gradient points.
enum class Quadrature {
  RiemannLeft,       // alpha_k = k/n
  RiemannRight,      // alpha_k = (k+1)/n
  RiemannMidpoint,   // alpha_k = (k+1/2)/n
  RiemannTrapezoid,  // alpha_k = k/(n-1), end weights halved; requires n >= 2
  GaussLegendre,     // Legendre nodes mapped to [0,1]; exact for polynomials of degree 2n-1
};
const char* quadrature_name(Quadrature q);
// "left", "right", "midpoint", "trapezoid", "gauss-legendre" (also "gl").
Quadrature parse_quadrature(const std::string& name);

struct QuadratureRule {
  std::vector<double> alpha;   // ascending, in [0,1]
  std::vector<double> weight;  // sums to 1
};
// requires: steps >= 1 (>= 2 for the trapezoid). throws: std::invalid_argument otherwise.
QuadratureRule quadrature_rule(Quadrature q, int64_t steps);

struct IgOptions {
  Target target;       // resolved on the inputs x
  int64_t steps = 32;  // gradient evaluations per input
  Quadrature method = Quadrature::GaussLegendre;
  int64_t max_batch = 64;  // path points per forward/backward pass
};

struct IgResult {
  Tensor attr;  // [N,C,H,W]
  std::vector<int64_t> classes;
  std::vector<float> attr_sum;            // sum of attr for each input
  std::vector<float> delta;               // f(x) - f(baseline), f the target logit
  std::vector<float> completeness_error;  // |attr_sum - delta|
  float max_completeness_error() const;
};

// Integrated Gradients (Sundararajan et al. 2017): (x - b) * integral_0^1 grad f(b + a(x - b)) da
// by the chosen quadrature, the N*steps path points evaluated in batches.
// requires: baseline [N,C,H,W] or [1,C,H,W] (shared by all inputs).
IgResult integrated_gradients(Module& model, const Tensor& x, const Tensor& baseline,
                              const IgOptions& opt = {});

// Baselines, all shaped like x. `mean`/`std` are the per-channel normalisation of x (pixel
// values in [0,1]); empty vectors mean 0 and 1 (x is not normalised).
// Black: pixel value 0 everywhere, i.e. (0 - mean_c) / std_c.
Tensor black_baseline(const Tensor& x, const std::vector<float>& mean = {},
                      const std::vector<float>& std = {});
// x blurred per channel with a Gaussian of `sigma` pixels (edges clamped). requires: sigma > 0.
Tensor blurred_baseline(const Tensor& x, float sigma);
// Each channel of each image filled with that channel's mean.
Tensor mean_baseline(const Tensor& x);
// Pixels uniform in [0,1] (Philox(seed, n) for image n), then normalised by mean/std.
Tensor uniform_noise_baseline(const Tensor& x, uint64_t seed, const std::vector<float>& mean = {},
                              const std::vector<float>& std = {});

}  // namespace gb::interp
