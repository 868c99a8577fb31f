// "airbench": the fast-training CIFAR-10 network in the style of the public speed records
// (airbench94): a 2x2 patch-whitening stem, then three conv groups of widths 64/256/256, each
// conv3x3 - maxpool2 - BN - GELU - conv3x3 - BN - GELU, then a global max pool (3x3) and a
// bias-free linear head whose logits are scaled by 1/9. The 3x3 convs start as partial identities
// (dirac init). The stem's weights are set from the training images (init_patch_whitening) and then
// frozen, as in the record runs. Shape letters: N images, C channels, H/W image size, K stem
// filters (2 x C*2*2).
#pragma once
#include <cstdint>

#include "data/dataset.h"
#include "data/normalize.h"
#include "runtime/module.h"

namespace gb::models {

// Sets the stem ("whiten", a Conv2d with kernel 2) of an airbench model to the whitening basis of
// the 2x2 patches of up to `max_images` images of `ds` normalised by `norm`: filters
// v_i / sqrt(lambda_i + eps) and their negatives, for the eigenpairs (lambda_i, v_i) of the
// patch covariance; its bias is zeroed, and its weight stops requiring grad.
// throws std::invalid_argument when the model has no such stem or the shapes disagree.
void init_patch_whitening(Module& model, const data::Dataset& ds, const data::Normalization& norm,
                          int64_t max_images = 5000, double eps = 5e-4);

}  // namespace gb::models
