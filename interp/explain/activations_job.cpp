// `glassbox activations`: checks, the test images, channel scores of image K, the top-activating
// images per chosen channel, feature visualisations, pictures and JSON (see activations_job.h).
// Shape letters: N images, C channels, H/W image size, K channels of the layer.
#include "interp/explain/activations_job.h"

#include <fmt/format.h>

#include <algorithm>
#include <numeric>
#include <stdexcept>

#include "data/dataset.h"
#include "interp/cam.h"
#include "interp/explain/output_dir.h"
#include "interp/job_pictures.h"
#include "interp/visualize.h"
#include "models/training/checkpoint_meta.h"
#include "models/training/datasets.h"
#include "runtime/ops.h"

namespace gb::interp {
namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

constexpr std::string_view kFiles = "the files activations writes there";

void check_config(const ActivationsConfig& cfg) {
  if (cfg.index < 0) throw std::invalid_argument("--index must be >= 0");
  if (cfg.count < 1 || cfg.top < 1 || cfg.show < 1) {
    throw std::invalid_argument("--count, --top and --show must be at least 1");
  }
  if (cfg.vis.steps < 1) throw std::invalid_argument("--steps must be at least 1");
  check_out_dir(cfg.out, cfg.overwrite, kFiles);
}

// The whole test set, in file order (the indices explain --index takes).
data::Dataset test_images(const ActivationsConfig& cfg, const training::LoadedModel& lm) {
  const std::string data =
      cfg.data.empty() ? training::existing_training_data(lm.meta, cfg.checkpoint) : cfg.data;
  data::Dataset ds = data.empty() ? data::load_fashion_mnist(data::Split::Test)
                                  : data::load_dataset(data, data::Split::Test);
  if (static_cast<int64_t>(ds.size()) <= cfg.index) {
    throw std::invalid_argument(
        fmt::format("--index {}: {} has only {} test images", cfg.index, ds.source, ds.size()));
  }
  training::check_images_fit(ds, lm.meta.input_shape, cfg.checkpoint);
  return ds;
}

// `count` test-set indices taken round-robin over the classes (data::select_samples), so a
// class-sorted set is still scanned across its classes; ascending.
std::vector<int64_t> balanced_indices(const data::Dataset& ds, int64_t count) {
  data::LoadOptions lo;
  lo.limit = static_cast<size_t>(count);
  lo.balanced = true;
  const std::vector<size_t> picked = data::select_samples(ds.labels, ds.classes.size(), lo);
  std::vector<int64_t> out(picked.begin(), picked.end());
  std::sort(out.begin(), out.end());
  return out;
}

// Images `indices` of ds, normalised, as [n,C,H,W].
Tensor image_batch(const data::Dataset& ds, const data::Normalization& norm,
                   const std::vector<int64_t>& indices) {
  const auto per = static_cast<int64_t>(ds.image_size());
  std::vector<float> v(indices.size() * static_cast<size_t>(per));
  for (size_t j = 0; j < indices.size(); ++j) {
    data::normalize_image(ds.image(static_cast<size_t>(indices[j])), ds.channels, ds.height,
                          ds.width, norm, v.data() + static_cast<int64_t>(j) * per);
  }
  return Tensor::from_vector(
      {static_cast<int64_t>(indices.size()), ds.channels, ds.height, ds.width}, v);
}

// The chosen channels, or the `show` channels with the highest score on image K.
std::vector<int64_t> chosen_channels(const ActivationsConfig& cfg, const std::vector<float>& s) {
  const auto K = static_cast<int64_t>(s.size());
  for (int64_t c : cfg.channels) {
    if (c < 0 || c >= K) {
      throw std::invalid_argument(
          fmt::format("--channels: {} is out of range; the layer has {} channels", c, K));
    }
  }
  if (!cfg.channels.empty()) return cfg.channels;
  std::vector<int64_t> order(static_cast<size_t>(K));
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return s[a] > s[b]; });
  order.resize(static_cast<size_t>(std::min(K, cfg.show)));
  return order;
}

