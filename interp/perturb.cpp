// Fills, blurs, masked batches, target scores, the image game, occlusion and feature ablation.
// Shape letters: N images, C channels, H/W image size, K classes, S segments, P = H*W.
#include "interp/perturb.h"

#include <algorithm>
#include <climits>
#include <cmath>
#include <cstring>
#include <memory>
#include <numeric>
#include <stdexcept>
#include <string>

#include "interp/incremental.h"

namespace gb::interp {
namespace {

// Separable filter with a symmetric 1-D kernel `k` (taps -r..r), renormalised over the taps that
// fall inside the image, applied along x then y.
Tensor separable_blur(const Tensor& image, const std::vector<float>& k) {
  Tensor img = as_image(image);
  const int64_t C = img.size(0), H = img.size(1), W = img.size(2);
  const auto r = static_cast<int64_t>(k.size() / 2);
  Tensor tmp = Tensor::empty({C, H, W}), out = Tensor::empty({C, H, W});
  const float* src = img.f32();
  float* t = tmp.f32();
  float* o = out.f32();
  for (int64_t c = 0; c < C; ++c) {
    for (int64_t y = 0; y < H; ++y) {
      const float* row = src + (c * H + y) * W;
      for (int64_t x = 0; x < W; ++x) {
        float acc = 0.0f, norm = 0.0f;
        for (int64_t d = std::max(-r, -x); d <= std::min(r, W - 1 - x); ++d) {
          acc += k[static_cast<size_t>(d + r)] * row[x + d];
          norm += k[static_cast<size_t>(d + r)];
        }
        t[(c * H + y) * W + x] = acc / norm;
      }
    }
    for (int64_t y = 0; y < H; ++y) {
      for (int64_t x = 0; x < W; ++x) {
        float acc = 0.0f, norm = 0.0f;
        for (int64_t d = std::max(-r, -y); d <= std::min(r, H - 1 - y); ++d) {
          acc += k[static_cast<size_t>(d + r)] * t[(c * H + y + d) * W + x];
          norm += k[static_cast<size_t>(d + r)];
        }
        o[(c * H + y) * W + x] = acc / norm;
      }
    }
  }
  return out;
}

// Positions of a window of side `win` along an axis of length n with step `stride`; the last
// window ends at the edge.
std::vector<int64_t> window_starts(int64_t n, int64_t win, int64_t stride) {
  std::vector<int64_t> starts;
  if (win >= n) return {0};
  for (int64_t p = 0;; p += stride) {
    if (p + win >= n) {
      if (starts.empty() || starts.back() != n - win) starts.push_back(n - win);
      break;
    }
    starts.push_back(p);
  }
  return starts;
}

// Each segment's bounding box.
std::vector<ChangedBox> segment_boxes(const Segments& seg) {
  std::vector<int64_t> y0(static_cast<size_t>(seg.count), seg.height), y1(y0.size(), -1);
  std::vector<int64_t> x0(y0.size(), seg.width), x1(y0.size(), -1);
  for (int64_t y = 0; y < seg.height; ++y) {
    for (int64_t x = 0; x < seg.width; ++x) {
      const auto s = static_cast<size_t>(seg.at(y, x));
      y0[s] = std::min(y0[s], y);
      y1[s] = std::max(y1[s], y);
      x0[s] = std::min(x0[s], x);
      x1[s] = std::max(x1[s], x);
    }
  }
  std::vector<ChangedBox> boxes(y0.size());
  for (size_t s = 0; s < boxes.size(); ++s) {
    if (y1[s] >= 0) boxes[s] = {y0[s], x0[s], y1[s] - y0[s] + 1, x1[s] - x0[s] + 1};
  }
  return boxes;
}

// The bounding box of the segments a coalition hides (z[s] == 0); empty when it hides none.
ChangedBox hidden_box(const std::vector<ChangedBox>& seg_boxes, const uint8_t* z) {
  int64_t y0 = INT64_MAX, x0 = INT64_MAX, y1 = -1, x1 = -1;
  for (size_t s = 0; s < seg_boxes.size(); ++s) {
    const ChangedBox& b = seg_boxes[s];
    if (z[s] != 0 || b.h == 0) continue;
    y0 = std::min(y0, b.y0);
    x0 = std::min(x0, b.x0);
    y1 = std::max(y1, b.y0 + b.h);
    x1 = std::max(x1, b.x0 + b.w);
  }
  if (y1 < 0) return {};
  return {y0, x0, y1 - y0, x1 - x0};
}

// What the image game renders and reads: the image, the fill of hidden segments, the segments,
// the target and its score.
struct GameImage {
  const Tensor& img;
  const Tensor& fill;
  const Segments& seg;
  int64_t target;
  Score score;
};

// The image game's values of the `count` coalitions of z (S bytes each) into out, through
// incremental inference. The coalitions run in order of their hidden box's larger side, then its
// area, so that a chunk's boxes (which share one region of max height x max width) are alike;
// the values are written back in the callers' order.
void incremental_values(Module& model, IncrementalForward& inc, const GameImage& g,
                        const std::vector<ChangedBox>& seg_boxes, const std::vector<uint8_t>& z,
                        int64_t count, const ImageGameOptions& opt, float* out) {
  const int64_t S = g.seg.count;
  std::vector<ChangedBox> boxes(static_cast<size_t>(count));
  for (int64_t i = 0; i < count; ++i) {
    boxes[static_cast<size_t>(i)] = hidden_box(seg_boxes, z.data() + i * S);
  }
  std::vector<int64_t> order(static_cast<size_t>(count));
  std::iota(order.begin(), order.end(), 0);
  auto key = [&](int64_t i) {
    const ChangedBox& b = boxes[static_cast<size_t>(i)];
    return std::make_pair(std::max(b.h, b.w), b.h * b.w);
  };
  std::stable_sort(order.begin(), order.end(),
                   [&](int64_t a, int64_t b) { return key(a) < key(b); });
  std::vector<uint8_t> sorted(static_cast<size_t>(count * S));
  for (int64_t i = 0; i < count; ++i) {
    std::memcpy(sorted.data() + i * S, z.data() + order[static_cast<size_t>(i)] * S,
                static_cast<size_t>(S));
  }
  std::vector<float> values(static_cast<size_t>(count));
  const IncrementalStats before = inc.stats();
  forward_streamed_incremental(
      model, inc, count,
      [&](int64_t begin, int64_t n) {
        return masked_batch(g.img, g.fill, g.seg, sorted.data() + begin * S, n);
      },
      [&](int64_t i) { return boxes[static_cast<size_t>(order[static_cast<size_t>(i)])]; },
      [&](int64_t begin, const Tensor& logits) {
        target_scores(logits, g.target, g.score, values.data() + begin);
      },
      opt.batch);
  for (int64_t i = 0; i < count; ++i) {
    out[order[static_cast<size_t>(i)]] = values[static_cast<size_t>(i)];
  }
  if (opt.incremental_stats) opt.incremental_stats->add(inc.stats().minus(before));
}

}  // namespace

Tensor as_image(const Tensor& image) {
  if (!image.defined()) throw std::invalid_argument("interp: image is undefined");
  if (image.dtype() != DType::F32) throw std::invalid_argument("interp: image must be F32");
  if (image.dim() == 4 && image.size(0) == 1) {
    return as_image(
        Tensor::from_vector({image.size(1), image.size(2), image.size(3)}, image.to_vector()));
  }
  if (image.dim() != 3) {
    throw std::invalid_argument("interp: image must be [C,H,W] or [1,C,H,W], got " +
                                shape_str(image.shape()));
  }
  return image.is_contiguous() ? image.detach() : image.clone();
}

Tensor box_blur(const Tensor& image, int64_t radius) {
  if (radius < 0) throw std::invalid_argument("box_blur: radius must be >= 0");
  return separable_blur(image, std::vector<float>(static_cast<size_t>(2 * radius + 1), 1.0f));
}

Tensor gaussian_blur(const Tensor& image, float sigma) {
  if (!(sigma > 0.0f)) throw std::invalid_argument("gaussian_blur: sigma must be > 0");
  const auto r = static_cast<int64_t>(std::ceil(3.0f * sigma));
  std::vector<float> k(static_cast<size_t>(2 * r + 1));
  for (int64_t d = -r; d <= r; ++d) {
    k[static_cast<size_t>(d + r)] = std::exp(-static_cast<float>(d * d) / (2.0f * sigma * sigma));
  }
  return separable_blur(image, k);
}

FillOptions constant_fill(float value) {
  FillOptions f;
  f.kind = FillKind::Constant;
  f.value = value;
  return f;
}

FillOptions blur_fill(float sigma, BlurKind kind) {
  FillOptions f;
  f.kind = FillKind::Blur;
  f.blur = kind;
  f.sigma = sigma;
  return f;
}

Tensor make_fill(const Tensor& image, const FillOptions& opt) {
  Tensor img = as_image(image);
  const int64_t C = img.size(0), P = img.size(1) * img.size(2);
  switch (opt.kind) {
    case FillKind::Constant:
      return Tensor::full(img.shape(), opt.value);
    case FillKind::Blur:
      if (opt.blur == BlurKind::Box) return box_blur(img, std::lround(opt.sigma));
      return gaussian_blur(img, opt.sigma);
    case FillKind::Mean: {
      Tensor out = Tensor::empty(img.shape());
      for (int64_t c = 0; c < C; ++c) {
        double s = 0.0;
        for (int64_t p = 0; p < P; ++p) s += img.f32()[c * P + p];
        std::fill_n(out.f32() + c * P, P, static_cast<float>(s / static_cast<double>(P)));
      }
      return out;
    }
  }
  throw std::invalid_argument("make_fill: unknown fill kind");
}

void target_scores(const Tensor& logits, int64_t target, Score score, float* out) {
  if (logits.dim() != 2) {
    throw std::invalid_argument("interp: logits must be [N,K], got " + shape_str(logits.shape()));
  }
  const int64_t N = logits.size(0), K = logits.size(1);
  if (target < 0 || target >= K) {
    throw std::invalid_argument("interp: target class " + std::to_string(target) +
                                " out of range for " + std::to_string(K) + " classes");
  }
  Tensor l = logits.is_contiguous() ? logits : logits.clone();
  const float* d = l.f32();
  for (int64_t n = 0; n < N; ++n) {
    const float* row = d + n * K;
    if (score == Score::Logit) {
      out[n] = row[target];
      continue;
    }
    const float mx = *std::max_element(row, row + K);
    double z = 0.0;
    for (int64_t k = 0; k < K; ++k) z += std::exp(static_cast<double>(row[k] - mx));
    out[n] = static_cast<float>(std::exp(static_cast<double>(row[target] - mx)) / z);
  }
}

Tensor masked_batch(const Tensor& image, const Tensor& fill, const Segments& seg,
                    const uint8_t* coalitions, int64_t count) {
  Tensor img = as_image(image), fil = as_image(fill);
  const int64_t C = img.size(0), H = img.size(1), W = img.size(2), P = H * W, S = seg.count;
  if (H != seg.height || W != seg.width || fil.shape() != img.shape()) {
    throw std::invalid_argument("masked_batch: image " + shape_str(img.shape()) + ", fill " +
                                shape_str(fil.shape()) + " and segments " +
                                std::to_string(seg.height) + "x" + std::to_string(seg.width) +
                                " disagree");
  }
  Tensor out = Tensor::empty({count, C, H, W});
  const float* src = img.f32();
  const float* alt = fil.f32();
  float* dst = out.f32();
  const int32_t* lab = seg.labels.data();
  // Serial on purpose: a chunk's masking costs about 1/1000 of its forward pass, and a parallel
  // region per chunk only adds barrier waits when the cores are shared.
  for (int64_t n = 0; n < count; ++n) {
    const uint8_t* z = coalitions + n * S;
    float* o = dst + n * C * P;
    for (int64_t c = 0; c < C; ++c) {
      for (int64_t p = 0; p < P; ++p) o[c * P + p] = z[lab[p]] ? src[c * P + p] : alt[c * P + p];
    }
  }
  return out;
}

Tensor segment_map(const Segments& seg, const std::vector<double>& values) {
  if (static_cast<int64_t>(values.size()) != seg.count) {
    throw std::invalid_argument("segment_map: " + std::to_string(values.size()) + " values for " +
                                std::to_string(seg.count) + " segments");
  }
  Tensor out = Tensor::empty({seg.height, seg.width});
  for (size_t p = 0; p < seg.labels.size(); ++p) {
    out.f32()[p] = static_cast<float>(values[static_cast<size_t>(seg.labels[p])]);
  }
  return out;
}

void evaluate_coalitions(const ValueFn& v, const std::vector<uint8_t>& coalitions, int64_t count,
                         int64_t players, int64_t chunk, float* values_out) {
  if (chunk < 1) throw std::invalid_argument("evaluate_coalitions: chunk must be >= 1");
  if (static_cast<int64_t>(coalitions.size()) < count * players) {
    throw std::invalid_argument("evaluate_coalitions: fewer coalition bytes than count x players");
  }
  if (count <= chunk) {
    if (count > 0) v(coalitions, count, values_out);
    return;
  }
  std::vector<uint8_t> piece;
  for (int64_t begin = 0; begin < count; begin += chunk) {
    const int64_t n = std::min(chunk, count - begin);
    piece.assign(coalitions.begin() + begin * players, coalitions.begin() + (begin + n) * players);
    v(piece, n, values_out + begin);
  }
}

ValueFn image_value_fn(Module& model, const Tensor& image, const Segments& seg, int64_t target,
                       const ImageGameOptions& opt) {
  Tensor img = as_image(image);
  if (img.size(1) != seg.height || img.size(2) != seg.width) {
    throw std::invalid_argument("image_value_fn: image " + shape_str(img.shape()) +
                                " does not match segments " + std::to_string(seg.height) + "x" +
                                std::to_string(seg.width));
  }
  if (target < 0) throw std::invalid_argument("image_value_fn: target must be >= 0");
  Tensor fill = make_fill(img, opt.fill);
  Module* m = &model;
  std::shared_ptr<IncrementalForward> inc;
  std::string why = incremental_declined(opt.batch, img.size(1), img.size(2));
  if (why.empty()) inc = try_incremental(model, img, &why);
  if (!inc && opt.incremental_stats) opt.incremental_stats->not_run = why;
  const std::vector<ChangedBox> seg_boxes = segment_boxes(seg);
  return [m, img, fill, seg, target, opt, inc, seg_boxes](const std::vector<uint8_t>& z,
                                                          int64_t count, float* out) {
    const int64_t S = seg.count;
    if (static_cast<int64_t>(z.size()) < count * S) {
      throw std::invalid_argument("image game: fewer coalition bytes than count x segments");
    }
    if (!inc) {
      forward_streamed(
          *m, count, img.shape(),
          [&](int64_t begin, int64_t n) {
            return masked_batch(img, fill, seg, z.data() + begin * S, n);
          },
          [&](int64_t begin, const Tensor& logits) {
            target_scores(logits, target, opt.score, out + begin);
          },
          opt.batch);
      return;
    }
    GameImage g{img, fill, seg, target, opt.score};
    incremental_values(*m, *inc, g, seg_boxes, z, count, opt, out);
  };
}

Tensor occlusion(Module& model, const Tensor& image, int64_t target, const OcclusionOptions& opt) {
  if (opt.window < 1 || opt.stride < 1) {
    throw std::invalid_argument("occlusion: window and stride must be >= 1");
  }
  Tensor img = as_image(image);
  const int64_t C = img.size(0), H = img.size(1), W = img.size(2), P = H * W;
  Tensor fill = make_fill(img, opt.fill);
  const int64_t wy = std::min(opt.window, H), wx = std::min(opt.window, W);
  const std::vector<int64_t> ys = window_starts(H, wy, opt.stride);
  const std::vector<int64_t> xs = window_starts(W, wx, opt.stride);
  const auto nx = static_cast<int64_t>(xs.size());
  const int64_t windows = static_cast<int64_t>(ys.size()) * nx;
  std::vector<float> scores(static_cast<size_t>(windows + 1));
  auto make = [&](int64_t begin, int64_t n) {
    Tensor batch = Tensor::empty({n, C, H, W});
    for (int64_t i = 0; i < n; ++i) {
      float* o = batch.f32() + i * C * P;
      std::memcpy(o, img.f32(), static_cast<size_t>(C * P) * sizeof(float));
      const int64_t w = begin + i - 1;  // image 0 is the unoccluded one
      if (w < 0) continue;
      const int64_t y0 = ys[static_cast<size_t>(w / nx)], x0 = xs[static_cast<size_t>(w % nx)];
      for (int64_t c = 0; c < C; ++c) {
        for (int64_t y = y0; y < y0 + wy; ++y) {
          std::memcpy(o + c * P + y * W + x0, fill.f32() + c * P + y * W + x0,
                      static_cast<size_t>(wx) * sizeof(float));
        }
      }
    }
    return batch;
  };
  auto consume = [&](int64_t begin, const Tensor& logits) {
    target_scores(logits, target, opt.score, scores.data() + begin);
  };
  std::string why = incremental_declined(opt.batch, H, W);
  std::unique_ptr<IncrementalForward> inc =
      why.empty() ? try_incremental(model, img, &why) : nullptr;
  if (opt.incremental_stats && !inc) opt.incremental_stats->not_run = why;
  if (inc) {
    auto box_of = [&](int64_t i) {
      if (i == 0) return ChangedBox{};
      const int64_t w = i - 1;
      return ChangedBox{ys[static_cast<size_t>(w / nx)], xs[static_cast<size_t>(w % nx)], wy, wx};
    };
    forward_streamed_incremental(model, *inc, windows + 1, make, box_of, consume, opt.batch);
    if (opt.incremental_stats) opt.incremental_stats->add(inc->stats());
  } else {
    forward_streamed(model, windows + 1, img.shape(), make, consume, opt.batch);
  }
  std::vector<double> sum(static_cast<size_t>(P), 0.0), cover(static_cast<size_t>(P), 0.0);
  for (int64_t w = 0; w < windows; ++w) {
    const int64_t y0 = ys[static_cast<size_t>(w / nx)], x0 = xs[static_cast<size_t>(w % nx)];
    const double drop = static_cast<double>(scores[0]) - scores[static_cast<size_t>(w + 1)];
    for (int64_t y = y0; y < y0 + wy; ++y) {
      for (int64_t x = x0; x < x0 + wx; ++x) {
        sum[y * W + x] += drop;
        cover[y * W + x] += 1.0;
      }
    }
  }
  Tensor out = Tensor::empty({H, W});
  for (int64_t p = 0; p < P; ++p) {
    out.f32()[p] = cover[p] > 0.0 ? static_cast<float>(sum[p] / cover[p]) : 0.0f;
  }
  return out;
}

AblationResult feature_ablation(Module& model, const Tensor& image, const Segments& seg,
                                int64_t target, const ImageGameOptions& opt) {
  const int64_t S = seg.count;
  std::vector<uint8_t> z(static_cast<size_t>((S + 1) * S), 1);
  for (int64_t s = 0; s < S; ++s) z[static_cast<size_t>((s + 1) * S + s)] = 0;
  std::vector<float> v(static_cast<size_t>(S + 1));
  image_value_fn(model, image, seg, target, opt)(z, S + 1, v.data());
  AblationResult r;
  r.score = v[0];
  r.drop.resize(static_cast<size_t>(S));
  for (int64_t s = 0; s < S; ++s) {
    r.drop[static_cast<size_t>(s)] = static_cast<double>(v[0]) - v[static_cast<size_t>(s + 1)];
  }
  r.map = segment_map(seg, r.drop);
  return r;
}

}  // namespace gb::interp
