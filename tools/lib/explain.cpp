// `glassbox explain`: load a checkpoint and one image, run the chosen interp/ methods, score each
// map with deletion/insertion curves, draw heat maps and a sheet, and write everything through a
// staging directory so an error never leaves partial output.
#include "tools/lib/explain.h"

#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <numeric>
#include <stdexcept>
#include <system_error>

#include "data/dataset.h"
#include "data/image.h"
#include "interp/cam.h"
#include "interp/gradients.h"
#include "interp/lime.h"
#include "interp/metrics.h"
#include "interp/perturb.h"
#include "interp/shapley.h"
#include "interp/slic.h"
#include "interp/visualize.h"
#include "runtime/autograd.h"
#include "runtime/ops.h"
#include "runtime/output_path.h"
#include "runtime/rng.h"
#include "models/training/trainer.h"

namespace gb::app {
using namespace gb::training;  // transitional: the jobs move out of tools/lib
namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

bool is_cam_method(const std::string& m) {
  return m == "gradcam" || m == "gradcam++" || m == "layercam" || m == "scorecam" ||
         m == "eigencam";
}

std::string trim(const std::string& s) {
  const auto b = s.find_first_not_of(" \t");
  if (b == std::string::npos) return "";
  const auto e = s.find_last_not_of(" \t");
  return s.substr(b, e - b + 1);
}

std::string join(const std::vector<std::string>& v, const std::string& sep) {
  std::string out;
  for (size_t i = 0; i < v.size(); ++i) out += (i ? sep : "") + v[i];
  return out;
}

// [1,1,H,W], [1,H,W] or [H,W] -> a fresh contiguous [H,W].
Tensor as_hw(const Tensor& t, int64_t H, int64_t W) {
  if (t.numel() != H * W) {
    throw std::logic_error("explain: map of shape " + shape_str(t.shape()) + " is not " +
                           std::to_string(H) + "x" + std::to_string(W));
  }
  return Tensor::from_vector({H, W}, t.to_vector());
}

// [1,C,H,W] -> [H,W]: the sum over channels (signed) or the max |.| over channels.
Tensor reduce_channels(const Tensor& a, bool max_abs) {
  const int64_t C = a.size(1), H = a.size(2), W = a.size(3);
  const std::vector<float> v = a.to_vector();
  std::vector<float> out(static_cast<size_t>(H * W), 0.0f);
  for (int64_t c = 0; c < C; ++c) {
    for (int64_t p = 0; p < H * W; ++p) {
      const float x = v[static_cast<size_t>(c * H * W + p)];
      float& o = out[static_cast<size_t>(p)];
      o = max_abs ? std::max(o, std::fabs(x)) : o + x;
    }
  }
  return Tensor::from_vector({H, W}, out);
}

// x [1,C,H,W] normalised -> [C,H,W] pixel values in [0,1] (for SLIC's colour distances).
Tensor pixel_image(const Tensor& x, const data::Normalization& norm) {
  const int64_t C = x.size(1), H = x.size(2), W = x.size(3);
  std::vector<float> v = x.to_vector();
  const bool have =
      static_cast<int64_t>(norm.mean.size()) == C && static_cast<int64_t>(norm.std.size()) == C;
  for (int64_t c = 0; c < C; ++c) {
    for (int64_t p = 0; p < H * W; ++p) {
      float& e = v[static_cast<size_t>(c * H * W + p)];
      if (have) e = e * norm.std[static_cast<size_t>(c)] + norm.mean[static_cast<size_t>(c)];
      e = std::clamp(e, 0.0f, 1.0f);
    }
  }
  return Tensor::from_vector({C, H, W}, v);
}

// The k best segments by score: [{"segment","score","pixels","center":[y,x]}].
json top_segments(const interp::Segments& seg, const std::vector<double>& score, size_t k) {
  std::vector<size_t> order(score.size());
  std::iota(order.begin(), order.end(), size_t{0});
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    return score[a] > score[b] || (score[a] == score[b] && a < b);
  });
  std::vector<double> cy(score.size(), 0), cx(score.size(), 0);
  const std::vector<int64_t> sizes = seg.sizes();
  for (int64_t y = 0; y < seg.height; ++y) {
    for (int64_t x = 0; x < seg.width; ++x) {
      const auto s = static_cast<size_t>(seg.at(y, x));
      cy[s] += static_cast<double>(y);
      cx[s] += static_cast<double>(x);
    }
  }
  json out = json::array();
  for (size_t i = 0; i < std::min(k, order.size()); ++i) {
    const size_t s = order[i];
    const double n = static_cast<double>(std::max<int64_t>(sizes[s], 1));
    out.push_back({{"segment", s},
                   {"score", score[s]},
                   {"pixels", sizes[s]},
                   {"center", {cy[s] / n, cx[s] / n}}});
  }
  return out;
}

}  // namespace

