// The name -> builder table behind build_model.
#include "models/registry.h"

#include <stdexcept>

#include "models/builders.h"
#include "models/graph/graph_module.h"

namespace gb::models {
namespace {

struct Entry {
  const char* name;
  ModulePtr (*build)(const ModelConfig&);
  const char* description;
};

const std::vector<Entry>& registry() {
  static const std::vector<Entry> entries = {
      {"resnet20", build_resnet20, "CIFAR ResNet-20 (16/32/64, 3 blocks/stage), 0.27M params"},
      {"resnet32", build_resnet32, "CIFAR ResNet-32 (16/32/64, 5 blocks/stage), 0.47M params"},
      {"resnet56", build_resnet56, "CIFAR ResNet-56 (16/32/64, 9 blocks/stage), 0.86M params"},
      {"resnet18", build_resnet18, "ResNet-18, CIFAR stem (64..512, 2 blocks/stage), 11.2M params"},
      {"vgg11", build_vgg11, "VGG-11 with BN, global pool + linear head, 9.2M params"},
      {"vgg16", build_vgg16, "VGG-16 with BN, global pool + linear head, 14.7M params"},
      {"smallcnn", build_small_cnn, "small CNN (32/64/128 convs), 0.09M params, for quick runs"},
      {"inception", build_inception, "GoogLeNet-style inception net for 32x32, 6.2M params"},
      {"airbench", build_airbench,
       "fast-training net (whitened 2x2 stem, 64/256/256 conv groups, GELU), 1.97M params"},
      {"vit", build_vit,
       "vision transformer (patch 4, width 128, 6 pre-norm blocks, 4 heads, MLP 256), 0.81M "
       "params"},
  };
  return entries;
}

// Not in the zoo's list: a model imported from ONNX, rebuilt from the graph its config holds.
const Entry kGraph = {"graph", build_graph_model,
                      "a graph of runtime ops imported from ONNX (the graph is in the checkpoint)"};

const Entry* lookup(const std::string& name) {
  if (name == kGraph.name) return &kGraph;
  for (const auto& e : registry()) {
    if (name == e.name) return &e;
  }
  return nullptr;
}

[[noreturn]] void unknown(const std::string& name) {
  std::string known;
  for (const auto& e : registry()) known += (known.empty() ? "" : ", ") + std::string(e.name);
  throw std::invalid_argument("unknown model '" + name + "'; known: " + known);
}

}  // namespace

std::vector<std::string> model_names() {
  std::vector<std::string> out;
  for (const auto& e : registry()) out.emplace_back(e.name);
  return out;
}

bool has_model(const std::string& name) { return lookup(name) != nullptr; }

std::string model_description(const std::string& name) {
  const Entry* e = lookup(name);
  if (e == nullptr) unknown(name);
  return e->description;
}

std::shared_ptr<Module> build_model(const std::string& name, const ModelConfig& cfg) {
  const Entry* e = lookup(name);
  if (e == nullptr) unknown(name);
  return e->build(cfg);
}

}  // namespace gb::models
