// Explaining a range of test images, sharded over the ranks of an MPI job (see explain_range.h).
#include "interp/explain/explain_range.h"

#include <fmt/format.h>

#include <array>
#include <filesystem>
#include <map>
#include <stdexcept>

#include "interp/explain/output_dir.h"
#include "runtime/output_path.h"

namespace gb::interp {
namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

// Before any work, rank 0 checks `out` (empty or new, or overwrite) and that the data set has
// image `last`, and creates `out`; every rank learns the result and throws the same error when
// it failed.
void prepare_out_dir(const ExplainRangeConfig& cfg, ProcessGroup& group) {
  std::string error;
  if (group.is_root()) {
    try {
      check_out_dir(cfg.image.out, cfg.image.overwrite, "its image directories and JSON");
      try {
        check_test_index(cfg.image, cfg.last);
      } catch (const std::invalid_argument& e) {
        throw std::invalid_argument(
            fmt::format("--indices {}-{}: {}", cfg.first, cfg.last, e.what()));
      }
      fs::create_directories(cfg.image.out);
    } catch (const std::exception& e) {
      error = e.what();
    }
  }
  group.broadcast(error);
  if (!error.empty()) throw std::invalid_argument(error);
}

// The per-method means over the images of time and the deletion/insertion AUCs.
json method_means(const json& images) {
  std::map<std::string, std::array<double, 4>> sums;  // time, deletion, insertion, count
  for (const json& image : images) {
    for (const json& m : image.at("methods")) {
      auto& s = sums[m.at("method").get<std::string>()];
      s[0] += m.at("time_ms").get<double>();
      s[1] += m.at("deletion_auc").get<double>();
      s[2] += m.at("insertion_auc").get<double>();
      s[3] += 1;
    }
  }
  json out = json::array();
  for (const json& m : images.at(0).at("methods")) {
    const auto& s = sums[m.at("method").get<std::string>()];
    out.push_back({{"method", m.at("method")},
                   {"mean_time_ms", s[0] / s[3]},
                   {"mean_deletion_auc", s[1] / s[3]},
                   {"mean_insertion_auc", s[2] / s[3]}});
  }
  return out;
}

}  // namespace

json explain_range(const ExplainRangeConfig& cfg) {
  if (cfg.first < 0 || cfg.last < cfg.first) {
    throw std::invalid_argument(
        fmt::format("--indices: expected A-B with 0 <= A <= B, got {}-{}", cfg.first, cfg.last));
  }
  LocalProcessGroup alone;
  ProcessGroup& group = cfg.group ? *cfg.group : alone;
  prepare_out_dir(cfg, group);
  const ShardRange mine = shard_range(cfg.last - cfg.first + 1, group.rank(), group.size());
  json images = json::array();
  for (int64_t k = cfg.first + mine.begin; k < cfg.first + mine.end; ++k) {
    ExplainConfig one = cfg.image;
    one.image.clear();
    one.index = k;
    one.out = cfg.image.out / fmt::format("image_{}", k);
    const ExplainResult r = explain(one);
    json entry = r.json;
    entry["index"] = k;
    entry["directory"] = one.out.filename().string();
    images.push_back(entry);
    if (!cfg.quiet) {
      fmt::print("image {}: predicted {}, {} methods, written to {}\n", k,
                 entry["prediction"]["name"].get<std::string>(), entry["methods"].size(),
                 one.out.string());
    }
  }
  if (group.size() > 1) {
    json all = json::array();
    const std::vector<uint8_t> cbor = json::to_cbor(images);
    for (const std::string& part :
         group.all_gather_strings(std::string(cbor.begin(), cbor.end()))) {
      for (json& image : json::from_cbor(part)) all.push_back(std::move(image));
    }
    images = std::move(all);
  }
  if (!group.is_root()) return images;
  const json summary = {{"checkpoint", cfg.image.checkpoint.string()},
                        {"first", cfg.first},
                        {"last", cfg.last},
                        {"processes", group.size()},
                        {"methods", method_means(images)},
                        {"images", images}};
  write_json_file(cfg.image.out / "explanations.json", summary, /*overwrite=*/true);
  return summary;
}

}  // namespace gb::interp
