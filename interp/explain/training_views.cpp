// The TensorBoard pictures of a model in training (see training_views.h).
// Shape letters: N images, C channels, H/W image size, K channels of the layer, h/w its size,
// L classes.
#include "interp/explain/training_views.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <memory>
#include <span>
#include <vector>

#include "data/loader.h"
#include "interp/cam.h"
#include "interp/job_pictures.h"
#include "interp/metrics.h"
#include "interp/visualize.h"

namespace gb::interp {
namespace {

// The fixed images: class-balanced, the same every epoch, normalised, [N,C,H,W] on the host.
struct FixedImages {
  Tensor images;
  std::vector<int64_t> labels;
};

FixedImages fixed_images(const data::Dataset& test, const data::Normalization& norm,
                         int64_t count) {
  data::LoadOptions lo;
  lo.limit = static_cast<size_t>(std::max<int64_t>(count, 1));
  lo.balanced = true;
  const std::vector<size_t> idx = data::select_samples(test.labels, test.num_classes(), lo);
  data::LoaderConfig lc;
  lc.norm = norm;
  data::Batch b;
  data::fill_batch(test, lc, 0, std::span<const size_t>(idx), b);
  return {Tensor::from_vector({static_cast<int64_t>(idx.size()), b.channels, b.height, b.width},
                              b.images),
          b.labels};
}

void write_image(training::TensorBoardWriter& tb, const std::string& tag, int64_t step,
                 const Image& img) {
  tb.image(tag, step, img.width, img.height, static_cast<int>(img.channels), encode_png(img));
}

// The displayable image n of the batch x [N,C,H,W] (host values).
Image input_image(const std::vector<float>& x, const Shape& shape, int64_t n,
                  const data::Normalization& norm) {
  const int64_t C = shape[1], H = shape[2], W = shape[3];
  return image_from_chw(x.data() + n * C * H * W, C, H, W, norm.mean, norm.std);
}

// softmax(logits[n])[k] for logits [N,L] on the host.
double probability(const std::vector<float>& logits, int64_t L, int64_t n, int64_t k) {
  const float* row = logits.data() + n * L;
  const float top = *std::max_element(row, row + L);
  double sum = 0;
  for (int64_t j = 0; j < L; ++j) sum += std::exp(static_cast<double>(row[j] - top));
  return std::exp(static_cast<double>(row[k] - top)) / sum;
}

void write_inputs(training::TensorBoardWriter& tb, int64_t step, const FixedImages& f,
                  const data::Dataset& test, const data::Normalization& norm, int64_t scale) {
  const std::vector<float> x = f.images.to_vector();
  std::vector<Image> tiles;
  std::vector<std::string> labels;
  for (int64_t n = 0; n < f.images.size(0); ++n) {
    tiles.push_back(upscale_nearest(input_image(x, f.images.shape(), n, norm), scale));
    labels.push_back(class_name(test.classes, f.labels[static_cast<size_t>(n)]));
  }
  write_image(tb, "views/inputs", step, make_sheet(tiles, labels));
}

// Overlays of the Grad-CAM maps cam.map [N,1,H,W] on the images, labelled with the true and
// the predicted class and its probability; returns the mean deletion AUC (or -1: not scored).
double write_gradcam(training::TensorBoardWriter& tb, int64_t step, Module& model,
                     const FixedImages& f, const CamResult& cam, const std::vector<float>& logits,
                     const data::Dataset& test, const data::Normalization& norm,
                     const TrainingViewOptions& opt) {
  const std::vector<float> x = f.images.to_vector(), maps = cam.map.to_vector();
  const int64_t N = f.images.size(0), H = f.images.size(2), W = f.images.size(3);
  const int64_t L = static_cast<int64_t>(logits.size()) / N;
  std::vector<Image> tiles;
  std::vector<std::string> labels;
  double auc_sum = 0;
  for (int64_t n = 0; n < N; ++n) {
    const int64_t pred = cam.classes[static_cast<size_t>(n)];
    const std::vector<float> map01 =
        normalize_minmax(maps.data() + n * H * W, static_cast<size_t>(H * W));
    const Image heat = colorize(map01.data(), H, W, Colormap::Jet);
    tiles.push_back(
        upscale_nearest(overlay(input_image(x, f.images.shape(), n, norm), heat), opt.scale));
    // "<true>><predicted> <p>%", class names cut to fit the tile (6 pixels per character).
    const auto cut = static_cast<size_t>(std::max<int64_t>(3, (W * opt.scale / 6 - 6) / 2));
    labels.push_back(fmt::format(
        "{}>{} {:.0f}%", class_name(test.classes, f.labels[static_cast<size_t>(n)]).substr(0, cut),
        class_name(test.classes, pred).substr(0, cut), 100.0 * probability(logits, L, n, pred)));
    if (opt.deletion_steps > 0) {
      CurveOptions co;
      co.steps = opt.deletion_steps;
      const Tensor image =
          Tensor::from_vector({f.images.size(1), H, W},
                              std::vector<float>(x.begin() + n * f.images.size(1) * H * W,
                                                 x.begin() + (n + 1) * f.images.size(1) * H * W));
      const Tensor map = Tensor::from_vector(
          {H, W}, std::vector<float>(maps.begin() + n * H * W, maps.begin() + (n + 1) * H * W));
      auc_sum += deletion_curve(model, image, map, pred, co).auc;
    }
  }
  SheetOptions so;
  so.columns = std::min<int64_t>(N, 8);
  write_image(tb, "views/gradcam", step, make_sheet(tiles, labels, so));
  return opt.deletion_steps > 0 ? auc_sum / static_cast<double>(N) : -1.0;
}

void write_activations(training::TensorBoardWriter& tb, int64_t step, const Tensor& activation,
                       const TrainingViewOptions& opt) {
  const int64_t K = activation.size(1), h = activation.size(2), w = activation.size(3);
  const std::vector<float> a = activation.to_vector();
  const Tensor first =
      Tensor::from_vector({K, h, w}, std::vector<float>(a.begin(), a.begin() + K * h * w));
  GridOptions go;
  go.max_channels = opt.grid_channels;
  go.scale = std::max<int64_t>(1, 32 / std::max<int64_t>(h, 1));
  write_image(tb, "views/activations", step, channel_grid(first, go));
}

}  // namespace

training::EpochViews training_views(const TrainingViewOptions& opt) {
  // The fixed images are chosen on the first call and kept for the run.
  auto fixed = std::make_shared<FixedImages>();
  return [opt, fixed](training::TensorBoardWriter& tb, int64_t epoch, Module& model,
                      const data::Dataset& test, const data::Normalization& norm) {
    const bool first = !fixed->images.defined();
    if (first) *fixed = fixed_images(test, norm, opt.images);
    if (first) write_inputs(tb, epoch, *fixed, test, norm, opt.scale);
    CamOptions co;
    co.layer = opt.layer;
    const CamResult cam = grad_cam(model, fixed->images, co);
    const LayerCapture capture =
        capture_layer(model, fixed->images, cam.layer, Target::per_input(cam.classes), false);
    const double auc =
        write_gradcam(tb, epoch, model, *fixed, cam, capture.logits.to_vector(), test, norm, opt);
    write_activations(tb, epoch, capture.activation, opt);
    if (auc >= 0) tb.scalar("explanations/gradcam_deletion_auc", epoch, auc);
  };
}

}  // namespace gb::interp