const std::vector<std::string>& explain_method_names() {
  static const std::vector<std::string> names = {
      "gradcam",          "gradcam++",     "layercam",   "scorecam",     "eigencam",
      "guided-gradcam",   "saliency",      "inputxgrad", "smoothgrad",   "ig",
      "guided-backprop",  "deconvnet",     "occlusion",  "lime",         "kernelshap",
      "shapley-sampling", "exact-shapley", "random",     "random-smooth"};
  return names;
}

std::vector<std::string> parse_method_list(const std::string& csv) {
  const auto& known = explain_method_names();
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= csv.size()) {
    size_t end = csv.find(',', start);
    if (end == std::string::npos) end = csv.size();
    const std::string name = trim(csv.substr(start, end - start));
    start = end + 1;
    if (name.empty()) continue;
    if (std::find(known.begin(), known.end(), name) == known.end()) {
      throw std::invalid_argument("unknown method '" + name +
                                  "'; known methods: " + join(known, ", "));
    }
    if (std::find(out.begin(), out.end(), name) == out.end()) out.push_back(name);
  }
  if (out.empty()) {
    throw std::invalid_argument("no method given; known methods: " + join(known, ", "));
  }
  return out;
}

void check_method_options(const MethodOptions& opt) {
  if (opt.samples < 0) throw std::invalid_argument("--samples must be >= 0 (0: the default)");
  if (opt.segments < 1) throw std::invalid_argument("--segments must be at least 1");
  if (opt.segmentation != "slic" && opt.segmentation != "grid") {
    throw std::invalid_argument("--segmentation must be slic or grid, got '" + opt.segmentation +
                                "'");
  }
  if (opt.ig_steps < 1) throw std::invalid_argument("--ig-steps must be at least 1");
  if (opt.batch.mem_budget_bytes == 0) throw std::invalid_argument("--mem-budget must be > 0");
}

int64_t method_samples(const std::string& method, const MethodOptions& opt) {
  int64_t def = 0;
  if (method == "lime" || method == "kernelshap") def = 1000;
  if (method == "shapley-sampling") def = 32;
  if (method == "smoothgrad") def = 25;
  if (def == 0) return 0;
  return opt.samples > 0 ? opt.samples : def;
}

bool is_segment_method(const std::string& m) {
  return m == "lime" || m == "kernelshap" || m == "shapley-sampling" || m == "exact-shapley";
}

