// `glassbox explain`: load a checkpoint and one image, run the chosen registry methods, score
// each map with deletion/insertion curves, draw heat maps and a sheet, and write everything
// through a staging directory so an error never leaves partial output (see explain_job.h).
// Shape letters: C channels, H/W image size, K classes.
#include "interp/explain/explain_job.h"

#include <fmt/format.h>

#include <algorithm>
#include <fstream>
#include <stdexcept>

#include "data/dataset.h"
#include "data/image.h"
#include "interp/explain/output_dir.h"
#include "interp/job_pictures.h"
#include "interp/target.h"
#include "interp/visualize.h"
#include "models/training/checkpoint_meta.h"
#include "models/training/datasets.h"
#include "runtime/autograd.h"
#include "runtime/ops.h"
#include "runtime/output_path.h"

namespace gb::interp {
namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

constexpr std::string_view kExplainFiles = "the files explain writes there";

struct Input {
  Tensor x;     // [1,C,H,W] normalised
  json source;  // how it was obtained
};

std::string join_names(const std::vector<std::string>& v) {
  std::string out;
  for (size_t i = 0; i < v.size(); ++i) out += (i ? ", " : "") + v[i];
  return out;
}

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

// Test image cfg.index of the data set (file order: only the first index+1 are decoded).
// The test images 0..index of cfg's data set (the checkpoint's by default).
// throws: std::invalid_argument when it has no image `index`.
data::Dataset test_images_up_to(const ExplainConfig& cfg, const training::CheckpointMeta& meta,
                                int64_t index) {
  const std::string data =
      cfg.data.empty() ? training::existing_training_data(meta, cfg.checkpoint) : cfg.data;
  data::LoadOptions lo;
  lo.limit = static_cast<size_t>(index) + 1;
  data::Dataset ds = data.empty() ? data::load_fashion_mnist(data::Split::Test, lo)
                                  : data::load_dataset(data, data::Split::Test, lo);
  if (static_cast<int64_t>(ds.size()) <= index) {
    throw std::invalid_argument(
        fmt::format("--index {}: {} has only {} test images", index, ds.source, ds.size()));
  }
  return ds;
}

Input load_test_image(const ExplainConfig& cfg, const training::LoadedModel& lm) {
  const Shape& chw = lm.meta.input_shape;
  const data::Dataset ds = test_images_up_to(cfg, lm.meta, cfg.index);
  training::check_images_fit(ds, chw, cfg.checkpoint);
  const auto k = static_cast<size_t>(cfg.index);
  Input in;
  in.x = normalised(ds.image(k), ds.channels, ds.height, ds.width, lm.meta.norm);
  const int64_t label = ds.labels[k];
  in.source = {{"kind", "test-index"},
               {"data", ds.source},
               {"index", cfg.index},
               {"label", label},
               {"label_name", ds.classes.at(static_cast<size_t>(label))}};
  return in;
}

// An image file; one of the wrong size or channel count is resized / converted with --resize.
Input load_image_file(const ExplainConfig& cfg, const training::LoadedModel& lm) {
  const Shape& chw = lm.meta.input_shape;
  const int C = static_cast<int>(chw[0]), H = static_cast<int>(chw[1]),
            W = static_cast<int>(chw[2]);
  const std::string path = cfg.image.string();
  data::Image img = data::load_image(path, 0);
  Input in;
  in.source = {
      {"kind", "file"}, {"path", path}, {"original_shape", {img.channels, img.height, img.width}}};
  if (img.channels == C && img.height == H && img.width == W) {
    in.x = normalised(img.pixels.data(), C, H, W, lm.meta.norm);
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
  Tensor full = normalised(img.pixels.data(), C, img.height, img.width, lm.meta.norm);
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
    const Target t = parse_target(text);
    k = t.classes.at(0);
  } catch (const std::invalid_argument&) {
    throw std::invalid_argument("--target '" + text +
                                "': expected 'pred', a class index or a class name (" +
                                join_names(classes) + ")");
  }
  if (k >= K) {
    throw std::invalid_argument(
        fmt::format("--target {}: the model has {} classes (0..{})", k, K, K - 1));
  }
  return k;
}

// The option checks of explain, before anything is loaded; returns the output directory.
fs::path check_config(const ExplainConfig& cfg) {
  if (cfg.methods.empty()) {
    throw std::invalid_argument("no method given; known methods: " + method_list_text());
  }
  for (size_t i = 0; i < cfg.methods.size(); ++i) {
    parse_method_list(cfg.methods[i]);  // validates each name
    if (std::find(cfg.methods.begin(), cfg.methods.begin() + static_cast<ptrdiff_t>(i),
                  cfg.methods[i]) != cfg.methods.begin() + static_cast<ptrdiff_t>(i)) {
      throw std::invalid_argument("--method: '" + cfg.methods[i] + "' is given twice");
    }
  }
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
  check_out_dir(out, cfg.overwrite, kExplainFiles);
  return out;
}

// The pictures and explanation.json entries of every method, computed before anything is written.
struct Explained {
  std::vector<std::pair<std::string, Image>> pngs;  // file name, picture
  std::vector<Image> tiles;                         // of the sheet
  std::vector<std::string> labels;                  // of the sheet's tiles
  json methods = json::array();
  MapArchive maps;  // the raw maps (kept only with save_maps)
};

// What produced a map, for the map archive: the method's JSON entry without its file name.
json map_meta(const json& method_entry, int64_t target, const std::string& target_name,
              const MethodOptions& mo) {
  json m = method_entry;
  m.erase("file");
  m["target"] = target;
  m["target_name"] = target_name;
  m["options"] = {{"layer", mo.layer},
                  {"seed", mo.seed},
                  {"samples", mo.samples},
                  {"segments", mo.segments},
                  {"segmentation", mo.segmentation},
                  {"ig_steps", mo.ig_steps}};
  return m;
}

// Writes the archive into `dir` in `format`; returns the file names.
std::vector<std::string> write_map_files(const MapArchive& maps, MapFormat format,
                                         const fs::path& dir) {
  std::vector<std::string> names;
  if (format != MapFormat::Npy) {
    maps.write_safetensors_file(dir / "maps.safetensors");
    names.push_back("maps.safetensors");
  }
  if (format != MapFormat::Safetensors) {
    maps.write_npy_files(dir);
    for (auto& n : maps.npy_file_names()) names.push_back(std::move(n));
  }
  return names;
}

// One method: its map, AUCs, JSON entry, heat map and sheet tile.
void explain_with(Module& model, const std::string& name, const Tensor& x, int64_t target,
                  const std::string& target_name, const MethodOptions& mo, const Image& base,
                  int64_t factor, bool keep_maps, Explained& e) {
  const MethodOutput m = run_method(model, name, x, target, mo);
  const MapAucs auc = map_aucs(model, x, m.map, target, mo.batch);
  json j = {
      {"method", name},        {"file", name + ".png"},        {"time_ms", m.ms},
      {"signed", m.is_signed}, {"deletion_auc", auc.deletion}, {"insertion_auc", auc.insertion}};
  for (const auto& [k, v] : m.info.items()) j[k] = v;
  for (const auto& [k, v] : m.scores) j[k] = v;
  if (!is_segment_method(name)) j["top_pixels"] = top_pixels(m.map, 5);
  e.methods.push_back(j);
  if (keep_maps) {
    e.maps.add_f32(name, {m.map.size(0), m.map.size(1)}, m.map.to_vector(),
                   map_meta(j, target, target_name, mo));
  }
  const Image ov = heat_overlay(base, m, factor);
  e.pngs.emplace_back(name + ".png", ov);
  e.tiles.push_back(ov);
  e.labels.push_back(fmt::format("{} del {:.2f} ins {:.2f}", name, auc.deletion, auc.insertion));
}

json class_json(const std::vector<std::string>& classes, const std::vector<float>& prob,
                int64_t k) {
  return {{"class", k},
          {"name", class_name(classes, k)},
          {"probability", prob[static_cast<size_t>(k)]}};
}

}  // namespace

