// The pieces the prune, distill and compress jobs share (see job_common.h).
// Shape letters: N images, C channels, H/W image size.
#include "interp/prune/job_common.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <span>
#include <stdexcept>

#include "data/loader.h"
#include "interp/cam.h"
#include "interp/metrics.h"
#include "interp/prune/channel_graph.h"
#include "models/registry.h"
#include "models/training/datasets.h"
#include "models/training/evaluate.h"
#include "models/training/progress.h"
#include "runtime/output_path.h"

namespace gb::prune {
namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

// Refuses an existing output without overwrite and a missing directory, before any work.
void check_output(const fs::path& p, bool overwrite, const char* option) {
  if (p.empty()) return;
  refuse_directory(p);
  refuse_existing(p, overwrite);
  require_parent_directory(p, option);
}

int64_t count_nonzero(const Tensor& t) {
  int64_t n = 0;
  for (float v : t.to_vector()) n += v != 0.0f ? 1 : 0;
  return n;
}

int64_t nonzero_parameters(const Module& m) {
  int64_t n = 0;
  for (const auto& [name, t] : m.named_parameters()) n += count_nonzero(t);
  return n;
}

// MACs with each conv / linear weighted by the density of its weight.
int64_t effective_macs(Module& model, const MacCount& mc) {
  double eff = 0;
  for (const auto& [path, macs] : mc.per_module) {
    Module* m = model.find(path);
    const Tensor w = m != nullptr ? m->local_tensor("weight") : Tensor();
    double density = 1.0;
    if (w.defined() && w.numel() > 0) {
      density = static_cast<double>(count_nonzero(w)) / static_cast<double>(w.numel());
    }
    eff += static_cast<double>(macs) * density;
  }
  return static_cast<int64_t>(std::llround(eff));
}

// Spearman rho of image n's maps in two batches [N,1,H,W].
double image_spearman(const std::vector<float>& a, const std::vector<float>& b, int64_t n,
                      int64_t pixels) {
  const auto off = static_cast<ptrdiff_t>(n * pixels);
  return interp::spearman(std::vector<float>(a.begin() + off, a.begin() + off + pixels),
                          std::vector<float>(b.begin() + off, b.begin() + off + pixels));
}

}  // namespace

void check_job_outputs(const fs::path& out, const fs::path& js, const std::string& input,
                       bool overwrite) {
  if (out.empty()) throw std::runtime_error("no output checkpoint given (--out)");
  check_output(out, overwrite, "--out");
  check_output(js, overwrite, "--json");
  if (!js.empty() && js == out)
    throw std::runtime_error(js.string() + ": --json must not be --out");
  if (fs::exists(out) && fs::exists(input) && fs::equivalent(out, input)) {
    throw std::runtime_error(out.string() + ": --out must not be the input checkpoint");
  }
}

data::Dataset SourceCheckpoint::split(data::Split which, int64_t limit) const {
  data::Dataset ds = training::load_split(data, which, limit);
  training::check_dataset_fits(ds, loaded.meta, path);
  return ds;
}

SourceCheckpoint load_source(const std::string& checkpoint, const std::string& data_option) {
  SourceCheckpoint s;
  s.path = checkpoint;
  s.loaded = training::load_model(checkpoint);
  s.data = data_option.empty() ? s.loaded.meta.training_data : data_option;
  return s;
}

ModelStats measure_model(Module& model, const std::string& name, const models::ModelConfig& cfg,
                         const Shape& chw, bool timing, const training::ThroughputOptions& topt) {
  ModelStats s;
  s.params = model.parameter_count();
  s.nonzero_params = nonzero_parameters(model);
  const MacCount mc = count_macs(model, chw);
  s.macs = mc.total;
  s.effective_macs = effective_macs(model, mc);
  if (timing) {
    auto copy = models::build_model(name, cfg);
    for (const auto& row : training::measure_throughput(*copy, chw, cfg.num_classes, topt)) {
      (row.mode == "train" ? s.train_ips : s.inference_ips) = row.images_per_second;
    }
  }
  return s;
}

json stats_json(const ModelStats& s) {
  return json{{"params", s.params},
              {"nonzero_params", s.nonzero_params},
              {"macs", s.macs},
              {"effective_macs", s.effective_macs},
              {"inference_images_per_second", s.inference_ips},
              {"train_images_per_second", s.train_ips}};
}