struct Pictures {
  std::vector<std::pair<std::string, Image>> pngs;
  json channels = json::array();
  json features = json::array();
};

Image picture(const Tensor& x, const data::Normalization& norm, int64_t factor) {
  return upscale_nearest(image_from_tensor(x, norm.mean, norm.std), factor);
}

// A feature visualisation as pixels, contrast-stretched to [0,1] over all its channels (the
// optimised inputs stay close to the data mean, so they would look flat).
Image stretched_picture(const Tensor& x, const data::Normalization& norm, int64_t factor) {
  const int64_t C = x.size(1), H = x.size(2), W = x.size(3);
  std::vector<float> v = x.to_vector();
  for (int64_t c = 0; c < C; ++c) {
    for (int64_t i = c * H * W; i < (c + 1) * H * W; ++i) v[i] = v[i] * norm.std[c] + norm.mean[c];
  }
  const std::vector<float> t = normalize_minmax(v.data(), v.size());
  return upscale_nearest(image_from_chw(t.data(), C, H, W), factor);
}

// top.png: one row per chosen channel, its top images left to right.
void draw_top(const data::Dataset& ds, const training::LoadedModel& lm,
              const std::vector<ChannelTop>& tops, const std::vector<int64_t>& chosen,
              int64_t factor, int64_t top, Pictures& p) {
  std::vector<Image> tiles;
  std::vector<std::string> labels;
  for (int64_t c : chosen) {
    json images = json::array();
    for (const auto& [i, score] : tops[static_cast<size_t>(c)].images) {
      tiles.push_back(picture(image_batch(ds, lm.meta.norm, {i}), lm.meta.norm, factor));
      labels.push_back(fmt::format("ch{} #{} {:.2f}", c, i, score));
      const int64_t label = ds.labels[static_cast<size_t>(i)];
      images.push_back({{"index", i},
                        {"score", score},
                        {"label", label},
                        {"label_name", ds.classes.at(static_cast<size_t>(label))}});
    }
    p.channels.push_back({{"channel", c}, {"top_images", images}});
  }
  SheetOptions so;
  so.columns = top;
  p.pngs.emplace_back("top.png", make_sheet(tiles, labels, so));
}

// features.png: activation maximisation of each chosen channel, then of each class asked for.
void draw_features(Module& model, const ActivationsConfig& cfg, const std::string& layer,
                   const training::LoadedModel& lm, const std::vector<int64_t>& chosen,
                   int64_t factor, Pictures& p) {
  std::vector<Image> tiles;
  std::vector<std::string> labels;
  const auto run = [&](const std::string& on, const std::vector<int64_t>& units) {
    FeatureVisOptions o = cfg.vis;
    o.layer = on;
    o.units = units;
    for (const FeatureVis& fv : maximise_activation(model, lm.meta.input_shape, lm.meta.norm, o)) {
      const std::string name =
          on.empty() ? class_name(lm.meta.classes, fv.unit) : fmt::format("ch{}", fv.unit);
      tiles.push_back(stretched_picture(fv.image, lm.meta.norm, factor));
      labels.push_back(fmt::format("{} {:.2f}", name, fv.objective.back()));
      p.features.push_back({{"layer", on},
                            {"unit", fv.unit},
                            {"name", name},
                            {"objective_first", fv.objective.front()},
                            {"objective_last", fv.objective.back()}});
    }
  };
  run(layer, chosen);
  run("", cfg.classes);
  if (tiles.empty()) return;
  SheetOptions so;
  so.columns = std::min<int64_t>(static_cast<int64_t>(tiles.size()), 8);
  p.pngs.emplace_back("features.png", make_sheet(tiles, labels, so));
}

json vis_json(const FeatureVisOptions& v) {
  return {{"steps", v.steps},           {"lr", v.lr},
          {"jitter", v.jitter},         {"blur_sigma", v.blur_sigma},
          {"blur_every", v.blur_every}, {"tv_weight", v.tv_weight},
          {"l2_weight", v.l2_weight},   {"seed", v.seed}};
}

}  // namespace

