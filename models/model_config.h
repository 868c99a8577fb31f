// ModelConfig: the few numbers that, with a registry name, rebuild a model exactly (classes,
// input channels, image size, width multiplier, and per-conv channel overrides for pruned
// models), plus its JSON form for checkpoint metadata. ChannelPlan turns a config into concrete
// conv widths while a builder runs. Shape letters: C input channels, K output channels.
#pragma once
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>

#include "models/graph/graph_spec.h"

#include <nlohmann/json_fwd.hpp>

namespace gb::models {

struct ModelConfig {
  int64_t num_classes = 10;
  int64_t in_channels = 3;   // C of the input images (3 for CIFAR, 1 for Fashion-MNIST)
  int64_t image_size = 32;   // H = W of the input; models must handle 28 and 32
  float width = 1.0f;        // multiplies every nominal channel width: max(1, round(K * width))
  // Explicit output channels (K) per conv, keyed by the conv's module path as it appears in
  // named_modules() ("layer1.0.conv1", "features.3", "a3.b2.0"). Written by channel pruning so
  // that a pruned checkpoint rebuilds with the right shapes. An override is used as is (width
  // does not apply to it); the BN after that conv and the layers reading it follow. A key that
  // names no conv of the model is an error, and so is an override that breaks a residual add.
  std::map<std::string, int64_t> channels;
  // The graph of model "graph" (an imported model, models/graph/): its nodes and their
  // attributes; empty for the zoo's models.
  std::optional<GraphSpec> graph;

  // Throws std::invalid_argument naming the field when a value is out of range.
  void validate() const;
  bool operator==(const ModelConfig&) const = default;
};

// JSON: {"num_classes":10,"in_channels":3,"image_size":32,"width":1.0,"channels":{...}}, plus
// "graph":{...} (graph_spec.h) for model "graph".
// from_json takes missing fields from the defaults and throws std::invalid_argument for unknown
// fields or wrong types. (This header only forward-declares nlohmann::json: include
// <nlohmann/json.hpp> to convert.) `width` is written in its shortest exact form (0.3, not
// 0.30000001192092896).
void to_json(nlohmann::json& j, const ModelConfig& cfg);
void from_json(const nlohmann::json& j, ModelConfig& cfg);

// Used by builders: hands out conv output widths and checks afterwards that every override in the
// config named a conv the builder made.
class ChannelPlan {
 public:
  explicit ChannelPlan(const ModelConfig& cfg) : cfg_(cfg) {}
  // K for the conv at module path `conv_path`: the override if there is one, else
  // max(1, round(nominal * width)).
  int64_t out(const std::string& conv_path, int64_t nominal);
  // Scaled width without an override (for layers that are not convs).
  int64_t scaled(int64_t nominal) const;
  // Throws std::invalid_argument listing override keys no conv asked for.
  void check_all_used(const std::string& model_name) const;

 private:
  const ModelConfig& cfg_;
  std::set<std::string> used_;
};

}  // namespace gb::models