MethodOutput run_method(Module& model, const std::string& method, const Tensor& x, int64_t target,
                        const MethodOptions& opt) {
  if (x.dim() != 4 || x.size(0) != 1) {
    throw std::invalid_argument("explain: input must be [1,C,H,W], got " + shape_str(x.shape()));
  }
  const auto& known = explain_method_names();
  if (std::find(known.begin(), known.end(), method) == known.end()) {
    throw std::invalid_argument("unknown method '" + method +
                                "'; known methods: " + join(known, ", "));
  }
  const int64_t H = x.size(2), W = x.size(3);
  const int64_t samples = method_samples(method, opt);
  const interp::Target tgt = interp::Target::of(target);
  model.eval();

  MethodOutput out;
  out.method = method;
  out.info = json::object();
  if (samples > 0) out.info["samples"] = samples;

  interp::CamOptions co;
  co.layer = opt.layer;
  co.target = tgt;
  co.batch = opt.batch;

  interp::Stopwatch sw;
  if (is_cam_method(method)) {
    co.method = interp::parse_cam_method(method);
    interp::CamResult r = interp::cam(model, x, co);
    out.ms = sw.elapsed_ms();
    out.map = as_hw(r.map, H, W);
    out.info["layer"] = r.layer;
  } else if (method == "guided-gradcam") {
    Tensor g = interp::guided_grad_cam(model, x, co);
    out.ms = sw.elapsed_ms();
    out.map = reduce_channels(g, /*max_abs=*/true);
    out.info["layer"] = opt.layer.empty() ? interp::default_cam_layer(model, x) : opt.layer;
  } else if (method == "saliency") {
    interp::Attribution a = interp::saliency(model, x, tgt);
    out.ms = sw.elapsed_ms();
    out.map = as_hw(a.attr, H, W);
  } else if (method == "inputxgrad") {
    interp::Attribution a = interp::input_x_gradient(model, x, tgt);
    out.ms = sw.elapsed_ms();
    out.map = reduce_channels(a.attr, false);
    out.is_signed = true;
  } else if (method == "smoothgrad") {
    interp::SmoothGradOptions so;
    so.target = tgt;
    so.samples = samples;
    so.seed = opt.seed;
    interp::Attribution a = interp::smooth_grad(model, x, so);
    out.ms = sw.elapsed_ms();
    out.map = reduce_channels(a.attr, true);
  } else if (method == "ig") {
    interp::IgOptions io;
    io.target = tgt;
    io.steps = opt.ig_steps;
    const Tensor base = interp::black_baseline(x, opt.norm.mean, opt.norm.std);
    interp::IgResult r = interp::integrated_gradients(model, x, base, io);
    out.ms = sw.elapsed_ms();
    out.map = reduce_channels(r.attr, false);
    out.is_signed = true;
    out.scores["completeness_error"] = r.completeness_error.at(0);
    out.info["steps"] = opt.ig_steps;
    out.info["baseline"] = "black";
    out.info["quadrature"] = interp::quadrature_name(io.method);
    out.info["attribution_sum"] = r.attr_sum.at(0);
    out.info["f_input_minus_f_baseline"] = r.delta.at(0);
  } else if (method == "guided-backprop" || method == "deconvnet") {
    interp::Attribution a = method == "deconvnet" ? interp::deconvnet(model, x, tgt)
                                                  : interp::guided_backprop(model, x, tgt);
    out.ms = sw.elapsed_ms();
    out.map = reduce_channels(a.attr, true);
  } else if (method == "occlusion") {
    interp::OcclusionOptions oo;
    oo.window = std::max<int64_t>(1, std::min(H, W) / 4);
    oo.stride = std::max<int64_t>(1, oo.window / 2);
    oo.batch = opt.batch;
    Tensor m = interp::occlusion(model, x, target, oo);
    out.ms = sw.elapsed_ms();
    out.map = as_hw(m, H, W);
    out.is_signed = true;
    out.info["window"] = oo.window;
    out.info["stride"] = oo.stride;
  } else if (is_segment_method(method)) {
    interp::Segments seg;
    if (opt.segmentation == "grid") {
      int64_t rows = 1;  // the largest divisor of segments not above its square root
      for (int64_t r = 1; r * r <= opt.segments; ++r)
        if (opt.segments % r == 0) rows = r;
      seg = interp::grid_segments(H, W, rows, opt.segments / rows);
    } else {
      interp::SlicOptions so;
      so.segments = opt.segments;
      seg = interp::slic(pixel_image(x, opt.norm), so);
    }
    if (method == "exact-shapley" && seg.count > 20) {
      throw std::invalid_argument(fmt::format(
          "exact-shapley: the image has {} superpixels, at most 20 can be enumerated (2^n "
          "coalitions); ask for fewer with --segments (e.g. 16) or --segmentation grid",
          seg.count));
    }
    interp::ImageGameOptions go;
    go.batch = opt.batch;
    const interp::ValueFn v = interp::image_value_fn(model, x, seg, target, go);
    std::vector<double> values;
    if (method == "lime") {
      interp::LimeOptions lo;
      lo.samples = samples;
      lo.seed = opt.seed;
      interp::LimeResult r = interp::lime(v, seg.count, lo);
      values = r.coef;
      out.scores["r2"] = r.r2;
      out.info["intercept"] = r.intercept;
    } else {
      interp::ShapleyResult r;
      if (method == "kernelshap") {
        interp::KernelShapOptions ko;
        ko.samples = samples;
        ko.seed = opt.seed;
        r = interp::kernel_shap(v, seg.count, ko);
      } else if (method == "shapley-sampling") {
        interp::PermutationShapleyOptions po;
        po.permutations = samples;
        po.seed = opt.seed;
        r = interp::shapley_sampling(v, seg.count, po);
      } else {
        r = interp::exact_shapley(v, seg.count);
      }
      values = r.phi;
      out.scores["efficiency_error"] = std::fabs(r.efficiency_gap());
      out.info["evaluations"] = r.evaluations;
      out.info["v_full"] = r.v_full;
      out.info["v_empty"] = r.v_empty;
    }
    out.map = interp::segment_map(seg, values);
    out.ms = sw.elapsed_ms();
    out.map = as_hw(out.map, H, W);
    out.is_signed = true;
    out.info["segments"] = seg.count;
    out.info["top_segments"] = top_segments(seg, values, 5);
  } else {  // random: uniform per pixel; random-smooth: uniform on a grid of 4x4-pixel cells,
            // bilinearly upsampled (as smooth as a CAM of a stride-4 layer)
    const Philox p(opt.seed, opt.stream);
    const bool smooth = method == "random-smooth";
    const int64_t h = smooth ? std::max<int64_t>(1, H / 4) : H;
    const int64_t w = smooth ? std::max<int64_t>(1, W / 4) : W;
    std::vector<float> v(static_cast<size_t>(h * w));
    for (size_t i = 0; i < v.size(); ++i) v[i] = p.uniform(i);
    Tensor m = Tensor::from_vector({1, 1, h, w}, v);
    if (smooth) m = ops::bilinear_resize(m, H, W);
    out.map = as_hw(m, H, W);
    out.ms = sw.elapsed_ms();
    if (smooth) out.info["grid"] = {h, w};
  }
  model.eval();
  return out;
}

