// The method table and one small runner per method family (see registry.h). Each runner reads
// the clock right after the attribution, so `ms` never includes metrics or pictures.
// Shape letters: C channels, H/W image size, S segments.
#include "interp/registry.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <set>
#include <stdexcept>
#include <utility>

#include "interp/attention.h"
#include "interp/cam.h"
#include "interp/gradients.h"
#include "interp/lime.h"
#include "interp/metrics.h"
#include "interp/perturb.h"
#include "interp/relevance/deeplift.h"
#include "interp/relevance/lrp.h"
#include "interp/rise.h"
#include "interp/shapley.h"
#include "interp/slic.h"
#include "runtime/ops.h"
#include "runtime/rng.h"

namespace gb::interp {
using json = nlohmann::json;

namespace {

// What every method runner receives.
struct MethodCall {
  Module& model;
  const Tensor& x;  // [1,C,H,W]
  int64_t target;
  const std::string& method;
  const MethodOptions& opt;
  int64_t H, W;
  int64_t samples;         // method_samples(method, opt)
  Target tgt;              // Target::of(target)
  CamOptions cam;          // layer, target and batch set
  const Stopwatch& clock;  // started just before the runner
};

using MethodRunner = void (*)(const MethodCall&, MethodOutput&);

std::string trim(const std::string& s) {
  const auto b = s.find_first_not_of(" \t");
  if (b == std::string::npos) return "";
  const auto e = s.find_last_not_of(" \t");
  return s.substr(b, e - b + 1);
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

// The mean (y, x) of every segment's pixels.
std::vector<std::pair<double, double>> segment_centers(const Segments& seg, size_t count) {
  std::vector<std::pair<double, double>> sum(count, {0.0, 0.0});
  for (int64_t y = 0; y < seg.height; ++y) {
    for (int64_t x = 0; x < seg.width; ++x) {
      auto& c = sum[static_cast<size_t>(seg.at(y, x))];
      c.first += static_cast<double>(y);
      c.second += static_cast<double>(x);
    }
  }
  const std::vector<int64_t> sizes = seg.sizes();
  for (size_t s = 0; s < count; ++s) {
    const double n = static_cast<double>(std::max<int64_t>(sizes[s], 1));
    sum[s] = {sum[s].first / n, sum[s].second / n};
  }
  return sum;
}

// The k best segments by score: [{"segment","score","pixels","center":[y,x]}].
json top_segments(const Segments& seg, const std::vector<double>& score, size_t k) {
  std::vector<size_t> order(score.size());
  std::iota(order.begin(), order.end(), size_t{0});
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    return score[a] > score[b] || (score[a] == score[b] && a < b);
  });
  const auto centers = segment_centers(seg, score.size());
  const std::vector<int64_t> sizes = seg.sizes();
  json out = json::array();
  for (size_t i = 0; i < std::min(k, order.size()); ++i) {
    const size_t s = order[i];
    out.push_back({{"segment", s},
                   {"score", score[s]},
                   {"pixels", sizes[s]},
                   {"center", {centers[s].first, centers[s].second}}});
  }
  return out;
}

// ---- the CAM family ----

void run_cam(const MethodCall& c, MethodOutput& out) {
  CamOptions co = c.cam;
  co.method = parse_cam_method(c.method);
  const CamResult r = cam(c.model, c.x, co);
  out.ms = c.clock.elapsed_ms();
  out.map = as_hw(r.map, c.H, c.W);
  out.info["layer"] = r.layer;
}

void run_guided_gradcam(const MethodCall& c, MethodOutput& out) {
  const Tensor g = guided_grad_cam(c.model, c.x, c.cam);
  out.ms = c.clock.elapsed_ms();
  out.map = reduce_channels(g, /*max_abs=*/true);
  out.info["layer"] = c.opt.layer.empty() ? default_cam_layer(c.model, c.x) : c.opt.layer;
}

// ---- the gradient family ----

void run_saliency(const MethodCall& c, MethodOutput& out) {
  const Attribution a = saliency(c.model, c.x, c.tgt);
  out.ms = c.clock.elapsed_ms();
  out.map = as_hw(a.attr, c.H, c.W);
}

void run_input_x_gradient(const MethodCall& c, MethodOutput& out) {
  const Attribution a = input_x_gradient(c.model, c.x, c.tgt);
  out.ms = c.clock.elapsed_ms();
  out.map = reduce_channels(a.attr, false);
  out.is_signed = true;
}

void run_smoothgrad(const MethodCall& c, MethodOutput& out) {
  SmoothGradOptions so;
  so.target = c.tgt;
  so.samples = c.samples;
  so.seed = c.opt.seed;
  const Attribution a = smooth_grad(c.model, c.x, so);
  out.ms = c.clock.elapsed_ms();
  out.map = reduce_channels(a.attr, true);
}

void run_integrated_gradients(const MethodCall& c, MethodOutput& out) {
  IgOptions io;
  io.target = c.tgt;
  io.steps = c.opt.ig_steps;
  const Tensor base = black_baseline(c.x, c.opt.norm.mean, c.opt.norm.std);
  const IgResult r = integrated_gradients(c.model, c.x, base, io);
  out.ms = c.clock.elapsed_ms();
  out.map = reduce_channels(r.attr, false);
  out.is_signed = true;
  out.scores["completeness_error"] = r.completeness_error.at(0);
  out.info["steps"] = c.opt.ig_steps;
  out.info["baseline"] = "black";
  out.info["quadrature"] = quadrature_name(io.method);
  out.info["attribution_sum"] = r.attr_sum.at(0);
  out.info["f_input_minus_f_baseline"] = r.delta.at(0);
}

void run_deeplift(const MethodCall& c, MethodOutput& out) {
  const Tensor base = black_baseline(c.x, c.opt.norm.mean, c.opt.norm.std);
  const relevance::DeepLiftResult r = relevance::deeplift(c.model, c.x, base, c.tgt);
  out.ms = c.clock.elapsed_ms();
  out.map = reduce_channels(r.attr, false);
  out.is_signed = true;
  out.scores["completeness_error"] = std::fabs(r.attr_sum.at(0) - r.delta.at(0));
  out.info["baseline"] = "black";
  out.info["rule"] = "rescale";
  out.info["attribution_sum"] = r.attr_sum.at(0);
  out.info["f_input_minus_f_baseline"] = r.delta.at(0);
}

void run_guided_backprop(const MethodCall& c, MethodOutput& out) {
  const Attribution a = guided_backprop(c.model, c.x, c.tgt);
  out.ms = c.clock.elapsed_ms();
  out.map = reduce_channels(a.attr, true);
}

void run_deconvnet(const MethodCall& c, MethodOutput& out) {
  const Attribution a = deconvnet(c.model, c.x, c.tgt);
  out.ms = c.clock.elapsed_ms();
  out.map = reduce_channels(a.attr, true);
}

// ---- LRP ----

relevance::LrpOptions lrp_options(const std::string& method, const MethodOptions& opt) {
  relevance::LrpOptions lo;
  lo.composite = method == "lrp-epsilon"        ? "epsilon"
                 : method == "lrp-gamma"        ? "gamma"
                 : method == "lrp-alphabeta"    ? "epsilon-alpha2beta1"
                 : method == "lrp-epsilon-plus" ? "epsilon-plus"
                                                : opt.lrp_composite;
  lo.epsilon = opt.lrp_epsilon;
  lo.gamma = opt.lrp_gamma;
  lo.alpha = opt.lrp_alpha;
  lo.beta = opt.lrp_beta;
  lo.use_bias = opt.lrp_bias != "ignore";
  lo.dead_flat = opt.lrp_dead_field != "drop";
  lo.mean = opt.norm.mean;
  lo.std = opt.norm.std;
  return lo;
}

void run_lrp(const MethodCall& c, MethodOutput& out) {
  const relevance::LrpOptions lo = lrp_options(c.method, c.opt);
  const relevance::LrpResult r = relevance::lrp(c.model, c.x, c.tgt, lo);
  out.ms = c.clock.elapsed_ms();
  out.map = reduce_channels(r.relevance, false);
  out.is_signed = true;
  out.scores["conservation_error"] = r.max_relative_error();
  out.info["composite"] = lo.composite;
  out.info["epsilon"] = lo.epsilon;
  if (lo.composite == "gamma" || lo.composite == "epsilon-gamma-box") out.info["gamma"] = lo.gamma;
  if (lo.composite.find("alpha2beta1") != std::string::npos) {
    out.info["alpha"] = lo.alpha;
    out.info["beta"] = lo.beta;
  }
  out.info["bias"] = lo.use_bias ? "include" : "ignore";
  out.info["relevance_sum"] = r.input_sum.at(0);
  out.info["explained_score"] = r.explained.at(0);
  out.info["leak"] = r.leak.at(0);
  out.info["dead_field"] = lo.dead_flat ? "flat" : "drop";
  out.info["dead_field_loss"] = r.dead_loss.at(0);
  out.info["dead_field_flat"] = r.dead_flat.at(0);
  out.info["folded_batch_norms"] = r.folded_batch_norms;
  json leaks = json::array();
  for (const auto& l : r.largest_leaks) {
    leaks.push_back({{"module", l.module}, {"op", l.op}, {"amount", l.amount}});
  }
  out.info["largest_leaks"] = leaks;
  if (!r.notes.empty()) out.info["notes"] = r.notes;
}

// ---- the perturbation family ----

// What incremental inference did for one explanation: the share of a full forward's
// multiply-adds it computed, or why it did not run.
json incremental_info(const IncrementalStats& s) {
  if (!s.not_run.empty()) return {{"used", false}, {"why", s.not_run}};
  return {{"used", true}, {"mac_fraction", s.mac_fraction()}, {"images", s.images}};
}

void run_occlusion(const MethodCall& c, MethodOutput& out) {
  OcclusionOptions oo;
  oo.window = c.opt.occlusion_window > 0 ? c.opt.occlusion_window
                                         : std::max<int64_t>(1, std::min(c.H, c.W) / 4);
  oo.stride =
      c.opt.occlusion_stride > 0 ? c.opt.occlusion_stride : std::max<int64_t>(1, oo.window / 2);
  oo.batch = c.opt.batch;
  IncrementalStats inc;
  oo.incremental_stats = &inc;
  const Tensor m = occlusion(c.model, c.x, c.target, oo);
  out.ms = c.clock.elapsed_ms();
  out.info["incremental"] = incremental_info(inc);
  out.map = as_hw(m, c.H, c.W);
  out.is_signed = true;
  out.info["window"] = oo.window;
  out.info["stride"] = oo.stride;
}

RiseOptions rise_options(const MethodOptions& opt) {
  RiseOptions ro;
  ro.masks = opt.rise_masks;
  ro.cells = opt.rise_cells;
  ro.p = opt.rise_p;
  ro.seed = opt.seed;
  ro.batch = opt.batch;
  return ro;
}

void run_rise(const MethodCall& c, MethodOutput& out) {
  const RiseOptions ro = rise_options(c.opt);
  const RiseResult r = rise(c.model, c.x, c.target, ro);
  out.ms = c.clock.elapsed_ms();
  out.map = as_hw(r.map, c.H, c.W);
  out.info["masks"] = ro.masks;
  out.info["cells"] = ro.cells;
  out.info["p"] = ro.p;
  out.info["score"] = "probability";
}

// LIME's coefficients per segment (R^2 and intercept recorded).
std::vector<double> lime_values(const MethodCall& c, const ValueFn& v, const Segments& seg,
                                MethodOutput& out) {
  LimeOptions lo;
  lo.samples = c.samples;
  lo.seed = c.opt.seed;
  const LimeResult r = lime(v, seg.count, lo);
  out.scores["r2"] = r.r2;
  out.info["intercept"] = r.intercept;
  return r.coef;
}

// Shapley values per segment by the method's solver (efficiency error recorded).
std::vector<double> shapley_values(const MethodCall& c, const ValueFn& v, const Segments& seg,
                                   MethodOutput& out) {
  ShapleyResult r;
  if (c.method == "kernelshap") {
    KernelShapOptions ko;
    ko.samples = c.samples;
    ko.seed = c.opt.seed;
    r = kernel_shap(v, seg.count, ko);
  } else if (c.method == "shapley-sampling") {
    PermutationShapleyOptions po;
    po.permutations = c.samples;
    po.seed = c.opt.seed;
    r = shapley_sampling(v, seg.count, po);
  } else {
    r = exact_shapley(v, seg.count);
  }
  out.scores["efficiency_error"] = std::fabs(r.efficiency_gap());
  out.info["evaluations"] = r.evaluations;
  out.info["v_full"] = r.v_full;
  out.info["v_empty"] = r.v_empty;
  return r.phi;
}

void run_segment_method(const MethodCall& c, MethodOutput& out) {
  const Segments seg = method_segments(c.x, c.opt);
  if (c.method == "exact-shapley" && seg.count > 20) {
    throw std::invalid_argument(fmt::format(
        "exact-shapley: the image has {} superpixels, at most 20 can be enumerated (2^n "
        "coalitions); ask for fewer with --segments (e.g. 16) or --segmentation grid",
        seg.count));
  }
  ImageGameOptions go;
  go.batch = c.opt.batch;
  IncrementalStats inc;
  go.incremental_stats = &inc;
  const ValueFn v = image_value_fn(c.model, c.x, seg, c.target, go);
  const std::vector<double> values =
      c.method == "lime" ? lime_values(c, v, seg, out) : shapley_values(c, v, seg, out);
  out.info["incremental"] = incremental_info(inc);
  out.map = segment_map(seg, values);
  out.ms = c.clock.elapsed_ms();
  out.map = as_hw(out.map, c.H, c.W);
  out.is_signed = true;
  out.info["segments"] = seg.count;
  out.info["top_segments"] = top_segments(seg, values, 5);
}

// ---- the baselines ----

// random: uniform per pixel; random-smooth: uniform on a grid of 4x4-pixel cells, bilinearly
// upsampled (as smooth as a CAM of a stride-4 layer).
void run_random(const MethodCall& c, MethodOutput& out) {
  const Philox p(c.opt.seed, c.opt.stream);
  const bool smooth = c.method == "random-smooth";
  const int64_t h = smooth ? std::max<int64_t>(1, c.H / 4) : c.H;
  const int64_t w = smooth ? std::max<int64_t>(1, c.W / 4) : c.W;
  std::vector<float> v(static_cast<size_t>(h * w));
  for (size_t i = 0; i < v.size(); ++i) v[i] = p.uniform(i);
  Tensor m = Tensor::from_vector({1, 1, h, w}, v);
  if (smooth) m = ops::bilinear_resize(m, c.H, c.W);
  out.map = as_hw(m, c.H, c.W);
  out.ms = c.clock.elapsed_ms();
  if (smooth) out.info["grid"] = {h, w};
}

// ---- attention (vision transformers) ----

void run_attention(const MethodCall& c, MethodOutput& out) {
  const bool rollout = c.method == "attention-rollout";
  const Tensor map =
      rollout ? attention_rollout(c.model, c.x) : attention_map(c.model, c.x, c.opt.layer);
  out.ms = c.clock.elapsed_ms();
  out.map = as_hw(map, c.H, c.W);
  out.info["class_agnostic"] = true;
  if (!rollout && !c.opt.layer.empty()) out.info["layer"] = c.opt.layer;
}

struct MethodEntry {
  const char* name;
  MethodRunner run;
};

// The registry, in display order.
const std::vector<MethodEntry>& methods() {
  static const std::vector<MethodEntry> table = {
      {"gradcam", run_cam},
      {"gradcam++", run_cam},
      {"layercam", run_cam},
      {"scorecam", run_cam},
      {"eigencam", run_cam},
      {"guided-gradcam", run_guided_gradcam},
      {"saliency", run_saliency},
      {"inputxgrad", run_input_x_gradient},
      {"smoothgrad", run_smoothgrad},
      {"ig", run_integrated_gradients},
      {"deeplift", run_deeplift},
      {"guided-backprop", run_guided_backprop},
      {"deconvnet", run_deconvnet},
      {"lrp", run_lrp},
      {"lrp-epsilon", run_lrp},
      {"lrp-gamma", run_lrp},
      {"lrp-alphabeta", run_lrp},
      {"lrp-epsilon-plus", run_lrp},
      {"occlusion", run_occlusion},
      {"rise", run_rise},
      {"attention", run_attention},
      {"attention-rollout", run_attention},
      {"lime", run_segment_method},
      {"kernelshap", run_segment_method},
      {"shapley-sampling", run_segment_method},
      {"exact-shapley", run_segment_method},
      {"random", run_random},
      {"random-smooth", run_random},
  };
  return table;
}

// The methods whose no-grad perturbation batches follow BatchOptions::precision.
bool batches_perturbations(const std::string& method) {
  static const std::set<std::string> names = {
      "occlusion", "rise", "scorecam", "lime", "kernelshap", "shapley-sampling", "exact-shapley"};
  return names.count(method) > 0;
}

// The float32 run of the method next to its reduced-precision output: Spearman of the two maps,
// their largest difference (also relative to the float32 map's largest |value|) and both times.
json compare_with_fp32(Module& model, const MethodOutput& reduced, const Tensor& x, int64_t target,
                       const MethodOptions& opt) {
  MethodOptions exact = opt;
  exact.batch.precision = ForwardPrecision::Fp32;
  exact.compare_fp32 = false;
  const MethodOutput full = run_method(model, reduced.method, x, target, exact);
  const std::vector<float> a = reduced.map.to_vector(), b = full.map.to_vector();
  double diff = 0, scale = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    diff = std::max(diff, std::fabs(static_cast<double>(a[i]) - b[i]));
    scale = std::max(scale, std::fabs(static_cast<double>(b[i])));
  }
  return {{"spearman", spearman(reduced.map, full.map)},
          {"max_abs_diff", diff},
          {"max_abs_diff_relative", scale > 0 ? diff / scale : 0.0},
          {"fp32_ms", full.ms},
          {"ms", reduced.ms}};
}

