// Per-channel importance of named layers' outputs over a calibration set, read from the model's
// own activations and gradients (forward hooks + one gb::grad per batch). Channel pruning
// (structured.h, beside this file) ranks filters with these; any code can use them to see which
// channels a model relies on. Two scores, both non-negative and averaged over the calibration
// images:
//   Taylor  (Molchanov et al. 2017, first order): mean_n | mean_ij A_nkij * dL_n/dA_nkij |,
//           L_n the cross-entropy of image n against its label: the loss change to first order
//           when channel k is zeroed.
//   GradCam (attribution-guided): mean_n | alpha_nk * mean_ij A_nkij |, alpha_nk = mean_ij
//           dy_c/dA_nkij with y_c the logit of the explained class (the predicted class, or the
//           label): channel k's term of the Grad-CAM map before its ReLU, i.e. how much the
//           channel contributes to the explanation of the decision.
// The model runs in eval mode (its mode is restored), so images of a batch do not interact and
// one backward gives every image's own gradient. No parameter .grad is touched.
// Shape letters: N images, C input channels, H/W image size, K channels of a layer, h/w its size.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "runtime/module.h"

namespace gb::interp {

enum class ChannelScore { Taylor, GradCam };

// One batch of calibration images [N,C,H,W] (normalised as the model expects) and their labels.
struct CalibrationBatch {
  Tensor images;
  std::vector<int64_t> labels;  // N class indices
};

struct ChannelScoreOptions {
  ChannelScore score = ChannelScore::Taylor;
  bool gradcam_use_labels = false;  // GradCam: explain the label instead of the predicted class
};

// Scores of every channel of each module in `layers` (module paths), over all `batches`.
// requires: grad mode on (not inside a NoGradGuard); each path names a module of `model` that
// runs in the forward pass with an output [N,K,h,w] or [N,K]; labels.size() == N in [0,classes).
// ensures: result[path].size() == K, every value >= 0 and finite.
// throws: std::invalid_argument naming the layer or batch on a broken requirement.
// A module that runs more than once per forward contributes the sum over its calls.
std::map<std::string, std::vector<double>> channel_scores(
    Module& model, const std::vector<std::string>& layers,
    const std::vector<CalibrationBatch>& batches, const ChannelScoreOptions& opt = {});

}  // namespace gb::interp