MapAucs map_aucs(Module& model, const Tensor& x, const Tensor& map, int64_t target,
                 const interp::BatchOptions& batch) {
  interp::CurveOptions co;
  co.batch = batch;
  MapAucs a;
  a.deletion = interp::deletion_curve(model, x, map, target, co).auc;
  a.insertion = interp::insertion_curve(model, x, map, target, co).auc;
  return a;
}

std::string training_data(const LoadedModel& lm, const fs::path& checkpoint) {
  std::string data;
  if (lm.meta.contains("train_config")) {
    data = lm.meta.at("train_config").value("data", std::string());
  }
  if (!data.empty() && !fs::exists(data)) {
    throw std::runtime_error(checkpoint.string() + ": trained on '" + data +
                             "', which does not exist from here; pass --data with its location");
  }
  return data;
}

json top_pixels(const Tensor& map, int64_t k) {
  const std::vector<int64_t> order = interp::pixel_order(map);
  const std::vector<float> v = map.to_vector();
  const int64_t W = map.size(-1);
  json out = json::array();
  for (int64_t i = 0; i < std::min<int64_t>(k, static_cast<int64_t>(order.size())); ++i) {
    const int64_t p = order[static_cast<size_t>(i)];
    out.push_back({{"y", p / W}, {"x", p % W}, {"value", v[static_cast<size_t>(p)]}});
  }
  return out;
}

namespace {

struct Input {
  Tensor x;     // [1,C,H,W] normalised
  json source;  // how it was obtained
};

std::vector<uint8_t> read_bytes(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  if (!f) throw std::runtime_error(p.string() + ": cannot open");
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(f), {});
}