CamAgreement cam_agreement(Module& original, Module& changed,
                           const std::vector<interp::CalibrationBatch>& images) {
  std::vector<double> rho;
  for (const auto& batch : images) {
    const interp::CamResult ra = interp::grad_cam(original, batch.images, interp::CamOptions{});
    interp::CamOptions ob;
    ob.target = interp::Target::per_input(ra.classes);
    const interp::CamResult rb = interp::grad_cam(changed, batch.images, ob);
    const int64_t N = ra.map.size(0), P = ra.map.numel() / N;
    const std::vector<float> va = ra.map.to_vector(), vb = rb.map.to_vector();
    for (int64_t n = 0; n < N; ++n) rho.push_back(image_spearman(va, vb, n, P));
  }
  CamAgreement c;
  if (rho.empty()) return c;
  double s = 0;
  for (double v : rho) s += v;
  c.mean = s / static_cast<double>(rho.size());
  double ss = 0;
  for (double v : rho) ss += (v - c.mean) * (v - c.mean);
  c.std = rho.size() > 1 ? std::sqrt(ss / static_cast<double>(rho.size() - 1)) : 0.0;
  return c;
}

std::vector<interp::CalibrationBatch> image_batches(const data::Dataset& ds,
                                                    const data::Normalization& norm, int64_t count,
                                                    int64_t batch) {
  if (count <= 0) return {};  // (a limit of 0 would mean every image)
  data::LoadOptions lo;
  lo.limit = static_cast<size_t>(count);
  lo.balanced = true;
  const std::vector<size_t> idx = data::select_samples(ds.labels, ds.num_classes(), lo);
  data::LoaderConfig lc;
  lc.norm = norm;
  std::vector<interp::CalibrationBatch> out;
  for (size_t b = 0; b < idx.size(); b += static_cast<size_t>(batch)) {
    const size_t e = std::min(idx.size(), b + static_cast<size_t>(batch));
    data::Batch db;
    data::fill_batch(ds, lc, 0, std::span<const size_t>(idx.data() + b, e - b), db);
    Tensor x = Tensor::from_vector({static_cast<int64_t>(e - b), db.channels, db.height, db.width},
                                   db.images);
    out.push_back({x, db.labels});
  }
  return out;
}

std::unique_ptr<training::TrainingLog> open_training_log(const training::TensorBoardSettings& s,
                                                         double epochs) {
  if (s.dir.empty()) return nullptr;
  if (!(epochs > 0)) {
    throw std::invalid_argument(s.dir.string() +
                                ": --tensorboard logs training, and this run trains for 0 epochs");
  }
  return std::make_unique<training::TrainingLog>(s);
}

double accuracy(Module& model, const data::Dataset& ds, const data::Normalization& norm, bool quiet,
                const std::string& label) {
  return training::evaluate(model, ds, norm, 256, quiet, label).accuracy;
}

training::FinetuneResult finetune_with_progress(Module& model,
                                                std::shared_ptr<const data::Dataset> train,
                                                const data::Normalization& norm,
                                                const training::FinetuneConfig& fc,
                                                training::FinetuneHooks hooks, bool quiet,
                                                const std::string& label, FinetuneSummary summary) {
  std::unique_ptr<training::ProgressBar> bar;
  hooks.on_step = [&](int64_t step, int64_t total, double loss, double acc) {
    if (!bar) bar = std::make_unique<training::ProgressBar>(label, total, quiet);
    bar->update(step, loss, acc, step * fc.batch_size);
  };
  const auto r = training::finetune(model, std::move(train), norm, fc, hooks);
  if (!bar) return r;
  if (summary == FinetuneSummary::Loss) {
    bar->finish(fmt::format("loss {:.4f}  {}", r.loss, training::format_duration(r.seconds)));
  } else {
    bar->finish(fmt::format("train loss {:.4f}  acc {:.2f}%  {:.1f} img/s  {}", r.loss,
                            100.0 * r.accuracy, r.images_per_second,
                            training::format_duration(r.seconds)));
  }
  return r;
}

std::string count_str(int64_t v) {
  std::string s = std::to_string(v), out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (i > 0 && (s.size() - i) % 3 == 0) out += ',';
    out += s[i];
  }
  return out;
}

std::string macs_str(int64_t v) { return fmt::format("{:.2f} M", static_cast<double>(v) / 1e6); }
std::string pct(double a) { return a < 0 ? "-" : fmt::format("{:.2f}%", 100.0 * a); }
std::string ips(double v) { return v <= 0 ? "-" : fmt::format("{:.1f}", v); }

std::string ratio(double after, double before) {
  return before > 0 && after > 0 ? fmt::format("{:.2f}x", after / before) : "";
}

std::string table_row(const std::string& name, const std::string& a, const std::string& b,
                      const std::string& c, const std::string& note) {
  return fmt::format("{:<24} {:>12} {:>12} {:>12}   {}\n", name, a, b, c, note);
}

json acc_json(double a) { return a < 0 ? json(nullptr) : json(a); }
json corr_json(double c) { return c < -1.5 ? json(nullptr) : json(c); }

}  // namespace gb::prune