MethodRunner find_runner(const std::string& method) {
  for (const auto& e : methods()) {
    if (method == e.name) return e.run;
  }
  throw std::invalid_argument("unknown method '" + method +
                              "'; known methods: " + method_list_text());
}

}  // namespace

Tensor pixel_image(const Tensor& x, const data::Normalization& norm) {
  const int64_t C = x.size(x.dim() - 3), H = x.size(x.dim() - 2), W = x.size(x.dim() - 1);
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

Segments method_segments(const Tensor& x, const MethodOptions& opt) {
  const int64_t H = x.size(x.dim() - 2), W = x.size(x.dim() - 1);
  if (opt.segmentation == "grid") {
    int64_t rows = 1;  // the largest divisor of segments not above its square root
    for (int64_t r = 1; r * r <= opt.segments; ++r) {
      if (opt.segments % r == 0) rows = r;
    }
    return grid_segments(H, W, rows, opt.segments / rows);
  }
  SlicOptions so;
  so.segments = opt.segments;
  return slic(pixel_image(x, opt.norm), so);
}

const std::vector<std::string>& method_names() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> n;
    for (const auto& e : methods()) n.emplace_back(e.name);
    return n;
  }();
  return names;
}

std::string method_list_text(const std::string& separator) {
  std::string out;
  for (const auto& n : method_names()) out += (out.empty() ? "" : separator) + n;
  return out;
}