Tensor normalised(const uint8_t* chw, int C, int H, int W, const data::Normalization& norm) {
  std::vector<float> v(static_cast<size_t>(C) * H * W);
  data::normalize_image(chw, C, H, W, norm, v.data());
  return Tensor::from_vector({1, C, H, W}, v);
}

Input load_input(const ExplainConfig& cfg, const LoadedModel& lm, const std::vector<int64_t>& chw) {
  const int C = static_cast<int>(chw[0]), H = static_cast<int>(chw[1]),
            W = static_cast<int>(chw[2]);
  Input in;
  if (cfg.index >= 0) {
    std::string data = cfg.data;
    if (data.empty()) data = training_data(lm, cfg.checkpoint);
    data::LoadOptions lo;
    lo.limit = static_cast<size_t>(cfg.index) + 1;  // file order, only the first K+1 decoded
    const data::Dataset ds = data.empty() ? data::load_fashion_mnist(data::Split::kTest, lo)
                                          : data::load_dataset(data, data::Split::kTest, lo);
    if (static_cast<int64_t>(ds.size()) <= cfg.index) {
      throw std::invalid_argument(
          fmt::format("--index {}: {} has only {} test images", cfg.index, ds.source, ds.size()));
    }
    if (ds.channels != C || ds.height != H || ds.width != W) {
      throw std::runtime_error(fmt::format(
          "{}: images are {}x{}x{} but the model in {} expects "
          "{}x{}x{}",
          ds.source, ds.channels, ds.height, ds.width, cfg.checkpoint.string(), C, H, W));
    }
    const auto k = static_cast<size_t>(cfg.index);
    in.x = normalised(ds.image(k), C, H, W, lm.norm);
    const int64_t label = ds.labels[k];
    in.source = {{"kind", "test-index"},
                 {"data", ds.source},
                 {"index", cfg.index},
                 {"label", label},
                 {"label_name", ds.classes.at(static_cast<size_t>(label))}};
    return in;
  }
  const std::string path = cfg.image.string();
  data::Image img = data::load_image(path, 0);
  in.source = {
      {"kind", "file"}, {"path", path}, {"original_shape", {img.channels, img.height, img.width}}};
  if (img.channels == C && img.height == H && img.width == W) {
    in.x = normalised(img.pixels.data(), C, H, W, lm.norm);
    in.source["resized"] = false;
    return in;
  }
  if (!cfg.resize) {
    throw std::invalid_argument(fmt::format(
        "{}: image is {}x{}x{} (CxHxW) but the model in {} expects {}x{}x{}; pass --resize to "
        "resize and convert it",
        path, img.channels, img.height, img.width, cfg.checkpoint.string(), C, H, W));
  }
  if (img.channels != C) {
    const std::vector<uint8_t> bytes = read_bytes(cfg.image);
    img = data::decode_image(bytes.data(), bytes.size(), path, C, /*convert=*/true);
  }
  Tensor full = normalised(img.pixels.data(), C, img.height, img.width, lm.norm);
  in.x = (img.height == H && img.width == W) ? full : ops::bilinear_resize(full, H, W).detach();
  in.source["resized"] = true;
  return in;
}

// "pred", a class index or a class name -> the class; `pred` is the predicted one.
int64_t resolve_target(const std::string& text, const std::vector<std::string>& classes, int64_t K,
                       int64_t pred) {
  if (text.empty() || text == "pred") return pred;
  const auto it = std::find(classes.begin(), classes.end(), text);
  if (it != classes.end()) return it - classes.begin();
  int64_t k = -1;
  try {
    const interp::Target t = interp::parse_target(text);
    k = t.classes.at(0);
  } catch (const std::invalid_argument&) {
    throw std::invalid_argument("--target '" + text +
                                "': expected 'pred', a class index or a class name (" +
                                join(classes, ", ") + ")");
  }
  if (k >= K) {
    throw std::invalid_argument(
        fmt::format("--target {}: the model has {} classes (0..{})", k, K, K - 1));
  }
  return k;
}

std::string class_name(const std::vector<std::string>& classes, int64_t k) {
  return k >= 0 && k < static_cast<int64_t>(classes.size()) ? classes[static_cast<size_t>(k)]
                                                            : std::to_string(k);
}