void check_test_index(const ExplainConfig& cfg, int64_t index) {
  const training::LoadedModel lm = training::load_model(cfg.checkpoint);
  test_images_up_to(cfg, lm.meta, index);
}

ExplainResult explain(const ExplainConfig& cfg) {
  const fs::path out = check_config(cfg);
  training::LoadedModel lm = training::load_model(cfg.checkpoint);
  Module& model = *lm.model;
  model.to(parse_device(cfg.device));  // inputs and maps stay on the host
  model.eval();
  const Input in = cfg.index >= 0 ? load_test_image(cfg, lm) : load_image_file(cfg, lm);
  const Tensor& x = in.x;
  const std::vector<float> prob = class_probabilities(model, x);
  const auto K = static_cast<int64_t>(prob.size());
  const auto pred = static_cast<int64_t>(std::max_element(prob.begin(), prob.end()) - prob.begin());
  const int64_t target = resolve_target(cfg.target, lm.meta.classes, K, pred);

  MethodOptions mo = cfg.method;
  mo.norm = lm.meta.norm;
  const int64_t factor = display_factor(x.size(2), x.size(3), 256);
  const Image base =
      upscale_nearest(image_from_tensor(x, lm.meta.norm.mean, lm.meta.norm.std), factor);
  Explained e;
  e.pngs.emplace_back("input.png", base);
  e.tiles.push_back(base);
  e.labels.push_back(fmt::format("input: {} {:.0f}%", class_name(lm.meta.classes, pred),
                                 100.0 * prob[static_cast<size_t>(pred)]));
  const std::string target_name = class_name(lm.meta.classes, target);
  e.maps.add_f32("input", {x.size(1), x.size(2), x.size(3)}, x.to_vector(),
                 {{"normalisation", {{"mean", lm.meta.norm.mean}, {"std", lm.meta.norm.std}}}});
  for (const auto& name : cfg.methods) {
    explain_with(model, name, x, target, target_name, mo, base, factor, cfg.save_maps, e);
  }
  SheetOptions so;
  so.columns = std::min<int64_t>(static_cast<int64_t>(e.tiles.size()), 5);
  e.pngs.emplace_back("sheet.png", make_sheet(e.tiles, e.labels, so));

  ExplainResult r;
  r.json = {{"checkpoint", cfg.checkpoint.string()},
            {"model", lm.meta.model_name},
            {"image", in.source},
            {"input_shape", lm.meta.input_shape},
            {"prediction", class_json(lm.meta.classes, prob, pred)},
            {"target", class_json(lm.meta.classes, prob, target)},
            {"seed", mo.seed},
            {"segments_requested", mo.segments},
            {"segmentation", mo.segmentation},
            {"mem_budget_mb", mo.batch.mem_budget_bytes >> 20},
            {"precision", forward_precision_name(mo.batch.precision)},
            {"methods", e.methods}};
  r.files = write_output_directory(
      out, cfg.overwrite, e.pngs, "explanation.json", r.json,
      [&](const fs::path& dir) {
        return cfg.save_maps ? write_map_files(e.maps, cfg.maps_format, dir)
                             : std::vector<std::string>{};
      },
      kExplainFiles);
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

}  // namespace gb::interp
