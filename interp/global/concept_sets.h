// The inputs of TCAV: a folder of images (a concept, or a random counterpart) as a normalised
// batch, and a layer's activations or logit gradients for a batch, flattened one row per image.
// Shape letters: N images, C channels, H/W image size, D = K*h*w flattened layer size.
#pragma once
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "data/normalize.h"
#include "interp/global/cav.h"
#include "runtime/module.h"

namespace gb::interp {

// The image files (.png, .jpg, .jpeg) directly in `dir`, sorted by name.
// throws: std::invalid_argument naming `option` and the folder when it is missing, not a
// folder, or holds no image.
std::vector<std::filesystem::path> image_files(const std::filesystem::path& dir,
                                               const std::string& option);

// Every image of `dir` as [N,C,H,W] normalised with norm. Grey files are replicated to RGB and
// RGB files reduced to luma where the model's channel count differs (data::decode_image's
// convert); each must have the model's height and width (chw [C,H,W]). throws: std::invalid_argument / data::DataError naming the file and the expected
// CxHxW.
Tensor load_image_folder(const std::filesystem::path& dir, const Shape& chw,
                         const data::Normalization& norm, const std::string& option);

// Activations of `layer` (interp/cam.h capture_layer: 4-D outputs or tokens on a grid) for
// x [N,C,H,W], `batch` images per forward, flattened to [N, D]. Returns the resolved layer name
// in `resolved` when given.
ActivationRows layer_rows(Module& model, const Tensor& x, const std::string& layer,
                          int64_t batch = 64, std::string* resolved = nullptr);

// d logit_k / d activation of `layer` for each image of x, flattened to [N, D] (one backward
// per batch; images do not interact in eval mode).
ActivationRows layer_gradient_rows(Module& model, const Tensor& x, const std::string& layer,
                                   int64_t k, int64_t batch = 64);

}  // namespace gb::interp