void check_out_dir(const fs::path& out, bool overwrite) {
  if (out.empty()) throw std::invalid_argument("--out: an output directory is required");
  if (!fs::exists(out)) return;
  if (!fs::is_directory(out)) {
    throw std::runtime_error(out.string() + ": exists and is not a directory");
  }
  refuse_nonempty_directory(out, overwrite, "the files explain writes there");
}

interp::Image heat_overlay(const interp::Image& base, const MethodOutput& m, int64_t factor) {
  const std::vector<float> v = m.map.to_vector();
  const int64_t H = m.map.size(0), W = m.map.size(1);
  const std::vector<float> t = m.is_signed
                                   ? interp::normalize_signed(v.data(), v.size(), 99.0f)
                                   : interp::normalize_percentile(v.data(), v.size(), 0.0f, 99.5f);
  const interp::Image heat = interp::colorize(
      t.data(), H, W, m.is_signed ? interp::Colormap::Diverging : interp::Colormap::Viridis);
  return interp::overlay(base, interp::upscale_nearest(heat, factor), 0.5f);
}

// Writes `images` and `j` into `out` through a staging directory next to it.
std::vector<fs::path> write_outputs(const fs::path& out, bool overwrite,
                                    const std::vector<std::pair<std::string, interp::Image>>& pngs,
                                    const json& j) {
  check_out_dir(out, overwrite);  // again: something may have appeared while we computed
  const fs::path parent = out.has_parent_path() ? out.parent_path() : fs::path(".");
  fs::create_directories(parent);
  const fs::path staging =
      parent / fmt::format(".{}.partial-{}", out.filename().string(), ::getpid());
  std::error_code ec;
  fs::remove_all(staging, ec);
  std::vector<std::string> names;
  try {
    fs::create_directory(staging);
    for (const auto& [name, img] : pngs) {
      interp::write_png((staging / name).string(), img);
      names.push_back(name);
    }
    {
      std::ofstream f(staging / "explanation.json");
      f << j.dump(2) << "\n";
      f.close();
      if (!f) throw std::runtime_error((out / "explanation.json").string() + ": write failed");
    }
    names.push_back("explanation.json");
    if (!fs::exists(out)) {
      fs::rename(staging, out);
    } else {
      for (const auto& n : names) fs::rename(staging / n, out / n);
      fs::remove(staging);
    }
  } catch (...) {
    fs::remove_all(staging, ec);
    throw;
  }
  std::vector<fs::path> files;
  for (const auto& n : names) files.push_back(out / n);
  return files;
}

}  // namespace