std::vector<std::string> parse_method_list(const std::string& csv) {
  const auto& known = method_names();
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
                                  "'; known methods: " + method_list_text());
    }
    if (std::find(out.begin(), out.end(), name) == out.end()) out.push_back(name);
  }
  if (out.empty())
    throw std::invalid_argument("no method given; known methods: " + method_list_text());
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
  if (opt.occlusion_window < 0 || opt.occlusion_stride < 0) {
    throw std::invalid_argument(
        "--occlusion-window and --occlusion-stride must be >= 0 (0: default)");
  }
  if (opt.batch.mem_budget_bytes == 0) throw std::invalid_argument("--mem-budget must be > 0");
  if (opt.lrp_bias != "include" && opt.lrp_bias != "ignore") {
    throw std::invalid_argument("--lrp-bias must be include or ignore, got '" + opt.lrp_bias + "'");
  }
  if (opt.lrp_dead_field != "flat" && opt.lrp_dead_field != "drop") {
    throw std::invalid_argument("--lrp-dead-field must be flat or drop, got '" +
                                opt.lrp_dead_field + "'");
  }
  relevance::check_lrp_options(lrp_options("lrp", opt));
  check_rise_options(rise_options(opt));
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
  const MethodRunner runner = find_runner(method);
  const int64_t samples = method_samples(method, opt);
  model.eval();
  MethodOutput out;
  out.method = method;
  out.info = json::object();
  if (samples > 0) out.info["samples"] = samples;
  CamOptions co;
  co.layer = opt.layer;
  co.target = Target::of(target);
  co.batch = opt.batch;
  Stopwatch clock;
  const MethodCall call{model,     x,       target,    method, opt,  x.size(2),
                        x.size(3), samples, co.target, co,     clock};
  runner(call, out);
  model.eval();
  if (opt.batch.precision != ForwardPrecision::Fp32 && batches_perturbations(method)) {
    out.info["precision"] = forward_precision_name(opt.batch.precision);
    if (opt.compare_fp32) out.info["bf16_vs_fp32"] = compare_with_fp32(model, out, x, target, opt);
  }
  return out;
}

MapAucs map_aucs(Module& model, const Tensor& x, const Tensor& map, int64_t target,
                 const BatchOptions& batch) {
  CurveOptions co;
  co.batch = exact_forwards(batch);  // the scores use the exact model
  MapAucs a;
  a.deletion = deletion_curve(model, x, map, target, co).auc;
  a.insertion = insertion_curve(model, x, map, target, co).auc;
  return a;
}

json top_pixels(const Tensor& map, int64_t k) {
  const std::vector<int64_t> order = pixel_order(map);
  const std::vector<float> v = map.to_vector();
  const int64_t W = map.size(-1);
  json out = json::array();
  for (int64_t i = 0; i < std::min<int64_t>(k, static_cast<int64_t>(order.size())); ++i) {
    const int64_t p = order[static_cast<size_t>(i)];
    out.push_back({{"y", p / W}, {"x", p % W}, {"value", v[static_cast<size_t>(p)]}});
  }
  return out;
}

}  // namespace gb::interp
