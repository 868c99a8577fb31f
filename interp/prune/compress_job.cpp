// `glassbox compress`: checkpoint in, k-means weight sharing, optional fine-tuning with the
// clusters re-tied, checkpoint out, table and JSON (see compress_job.h).
#include "interp/prune/compress_job.h"

#include <fmt/format.h>

#include <algorithm>
#include <memory>
#include <stdexcept>

#include "runtime/output_path.h"

namespace gb::prune {
using json = nlohmann::json;

namespace {

void check_compress_config(const CompressConfig& cfg) {
  if (cfg.kmeans.k < 1 || cfg.kmeans.k > 65536) {
    throw std::invalid_argument("--weight-sharing must be in [1, 65536], got " +
                                std::to_string(cfg.kmeans.k));
  }
  if (cfg.finetune.epochs < 0) throw std::invalid_argument("--finetune-epochs must be >= 0");
  check_job_outputs(cfg.out, cfg.json, cfg.checkpoint, cfg.overwrite);
}

// The report's per-layer rows and the checkpoint's "compression" section.
json record_layers(const SharingResult& shared, CompressReport& r) {
  r.bits_dense = shared.bits_dense;
  r.bits_shared = shared.bits_shared;
  json layers = json::array();
  for (const auto& L : shared.layers) {
    SharedRow sr{L.param, L.weight.numel(), static_cast<int64_t>(L.book.centroids.size()),
                 distinct_values(L.weight), L.rel_error};
    r.layers.push_back(sr);
    layers.push_back({{"param", sr.param}, {"clusters", sr.clusters}, {"rel_error", sr.rel_error}});
  }
  return layers;
}

json compression_section(const CompressConfig& cfg, const CompressReport& r, const json& layers) {
  return json{{"weight_sharing", cfg.kmeans.k},
              {"init", cfg.kmeans.kmeans_pp ? "kmeans++" : "linear"},
              {"seed", cfg.kmeans.seed},
              {"finetune_epochs", cfg.finetune.epochs},
              {"bits_dense", r.bits_dense},
              {"bits_shared", r.bits_shared},
              {"accuracy_before", r.accuracy_before},
              {"accuracy_shared", r.accuracy_shared},
              {"accuracy_finetuned", acc_json(r.accuracy_finetuned)},
              {"source", cfg.checkpoint},
              {"layers", layers}};
}

}  // namespace

CompressReport run_compress(const CompressConfig& cfg) {
  check_compress_config(cfg);
  const auto log = open_training_log(cfg.tensorboard, cfg.finetune.epochs);
  const SourceCheckpoint source = load_source(cfg.checkpoint, cfg.data);
  Module& model = *source.loaded.model;
  const data::Normalization& norm = source.loaded.meta.norm;
  const data::Dataset test = source.split(data::Split::Test, cfg.limit_test);
  CompressReport r;
  r.model_name = source.loaded.meta.model_name;
  r.checkpoint = cfg.checkpoint;
  r.out = cfg.out.string();
  r.k = cfg.kmeans.k;
  r.test_images = static_cast<int64_t>(test.size());
  r.accuracy_before = accuracy(model, test, norm, cfg.quiet, "original");
  SharingResult shared = share_weights(model, cfg.kmeans);
  r.accuracy_shared = accuracy(model, test, norm, cfg.quiet, "shared");
  if (cfg.finetune.epochs > 0) {
    const auto train =
        std::make_shared<const data::Dataset>(source.split(data::Split::Train, cfg.limit_train));
    training::FinetuneHooks hooks;
    hooks.after_step = [&shared] { retie(shared); };
    hooks.log = log.get();
    if (log) log->set_test_data(&test, norm);
    finetune_with_progress(model, train, norm, cfg.finetune, hooks, cfg.quiet, "fine-tune");
    r.accuracy_finetuned = accuracy(model, test, norm, cfg.quiet, "fine-tuned");
  }
  const json layers = record_layers(shared, r);
  training::save_model(
      cfg.out, model,
      training::compressed_meta(source.loaded.meta, compression_section(cfg, r, layers)));
  if (!cfg.json.empty()) write_json_file(cfg.json, compress_report_json(r), cfg.overwrite);
  return r;
}

std::string format_compress_report(const CompressReport& r) {
  std::string out = fmt::format(
      "\nweight sharing of {}: at most {} values per conv/linear weight\n\n", r.model_name, r.k);
  size_t w = 5;
  for (const auto& L : r.layers) w = std::max(w, L.param.size());
  out += fmt::format("{:<{}} {:>10} {:>9} {:>9} {:>10}\n", "weight", w, "numel", "clusters",
                     "distinct", "rel. error");
  for (const auto& L : r.layers) {
    out += fmt::format("{:<{}} {:>10} {:>9} {:>9} {:>10.4f}\n", L.param, w, L.numel, L.clusters,
                       L.distinct, L.rel_error);
  }
  out += fmt::format(
      "\nshared weights: {:.1f} KiB dense -> {:.1f} KiB as codebooks + indices ({:.1f}x smaller)\n",
      static_cast<double>(r.bits_dense) / 8192.0, static_cast<double>(r.bits_shared) / 8192.0,
      r.bits_shared > 0 ? static_cast<double>(r.bits_dense) / static_cast<double>(r.bits_shared)
                        : 0.0);
  out += fmt::format("test accuracy ({} images): original {}, shared {}, fine-tuned {}\n",
                     r.test_images, pct(r.accuracy_before), pct(r.accuracy_shared),
                     pct(r.accuracy_finetuned));
  out += fmt::format("wrote {} (dense safetensors holding the shared values)\n", r.out);
  return out;
}

json compress_report_json(const CompressReport& r) {
  json layers = json::array();
  for (const auto& L : r.layers) {
    layers.push_back({{"param", L.param},
                      {"numel", L.numel},
                      {"clusters", L.clusters},
                      {"distinct", L.distinct},
                      {"rel_error", L.rel_error}});
  }
  return json{{"model", r.model_name},
              {"checkpoint", r.checkpoint},
              {"out", r.out},
              {"weight_sharing", r.k},
              {"accuracy_before", acc_json(r.accuracy_before)},
              {"accuracy_shared", acc_json(r.accuracy_shared)},
              {"accuracy_finetuned", acc_json(r.accuracy_finetuned)},
              {"test_images", r.test_images},
              {"bits_dense", r.bits_dense},
              {"bits_shared", r.bits_shared},
              {"layers", layers}};
}

}  // namespace gb::prune
