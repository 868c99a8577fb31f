// ModelConfig validation and JSON form; ChannelPlan's width rounding and override bookkeeping.
#include "models/model_config.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <stdexcept>
#include <string>

#include <nlohmann/json.hpp>

namespace gb::models {

void ModelConfig::validate() const {
  const auto fail = [](const std::string& what) {
    throw std::invalid_argument("ModelConfig: " + what);
  };
  if (num_classes < 1) fail("num_classes must be >= 1, got " + std::to_string(num_classes));
  if (in_channels < 1) fail("in_channels must be >= 1, got " + std::to_string(in_channels));
  if (image_size < 1) fail("image_size must be >= 1, got " + std::to_string(image_size));
  if (!(width > 0.0f) || !std::isfinite(width)) {
    fail("width must be a positive finite number, got " + std::to_string(width));
  }
  for (const auto& [name, k] : channels) {
    if (k < 1) fail("channels['" + name + "'] must be >= 1, got " + std::to_string(k));
  }
}

namespace {
// The double with the shortest decimal form that reads back as `f` (0.3f -> 0.3, not
// 0.30000001192092896), so the JSON stays readable and still round-trips exactly.
double shortest(float f) {
  char buf[32];
  const auto res = std::to_chars(buf, buf + sizeof buf, f);
  return std::stod(std::string(buf, res.ptr));
}
}  // namespace

void to_json(nlohmann::json& j, const ModelConfig& cfg) {
  j = nlohmann::json{{"num_classes", cfg.num_classes},
                     {"in_channels", cfg.in_channels},
                     {"image_size", cfg.image_size},
                     {"width", std::isfinite(cfg.width) ? shortest(cfg.width) : 0.0},
                     {"channels", cfg.channels}};
  if (cfg.graph) j["graph"] = *cfg.graph;
}

void from_json(const nlohmann::json& j, ModelConfig& cfg) {
  if (!j.is_object()) throw std::invalid_argument("ModelConfig JSON must be an object");
  for (const auto& [key, value] : j.items()) {
    if (key != "num_classes" && key != "in_channels" && key != "image_size" && key != "width" &&
        key != "channels" && key != "graph") {
      throw std::invalid_argument("ModelConfig JSON: unknown field '" + key + "'");
    }
  }
  ModelConfig out;
  try {
    out.num_classes = j.value("num_classes", out.num_classes);
    out.in_channels = j.value("in_channels", out.in_channels);
    out.image_size = j.value("image_size", out.image_size);
    out.width = j.value("width", out.width);
    if (j.contains("channels")) {
      out.channels = j.at("channels").get<std::map<std::string, int64_t>>();
    }
    if (j.contains("graph")) out.graph = j.at("graph").get<GraphSpec>();
  } catch (const nlohmann::json::exception& e) {
    throw std::invalid_argument(std::string("ModelConfig JSON: ") + e.what());
  }
  cfg = std::move(out);
}

int64_t ChannelPlan::scaled(int64_t nominal) const {
  const auto k = static_cast<int64_t>(std::lround(static_cast<double>(nominal) * cfg_.width));
  return std::max<int64_t>(1, k);
}

int64_t ChannelPlan::out(const std::string& conv_path, int64_t nominal) {
  used_.insert(conv_path);
  const auto it = cfg_.channels.find(conv_path);
  return it != cfg_.channels.end() ? it->second : scaled(nominal);
}

void ChannelPlan::check_all_used(const std::string& model_name) const {
  std::string unknown;
  for (const auto& [name, k] : cfg_.channels) {
    if (!used_.contains(name)) unknown += (unknown.empty() ? "'" : ", '") + name + "'";
  }
  if (!unknown.empty()) {
    throw std::invalid_argument("model '" + model_name + "': channel overrides name no conv: " +
                                unknown);
  }
}

}  // namespace gb::models
