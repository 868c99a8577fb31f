// The generated localisation set (see localisation_set.h).
// Shape letters: C channels, H/W image size, h/w pasted size.
#include "interp/eval/localisation_set.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <stdexcept>

#include "interp/eval/image_space.h"
#include "runtime/rng.h"

namespace gb::interp::eval {
namespace {

constexpr uint64_t kLocalisationStream = 0x4c4f4300000000ull;  // "LOC"

// Area-average downscale of one CHW uint8 image to h x w: target cell (ty, tx) averages the
// source rows [ty H / h, (ty+1) H / h) and columns likewise (exact 2x2 means at scale 0.5).
std::vector<float> area_downscale(const uint8_t* src, int64_t C, int64_t H, int64_t W, int64_t h,
                                  int64_t w) {
  std::vector<float> out(static_cast<size_t>(C * h * w));
  for (int64_t c = 0; c < C; ++c) {
    for (int64_t ty = 0; ty < h; ++ty) {
      const int64_t y0 = ty * H / h, y1 = std::max(y0 + 1, (ty + 1) * H / h);
      for (int64_t tx = 0; tx < w; ++tx) {
        const int64_t x0 = tx * W / w, x1 = std::max(x0 + 1, (tx + 1) * W / w);
        double sum = 0;
        for (int64_t y = y0; y < y1; ++y) {
          for (int64_t x = x0; x < x1; ++x) sum += src[(c * H + y) * W + x];
        }
        out[(c * h + ty) * w + tx] =
            static_cast<float>(sum / static_cast<double>((y1 - y0) * (x1 - x0)));
      }
    }
  }
  return out;
}

}  // namespace

LocalisationSet make_localisation_set(const data::Dataset& ds, const LocalisationOptions& opt) {
  if (opt.count < 1) throw std::invalid_argument("--localisation must be >= 1");
  if (!(opt.scale > 0 && opt.scale <= 1))
    throw std::invalid_argument("--loc-scale must be in (0, 1]");
  const auto N = static_cast<uint64_t>(ds.size());
  if (N < 2 || std::all_of(ds.labels.begin(), ds.labels.end(),
                           [&](int64_t l) { return l == ds.labels[0]; })) {
    throw std::invalid_argument("localisation set: the source images need two classes or more");
  }
  const int64_t C = ds.channels, H = ds.height, W = ds.width;
  const int64_t h = std::max<int64_t>(1, std::llround(static_cast<double>(H) * opt.scale));
  const int64_t w = std::max<int64_t>(1, std::llround(static_cast<double>(W) * opt.scale));
  LocalisationSet set;
  set.generated = opt.count;
  for (int64_t s = 0; s < opt.count; ++s) {
    const Philox rng(opt.seed, kLocalisationStream + static_cast<uint64_t>(s));
    LocalisationSample smp;
    smp.id = s;
    smp.object_index = static_cast<int64_t>(rng.below(0, N));
    smp.target = ds.labels[smp.object_index];
    smp.background_index = -1;
    for (uint64_t t = 0; t < 64 && smp.background_index < 0; ++t) {
      const auto j = static_cast<int64_t>(rng.below(1 + t, N));
      if (ds.labels[j] != smp.target) smp.background_index = j;
    }
    if (smp.background_index < 0) {  // unlucky draws: the first image of another class
      for (size_t j = 0; j < ds.size() && smp.background_index < 0; ++j) {
        if (ds.labels[j] != smp.target) smp.background_index = static_cast<int64_t>(j);
      }
    }
    smp.background_class = ds.labels[smp.background_index];
    smp.h = h;
    smp.w = w;
    smp.y0 = static_cast<int64_t>(rng.below(100, static_cast<uint64_t>(H - h + 1)));
    smp.x0 = static_cast<int64_t>(rng.below(101, static_cast<uint64_t>(W - w + 1)));
    const uint8_t* bg = ds.image(static_cast<size_t>(smp.background_index));
    smp.image.assign(bg, bg + ds.image_size());
    const std::vector<float> obj =
        area_downscale(ds.image(static_cast<size_t>(smp.object_index)), C, H, W, h, w);
    smp.mask.assign(static_cast<size_t>(H * W), 0);
    for (int64_t y = 0; y < h; ++y) {
      for (int64_t x = 0; x < w; ++x) {
        const int64_t p = (smp.y0 + y) * W + smp.x0 + x;
        smp.mask[p] = 1;
        for (int64_t c = 0; c < C; ++c) {
          smp.image[c * H * W + p] =
              static_cast<uint8_t>(std::clamp(std::lround(obj[(c * h + y) * w + x]), 0L, 255L));
        }
      }
    }
    set.samples.push_back(std::move(smp));
  }
  return set;
}

Tensor localisation_input(const LocalisationSample& s, const data::Normalization& norm,
                          int channels, int height, int width) {
  std::vector<float> v(s.image.size());
  if (norm.mean.empty()) {
    for (size_t i = 0; i < v.size(); ++i) v[i] = static_cast<float>(s.image[i]) / 255.0f;
  } else {
    data::normalize_image(s.image.data(), channels, height, width, norm, v.data());
  }
  return Tensor::from_vector({1, channels, height, width}, v);
}

void keep_recognised(LocalisationSet& set, Module& model, const data::Normalization& norm,
                     int channels, int height, int width, const BatchOptions& batch) {
  const auto n = static_cast<int64_t>(set.samples.size());
  const int64_t CHW = int64_t{channels} * height * width;
  std::vector<int64_t> predicted(static_cast<size_t>(n));
  forward_streamed(
      model, n, {channels, height, width},
      [&](int64_t begin, int64_t count) {
        Tensor b = Tensor::empty({count, channels, height, width});
        for (int64_t i = 0; i < count; ++i) {
          const Tensor x =
              localisation_input(set.samples[begin + i], norm, channels, height, width);
          std::memcpy(b.f32() + i * CHW, x.f32(), static_cast<size_t>(CHW) * sizeof(float));
        }
        return b;
      },
      [&](int64_t begin, const Tensor& logits) {
        const std::vector<int64_t> am = argmax_rows(logits);
        std::copy(am.begin(), am.end(), predicted.begin() + begin);
      },
      batch);
  std::vector<LocalisationSample> kept;
  for (int64_t i = 0; i < n; ++i) {
    if (predicted[i] == set.samples[i].target) kept.push_back(std::move(set.samples[i]));
  }
  set.samples = std::move(kept);
}

}  // namespace gb::interp::eval
