// Concept folders and flattened layer activations / gradients for TCAV (see concept_sets.h).
// Shape letters: N images, C channels, H/W image size, D flattened layer size.
#include "interp/global/concept_sets.h"

#include <fmt/format.h>

#include <algorithm>
#include <stdexcept>

#include "data/file_io.h"
#include "data/image.h"
#include "interp/cam.h"
#include "runtime/ops.h"

namespace gb::interp {
namespace fs = std::filesystem;

std::vector<fs::path> image_files(const fs::path& dir, const std::string& option) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) {
    throw std::invalid_argument(
        fmt::format("{} {}: {}", option, dir.string(),
                    fs::exists(dir, ec) ? "not a folder" : "no such folder"));
  }
  std::vector<fs::path> files;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    if (!e.is_regular_file(ec)) continue;
    std::string ext = e.path().extension().string();
    std::transform(ext.begin(), ext.end(), ext.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    if (ext == ".png" || ext == ".jpg" || ext == ".jpeg") files.push_back(e.path());
  }
  if (files.empty()) {
    throw std::invalid_argument(
        fmt::format("{} {}: holds no .png/.jpg/.jpeg image", option, dir.string()));
  }
  std::sort(files.begin(), files.end());
  return files;
}

Tensor load_image_folder(const fs::path& dir, const Shape& chw, const data::Normalization& norm,
                         const std::string& option) {
  const std::vector<fs::path> files = image_files(dir, option);
  const int C = static_cast<int>(chw[0]), H = static_cast<int>(chw[1]),
            W = static_cast<int>(chw[2]);
  const size_t per = static_cast<size_t>(C) * H * W;
  std::vector<float> v(files.size() * per);
  for (size_t i = 0; i < files.size(); ++i) {
    const std::vector<uint8_t> bytes = data::read_file(files[i].string());
    const data::Image img =
        data::decode_image(bytes.data(), bytes.size(), files[i].string(), C, /*convert=*/true);
    if (img.height != H || img.width != W) {
      throw std::invalid_argument(
          fmt::format("{}: image is {}x{}x{} (CxHxW), the model expects "
                      "{}x{}x{}",
                      files[i].string(), img.channels, img.height, img.width, C, H, W));
    }
    data::normalize_image(img.pixels.data(), C, H, W, norm, v.data() + i * per);
  }
  return Tensor::from_vector({static_cast<int64_t>(files.size()), C, H, W}, v);
}

namespace {

// Appends t [b, ...] flattened to rows.
void append_rows(const Tensor& t, ActivationRows& rows) {
  const int64_t b = t.size(0), d = t.numel() / b;
  if (rows.n == 0) rows.d = d;
  if (rows.d != d) throw std::logic_error("layer rows: the layer's size changed between batches");
  const std::vector<float> v = ops::contiguous(t).to_vector();
  rows.values.insert(rows.values.end(), v.begin(), v.end());
  rows.n += b;
}

template <class F>
ActivationRows batched_rows(const Tensor& x, int64_t batch, F capture) {
  ActivationRows rows;
  const int64_t N = x.size(0);
  for (int64_t b = 0; b < N; b += batch) {
    const int64_t e = std::min(N, b + batch);
    append_rows(capture(ops::contiguous(ops::slice(x, 0, b, e))), rows);
  }
  return rows;
}

}  // namespace

ActivationRows layer_rows(Module& model, const Tensor& x, const std::string& layer, int64_t batch,
                          std::string* resolved) {
  return batched_rows(x, std::max<int64_t>(1, batch), [&](const Tensor& xb) {
    LayerCapture c = capture_layer(model, xb, layer, Target::pred(), false);
    if (resolved) *resolved = c.layer;
    return c.activation;
  });
}

ActivationRows layer_gradient_rows(Module& model, const Tensor& x, const std::string& layer,
                                   int64_t k, int64_t batch) {
  return batched_rows(x, std::max<int64_t>(1, batch), [&](const Tensor& xb) {
    return capture_layer(model, xb, layer, Target::of(k), true).gradient;
  });
}

}  // namespace gb::interp
