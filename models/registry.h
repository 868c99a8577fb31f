// The model registry: builds a model by name from a ModelConfig. Models take images
// [N, cfg.in_channels, H, W] (H = W = cfg.image_size; 28 and 32 both work) and return logits
// [N, cfg.num_classes]. A checkpoint stores {"model": name, "config": to_json(cfg)} so that
// build_model(name, cfg) rebuilds the same parameter names and shapes.
#pragma once
#include <string>
#include <vector>

#include "models/model_config.h"
#include "runtime/module.h"

namespace gb::models {

// The zoo's names in registry order: resnet20, resnet32, resnet56, resnet18, vgg11, vgg16,
// smallcnn, inception, airbench. build_model also takes "graph", a model imported from ONNX whose
// nodes are in cfg.graph (models/graph/graph_module.h); it is not in this list.
std::vector<std::string> model_names();
bool has_model(const std::string& name);
// One line about the model (architecture and nominal parameter count).
std::string model_description(const std::string& name);

// Builds model `name` with freshly initialised parameters (drawn from init_generator(), so
// manual_seed makes them reproducible), in training mode.
// Throws std::invalid_argument("unknown model 'x'; known: a, b, ...") for an unknown name, and
// std::invalid_argument for an invalid config or channel override.
std::shared_ptr<Module> build_model(const std::string& name, const ModelConfig& cfg = {});

}  // namespace gb::models
