// The pictures `--tensorboard` shows of a model while it trains (training::EpochViews, drawn at
// the end of every `--tensorboard-every`-th epoch): a fixed, class-balanced set of test images
// (the same every epoch), Grad-CAM overlays of them for the predicted class so a user watches
// the explanations change as the model learns, the activation grid of the explained layer for
// the first of them, and the Grad-CAM deletion AUC of the set as a scalar. Here because Grad-CAM
// (interp/) sits above the training library, which only calls the hook.
// Shape letters: N images, C channels, H/W image size, K channels of the layer, h/w its size.
#pragma once
#include <cstdint>
#include <string>

#include "models/training/tensorboard.h"

namespace gb::interp {

struct TrainingViewOptions {
  int64_t images = 8;           // fixed test images, class-balanced (fewer when the split is small)
  std::string layer;            // explained layer; "": default_cam_layer (the last 4-D output)
  int64_t scale = 4;            // nearest-neighbour upscaling of images and overlays
  int64_t grid_channels = 64;   // channels in the activation grid at most
  int64_t deletion_steps = 16;  // points of the deletion curve (0: no AUC scalar)
};

// Tags written at step = epoch (1-based):
//   views/inputs             the fixed images with their class names (first call only)
//   views/gradcam            one overlay per image, labelled "<true>><predicted> <p>%"
//   views/activations        channel grid of the explained layer for the first image
//   explanations/gradcam_deletion_auc   mean deletion AUC of the Grad-CAM maps (lower: more
//                                        faithful), scored on the predicted class
// The views run in eval mode, restore the model's mode, touch no parameter gradient and draw no
// random numbers, so a run's weights do not depend on whether they are drawn.
// throws: std::invalid_argument for an unknown `layer` (naming it) when first drawn.
training::EpochViews training_views(const TrainingViewOptions& opt = {});

}  // namespace gb::interp
