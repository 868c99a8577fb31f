// run_probe: loads the checkpoint and the input tensors, runs forward (and backward, Grad-CAM,
// explanation methods, map similarities) and writes the raw results
// (interp/explain/tensor_probe.h).
// Shape letters: N inputs, C channels, H/W image size, K classes, S segments, F HOG features.
#include "interp/explain/tensor_probe.h"

#include <algorithm>
#include <cstring>
#include <nlohmann/json.hpp>
#include <stdexcept>

#include "interp/cam.h"
#include "interp/eval/map_similarity.h"
#include "interp/gradients.h"
#include "interp/metrics.h"
#include "interp/perturb.h"
#include "interp/slic.h"
#include "models/training/checkpoint_meta.h"
#include "runtime/autograd.h"
#include "runtime/output_path.h"
#include "runtime/safetensors.h"

namespace gb::interp {
namespace {

constexpr int64_t kMaxGamePlayers = 16;  // 2^16 coalitions per image

Tensor read_f32(const SafetensorsFile& file, const std::filesystem::path& path,
                const std::string& name, const Shape& expected) {
  const SafetensorsEntry* e = file.find(name);
  if (!e) throw std::runtime_error(path.string() + ": no tensor '" + name + "'");
  Tensor t = Tensor::empty(expected);
  copy_f32(*e, expected, t.data<float>());
  return t;
}

void add(SafetensorsFile& out, const std::string& name, const Tensor& t) {
  const Tensor c = ops::contiguous(t.detach());
  out.entries.push_back(make_f32_entry(name, c.shape(), c.data<float>()));
}

void add_f32(SafetensorsFile& out, const std::string& name, const Shape& shape,
             const std::vector<float>& v) {
  out.entries.push_back(make_f32_entry(name, shape, v.data()));
}

void add_i64(SafetensorsFile& out, const std::string& name, const Shape& shape,
             const std::vector<int64_t>& v) {
  SafetensorsEntry e{name, "I64", shape, std::vector<uint8_t>(v.size() * sizeof(int64_t))};
  std::memcpy(e.bytes.data(), v.data(), e.bytes.size());
  out.entries.push_back(std::move(e));
}

// Input n of x [N,C,H,W] as a fresh [1,C,H,W].
Tensor input_at(const Tensor& x, int64_t n) {
  const int64_t C = x.size(1), H = x.size(2), W = x.size(3), E = C * H * W;
  const float* p = x.data<float>() + n * E;
  return Tensor::from_vector({1, C, H, W}, std::vector<float>(p, p + E));
}

bool uses_segments(const std::string& m) { return is_segment_method(m) || m == "feature-ablation"; }

// The grid the segment methods use with segmentation "grid" (registry.h: `segments` cells,
// rows = the largest divisor of segments not above its square root).
Segments probe_grid(int64_t H, int64_t W, int64_t segments) {
  MethodOptions grid;  // the registry's grid, so the peers see the cells glassbox uses
  grid.segmentation = "grid";
  grid.segments = segments;
  return method_segments(Tensor::zeros({1, 1, H, W}), grid);
}

void check_job(const ProbeJob& job) {
  check_method_options(job.method_options);
  if (job.timing_reps < 0) throw std::invalid_argument("--timing-reps must be >= 0");
  const bool grid = job.method_options.segmentation == "grid";
  for (const auto& m : job.methods) {
    if (!is_probe_method(m)) {
      throw std::invalid_argument("unknown method '" + m +
                                  "'; known methods: " + method_list_text() + ", feature-ablation");
    }
    if (m == "feature-ablation" && !grid) {
      throw std::invalid_argument("probe: feature-ablation needs --segmentation grid");
    }
  }
  if (job.game && (!grid || job.method_options.segments > kMaxGamePlayers)) {
    throw std::invalid_argument("probe: --game needs --segmentation grid and --segments <= 16");
  }
  if (job.game && job.methods.empty()) {
    throw std::invalid_argument("probe: --game needs --methods (for the target and segments)");
  }
  if (job.checkpoint.empty()) {  // only the map similarities run without a model
    if (!job.similarity) throw std::invalid_argument("probe: --checkpoint is required");
    if (job.backward || job.train_mode || !job.cam_layer.empty() || !job.methods.empty()) {
      throw std::invalid_argument(
          "probe: --backward, --train-mode, --cam-layer and --methods need --checkpoint");
    }
  }
}

// Feature ablation over the probe grid with the segment methods' game (image_value_fn's
// defaults: per-channel mean fill, target logit).
MethodOutput feature_ablation_output(Module& model, const Tensor& x1, int64_t target,
                                     const MethodOptions& opt) {
  const Stopwatch clock;
  const Segments seg = probe_grid(x1.size(2), x1.size(3), opt.segments);
  ImageGameOptions go;
  go.batch = opt.batch;
  const AblationResult r = feature_ablation(model, x1, seg, target, go);
  MethodOutput out;
  out.method = "feature-ablation";
  out.ms = clock.elapsed_ms();
  out.map = r.map;
  out.is_signed = true;
  return out;
}

MethodOutput probe_method(Module& model, const std::string& m, const Tensor& x1, int64_t target,
                          const MethodOptions& opt) {
  if (m == "feature-ablation") return feature_ablation_output(model, x1, target, opt);
  return run_method(model, m, x1, target, opt);
}

// "map.<m>" [N,H,W] for every method; with timing_reps, "ms.<m>" in the metadata.
void write_maps(Module& model, const ProbeJob& job, const Tensor& x,
                const std::vector<int64_t>& classes, SafetensorsFile& out) {
  const int64_t N = x.size(0), H = x.size(2), W = x.size(3);
  for (const auto& m : job.methods) {
    std::vector<float> maps;
    maps.reserve(static_cast<size_t>(N * H * W));
    for (int64_t n = 0; n < N; ++n) {
      const MethodOutput r = probe_method(model, m, input_at(x, n), classes[static_cast<size_t>(n)],
                                          job.method_options);
      const std::vector<float> v = ops::contiguous(r.map).to_vector();
      maps.insert(maps.end(), v.begin(), v.end());
    }
    add_f32(out, "map." + m, {N, H, W}, maps);
    if (job.timing_reps == 0) continue;
    nlohmann::json ms = nlohmann::json::array();
    for (int64_t rep = 0; rep < job.timing_reps; ++rep) {
      double total = 0;
      for (int64_t n = 0; n < N; ++n) {
        total += probe_method(model, m, input_at(x, n), classes[static_cast<size_t>(n)],
                              job.method_options)
                     .ms;
      }
      ms.push_back(total);
    }
    out.metadata["ms." + m] = ms.dump();
  }
}

// "attr.<m>" for the gradient methods, computed on the whole batch.
void write_attributions(Module& model, const ProbeJob& job, const Tensor& x,
                        const std::vector<int64_t>& classes, const data::Normalization& norm,
                        SafetensorsFile& out) {
  const Target t = Target::per_input(classes);
  for (const auto& m : job.methods) {
    if (m == "saliency") add(out, "attr.saliency", saliency(model, x, t).attr);
    if (m == "inputxgrad") add(out, "attr.inputxgrad", input_x_gradient(model, x, t).attr);
    if (m == "guided-backprop") add(out, "attr.guided-backprop", guided_backprop(model, x, t).attr);
    if (m == "deconvnet") add(out, "attr.deconvnet", deconvnet(model, x, t).attr);
    if (m == "ig") {
      IgOptions io;  // as registry.cpp's runner: Gauss-Legendre, black baseline
      io.target = t;
      io.steps = job.method_options.ig_steps;
      const Tensor base = black_baseline(x, norm.mean, norm.std);
      add(out, "attr.ig", integrated_gradients(model, x, base, io).attr);
      add(out, "baseline.ig", base);
    }
  }
}

// "segments" and "fill" for the segment methods on a grid.
void write_segment_inputs(const ProbeJob& job, const Tensor& x, SafetensorsFile& out) {
  const bool any = std::any_of(job.methods.begin(), job.methods.end(), uses_segments);
  if (!(any || job.game) || job.method_options.segmentation != "grid") return;
  const int64_t N = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3);
  const Segments seg = probe_grid(H, W, job.method_options.segments);
  std::vector<int64_t> labels;
  std::vector<float> fills;
  for (int64_t n = 0; n < N; ++n) {
    labels.insert(labels.end(), seg.labels.begin(), seg.labels.end());
    const std::vector<float> f = make_fill(as_image(input_at(x, n)), FillOptions{}).to_vector();
    fills.insert(fills.end(), f.begin(), f.end());
  }
  add_i64(out, "segments", {N, H, W}, labels);
  add_f32(out, "fill", {N, C, H, W}, fills);
}

// "game" [N,2^S]: every coalition's value, coalition m holding player j when bit j is set.
void write_game(Module& model, const ProbeJob& job, const Tensor& x,
                const std::vector<int64_t>& classes, SafetensorsFile& out) {
  const int64_t N = x.size(0), H = x.size(2), W = x.size(3);
  const Segments seg = probe_grid(H, W, job.method_options.segments);
  const int64_t S = seg.count, M = int64_t{1} << S;
  std::vector<uint8_t> z(static_cast<size_t>(M * S));
  for (int64_t m = 0; m < M; ++m) {
    for (int64_t j = 0; j < S; ++j) z[static_cast<size_t>(m * S + j)] = (m >> j) & 1;
  }
  std::vector<float> values(static_cast<size_t>(N * M));
  ImageGameOptions go;
  go.batch = job.method_options.batch;
  for (int64_t n = 0; n < N; ++n) {
    const ValueFn v =
        image_value_fn(model, input_at(x, n), seg, classes[static_cast<size_t>(n)], go);
    v(z, M, values.data() + n * M);
  }
  add_f32(out, "game", {N, M}, values);
}

// Grad-CAM of the whole batch ("cam.map", "cam.low_res"; "ms.cam" with timing_reps).
void write_cam(Module& model, const ProbeJob& job, const Tensor& x, SafetensorsFile& out) {
  CamOptions opt;
  opt.layer = job.cam_layer;
  opt.target = parse_target(job.cam_target);
  const CamResult cam = grad_cam(model, x.detach(), opt);
  add(out, "cam.map", cam.map);
  add(out, "cam.low_res", cam.low_res);
  if (job.timing_reps == 0) return;
  nlohmann::json ms = nlohmann::json::array();
  for (int64_t rep = 0; rep < job.timing_reps; ++rep) {
    const Stopwatch clock;
    (void)grad_cam(model, x.detach(), opt);
    ms.push_back(clock.elapsed_ms());
  }
  out.metadata["ms.cam"] = ms.dump();
}

// SSIM, Pearson, Spearman and HOG similarity of "map_a" vs "map_b" [N,H,W].
void write_similarity(const SafetensorsFile& in, const std::filesystem::path& path,
                      SafetensorsFile& out) {
  const SafetensorsEntry* a = in.find("map_a");
  if (!a || a->shape.size() != 3) {
    throw std::runtime_error(path.string() + ": --similarity needs 'map_a' [N,H,W]");
  }
  const Shape shape = a->shape;
  const int64_t N = shape[0], H = shape[1], W = shape[2];
  const Tensor ta = read_f32(in, path, "map_a", shape), tb = read_f32(in, path, "map_b", shape);
  std::vector<float> ssim, pearson, spearman_v, hog_sim, hog_a, hog_b;
  int64_t F = 0;
  for (int64_t n = 0; n < N; ++n) {
    const float* pa = ta.data<float>() + n * H * W;
    const float* pb = tb.data<float>() + n * H * W;
    const std::vector<float> va(pa, pa + H * W), vb(pb, pb + H * W);
    const eval::Map2d ma = eval::to_map2d(Tensor::from_vector({H, W}, va));
    const eval::Map2d mb = eval::to_map2d(Tensor::from_vector({H, W}, vb));
    ssim.push_back(static_cast<float>(eval::ssim(ma, mb)));
    pearson.push_back(static_cast<float>(eval::pearson(ma.values, mb.values)));
    spearman_v.push_back(static_cast<float>(spearman(va, vb)));
    hog_sim.push_back(static_cast<float>(eval::hog_similarity(ma, mb)));
    const std::vector<double> fa = eval::hog_features(ma), fb = eval::hog_features(mb);
    F = static_cast<int64_t>(fa.size());
    hog_a.insert(hog_a.end(), fa.begin(), fa.end());
    hog_b.insert(hog_b.end(), fb.begin(), fb.end());
  }
  add_f32(out, "ssim", {N}, ssim);
  add_f32(out, "pearson", {N}, pearson);
  add_f32(out, "spearman", {N}, spearman_v);
  add_f32(out, "hog_similarity", {N}, hog_sim);
  add_f32(out, "hog.a", {N, F}, hog_a);
  add_f32(out, "hog.b", {N, F}, hog_b);
}

// The methods' outputs (targets, attributions, maps, segments, game).
void write_methods(Module& model, const ProbeJob& job, const Tensor& x,
                   const data::Normalization& norm, SafetensorsFile& out) {
  std::vector<int64_t> classes;
  {
    NoGradGuard no_grad;
    classes = resolve_target(parse_target(job.target), model(x));
  }
  add_i64(out, "targets", {x.size(0)}, classes);
  MethodOptions opt = job.method_options;
  opt.norm = norm;
  ProbeJob with_norm = job;
  with_norm.method_options = opt;
  write_attributions(model, with_norm, x, classes, norm, out);
  write_maps(model, with_norm, x, classes, out);
  write_segment_inputs(with_norm, x, out);
  if (job.game) write_game(model, with_norm, x, classes, out);
}

}  // namespace