ActivationsResult activations(const ActivationsConfig& cfg) {
  check_config(cfg);
  training::LoadedModel lm = training::load_model(cfg.checkpoint);
  Module& model = *lm.model;
  model.to(parse_device(cfg.device));
  model.eval();
  const data::Dataset ds = test_images(cfg, lm);
  const Tensor x = image_batch(ds, lm.meta.norm, {cfg.index});
  const std::string layer = cfg.layer.empty() ? default_cam_layer(model, x) : cfg.layer;
  const Tensor act = layer_output(model, x, layer);
  const std::vector<float> scores = channel_scores(act).front();
  const std::vector<int64_t> chosen = chosen_channels(cfg, scores);
  FeatureVisOptions class_check = cfg.vis;  // checked before the long work
  class_check.units = cfg.classes;
  check_feature_units(model, lm.meta.input_shape, class_check);
  const int64_t factor = display_factor(x.size(2), x.size(3), 96);
  Pictures p;
  p.pngs.emplace_back("input.png",
                      picture(x, lm.meta.norm, display_factor(x.size(2), x.size(3), 256)));
  if (act.dim() == 4) {
    GridOptions go;
    go.scale = std::max<int64_t>(1, 64 / act.size(2));
    p.pngs.emplace_back("channels.png", channel_grid(act, go));
  }
  const std::vector<int64_t> scanned = balanced_indices(ds, cfg.count);
  const auto count = static_cast<int64_t>(scanned.size());
  auto tops = top_activating(
      model, layer, count,
      [&](int64_t b, int64_t e) {
        return image_batch(ds, lm.meta.norm, {scanned.begin() + b, scanned.begin() + e});
      },
      cfg.top);
  for (auto& t : tops) {  // positions in `scanned` -> test-set indices
    for (auto& im : t.images) im.first = scanned[static_cast<size_t>(im.first)];
  }
  draw_top(ds, lm, tops, chosen, factor, cfg.top, p);
  if (cfg.features)
    draw_features(model, cfg, layer, lm, chosen, factor, p);
  else if (!cfg.classes.empty())
    draw_features(model, cfg, layer, lm, {}, factor, p);

  ActivationsResult r;
  const int64_t label = ds.labels[static_cast<size_t>(cfg.index)];
  r.json = {{"checkpoint", cfg.checkpoint.string()},
            {"model", lm.meta.model_name},
            {"data", ds.source},
            {"image",
             {{"index", cfg.index},
              {"label", label},
              {"label_name", ds.classes.at(static_cast<size_t>(label))}}},
            {"layer", layer},
            {"layer_output_shape", act.shape()},
            {"channel_scores", scores},
            {"images_scanned", count},
            {"channels", p.channels},
            {"feature_visualisation", vis_json(cfg.vis)},
            {"features", p.features}};
  r.files = write_output_directory(cfg.out, cfg.overwrite, p.pngs, "activations.json", r.json, {},
                                   kFiles);
  return r;
}

std::string format_activations_summary(const ActivationsResult& r) {
  const json& j = r.json;
  std::string s =
      fmt::format("{} layer {} (output {}), test image {} ({})\n", j["model"].get<std::string>(),
                  j["layer"].get<std::string>(), j["layer_output_shape"].dump(),
                  j["image"]["index"].get<int64_t>(), j["image"]["label_name"].get<std::string>());
  for (const auto& c : j["channels"]) {
    std::string tops;
    for (const auto& im : c["top_images"]) tops += fmt::format(" #{}", im["index"].get<int64_t>());
    s += fmt::format("  channel {:>4}: top images{}\n", c["channel"].get<int64_t>(), tops);
  }
  for (const auto& f : j["features"]) {
    s += fmt::format("  {:<12} activation maximised {:.3f} -> {:.3f}\n",
                     f["name"].get<std::string>(), f["objective_first"].get<double>(),
                     f["objective_last"].get<double>());
  }
  if (!r.files.empty()) {
    s += fmt::format("wrote {} files to {}\n", r.files.size(),
                     r.files.front().parent_path().string());
  }
  return s;
}

}  // namespace gb::interp