ExplainResult explain(const ExplainConfig& cfg) {
  if (cfg.methods.empty()) {
    throw std::invalid_argument("no method given; known methods: " +
                                join(explain_method_names(), ", "));
  }
  for (const auto& m : cfg.methods) parse_method_list(m);  // validates each name
  check_method_options(cfg.method);
  const bool by_index = cfg.index >= 0;
  if (by_index == !cfg.image.empty()) {
    throw std::invalid_argument("give exactly one of --image FILE and --index K");
  }
  if (!by_index && !cfg.data.empty()) {
    throw std::invalid_argument(
        "--data selects the data set of --index; it cannot go with --image");
  }
  fs::path out = cfg.out.lexically_normal();
  if (!out.empty() && !out.has_filename()) out = out.parent_path();
  check_out_dir(out, cfg.overwrite);

  LoadedModel lm = load_model(cfg.checkpoint);
  Module& model = *lm.model;
  model.to(parse_device(cfg.device));  // inputs and maps stay on the host
  model.eval();
  const auto chw = lm.meta.at("input_shape").get<std::vector<int64_t>>();
  const Input in = load_input(cfg, lm, chw);
  const Tensor& x = in.x;
  const int64_t H = x.size(2), W = x.size(3);

  std::vector<float> prob;
  {
    NoGradGuard no_grad;
    prob = ops::softmax(model(x.to(model.device()))).to_vector();
  }
  const auto K = static_cast<int64_t>(prob.size());
  const auto pred = static_cast<int64_t>(std::max_element(prob.begin(), prob.end()) - prob.begin());
  const int64_t target = resolve_target(cfg.target, lm.classes, K, pred);

  MethodOptions mo = cfg.method;
  mo.norm = lm.norm;
  const int64_t factor = std::max<int64_t>(1, 256 / std::max(H, W));
  const interp::Image base =
      interp::upscale_nearest(interp::image_from_tensor(x, lm.norm.mean, lm.norm.std), factor);
  std::vector<std::pair<std::string, interp::Image>> pngs{{"input.png", base}};
  std::vector<interp::Image> tiles{base};
  std::vector<std::string> labels{fmt::format("input: {} {:.0f}%", class_name(lm.classes, pred),
                                              100.0 * prob[static_cast<size_t>(pred)])};
  json methods = json::array();
  for (const auto& name : cfg.methods) {
    MethodOutput m = run_method(model, name, x, target, mo);
    const MapAucs auc = map_aucs(model, x, m.map, target, mo.batch);
    json e = {
        {"method", name},        {"file", name + ".png"},        {"time_ms", m.ms},
        {"signed", m.is_signed}, {"deletion_auc", auc.deletion}, {"insertion_auc", auc.insertion}};
    for (const auto& [k, v] : m.info.items()) e[k] = v;
    for (const auto& [k, v] : m.scores) e[k] = v;
    if (!is_segment_method(name)) e["top_pixels"] = top_pixels(m.map, 5);
    methods.push_back(e);
    const interp::Image ov = heat_overlay(base, m, factor);
    pngs.emplace_back(name + ".png", ov);
    tiles.push_back(ov);
    labels.push_back(fmt::format("{} del {:.2f} ins {:.2f}", name, auc.deletion, auc.insertion));
  }
  interp::SheetOptions so;
  so.columns = std::min<int64_t>(static_cast<int64_t>(tiles.size()), 5);
  pngs.emplace_back("sheet.png", interp::make_sheet(tiles, labels, so));

  ExplainResult r;
  r.json = {{"checkpoint", cfg.checkpoint.string()},
            {"model", lm.model_name},
            {"image", in.source},
            {"input_shape", chw},
            {"prediction",
             {{"class", pred},
              {"name", class_name(lm.classes, pred)},
              {"probability", prob[static_cast<size_t>(pred)]}}},
            {"target",
             {{"class", target},
              {"name", class_name(lm.classes, target)},
              {"probability", prob[static_cast<size_t>(target)]}}},
            {"seed", mo.seed},
            {"segments_requested", mo.segments},
            {"segmentation", mo.segmentation},
            {"mem_budget_mb", mo.batch.mem_budget_bytes >> 20},
            {"methods", methods}};
  r.files = write_outputs(out, cfg.overwrite, pngs, r.json);
  return r;
}

std::string format_explain_summary(const ExplainResult& r) {
  const json& j = r.json;
  std::string s =
      fmt::format("predicted {} ({:.1f}%), explaining class {} ({})\n",
                  j["prediction"]["name"].get<std::string>(),
                  100.0 * j["prediction"]["probability"].get<double>(),
                  j["target"]["class"].get<int64_t>(), j["target"]["name"].get<std::string>());
  s += fmt::format("{:<18} {:>10} {:>9} {:>9}  {}\n", "method", "time ms", "del AUC", "ins AUC",
                   "checks");
  for (const auto& m : j["methods"]) {
    std::string checks;
    for (const char* k : {"completeness_error", "efficiency_error", "r2"}) {
      if (m.contains(k)) checks += fmt::format("{} {:.4g} ", k, m[k].get<double>());
    }
    s += fmt::format("{:<18} {:>10.2f} {:>9.3f} {:>9.3f}  {}\n", m["method"].get<std::string>(),
                     m["time_ms"].get<double>(), m["deletion_auc"].get<double>(),
                     m["insertion_auc"].get<double>(), checks);
  }
  if (!r.files.empty()) {
    s += fmt::format("wrote {} files to {}\n", r.files.size(),
                     r.files.front().parent_path().string());
  }
  return s;
}

}  // namespace gb::app