bool is_probe_method(const std::string& name) {
  const auto& known = method_names();
  return name == "feature-ablation" || std::find(known.begin(), known.end(), name) != known.end();
}

namespace {

// The checkpoint's part of the probe: logits (and gradients), Grad-CAM, the methods.
void run_model(const ProbeJob& job, const SafetensorsFile& in, SafetensorsFile& out) {
  const training::LoadedModel lm = training::load_model(job.checkpoint);
  Module& model = *lm.model;
  const SafetensorsEntry* xe = in.find("input");
  if (!xe) throw std::runtime_error(job.input.string() + ": no tensor 'input'");
  Shape x_shape = lm.meta.input_shape;
  x_shape.insert(x_shape.begin(), xe->shape.empty() ? 0 : xe->shape[0]);
  Tensor x = read_f32(in, job.input, "input", x_shape);
  if (job.train_mode) model.train();
  if (job.backward) {
    x.set_requires_grad(true);
    const Tensor logits = model(x);
    const Tensor g = read_f32(in, job.input, "grad_output", logits.shape());
    backward(ops::sum(ops::mul(logits, g)));
    add(out, "logits", logits);
    add(out, "grad.input", x.grad());
    for (const auto& [name, p] : model.named_parameters()) {
      if (job.param_grads && p.grad().defined()) add(out, "grad." + name, p.grad());
    }
  } else {
    NoGradGuard no_grad;
    add(out, "logits", model(x));
  }
  if (!job.cam_layer.empty()) write_cam(model, job, x, out);
  if (!job.methods.empty()) write_methods(model, job, x.detach(), lm.meta.norm, out);
}

}  // namespace

void run_probe(const ProbeJob& job) {
  check_job(job);
  refuse_directory(job.out);
  refuse_existing(job.out, job.overwrite);
  require_parent_directory(job.out, "--out");
  const SafetensorsFile in = read_safetensors(job.input);
  SafetensorsFile out;
  if (!job.checkpoint.empty()) run_model(job, in, out);
  if (job.similarity) write_similarity(in, job.input, out);
  write_safetensors(job.out, out);
}

}  // namespace gb::interp
