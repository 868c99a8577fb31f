// The model builders behind the registry, one per file. Each takes a ModelConfig (validated
// inside) and returns the root module; input [N, cfg.in_channels, H, W] with H = W =
// cfg.image_size, output logits [N, cfg.num_classes]. Prefer build_model() (registry.h).
#pragma once
#include "models/model_config.h"
#include "runtime/module.h"

namespace gb::models {

ModulePtr build_resnet20(const ModelConfig& cfg);   // resnet_cifar.cpp
ModulePtr build_resnet32(const ModelConfig& cfg);   // resnet_cifar.cpp
ModulePtr build_resnet56(const ModelConfig& cfg);   // resnet_cifar.cpp
ModulePtr build_resnet18(const ModelConfig& cfg);   // resnet18.cpp
ModulePtr build_vgg11(const ModelConfig& cfg);      // vgg.cpp
ModulePtr build_vgg16(const ModelConfig& cfg);      // vgg.cpp
ModulePtr build_small_cnn(const ModelConfig& cfg);  // small_cnn.cpp
ModulePtr build_inception(const ModelConfig& cfg);  // inception.cpp
ModulePtr build_airbench(const ModelConfig& cfg);   // airbench.cpp
ModulePtr build_vit(const ModelConfig& cfg);        // vit.cpp

}  // namespace gb::models
