// Zoo models for the suites that need real architectures with non-trivial batch norms (relevance,
// incremental inference): built at a small width from a fixed seed, every batch norm given random
// scales, shifts and running statistics (fresh ones are the identity, which hides folding bugs),
// in eval mode. Shape letters: none.
#pragma once
#include <memory>
#include <string>

#include "models/registry.h"
#include "runtime/rng.h"

namespace gb::testing {

inline std::shared_ptr<gb::Module> zoo_model_random_bn(const std::string& name, float width) {
  gb::manual_seed(7);
  gb::models::ModelConfig cfg;
  cfg.width = width;
  auto m = gb::models::build_model(name, cfg);
  gb::Generator gen(99);
  for (auto& [pname, p] : m->named_parameters()) {
    if (pname.find("bn") == std::string::npos && pname.find("norm") == std::string::npos) continue;
    const bool weight = pname.size() >= 6 && pname.substr(pname.size() - 6) == "weight";
    p.copy_(weight ? gb::Tensor::uniform(p.shape(), gen, 0.5f, 1.5f)
                   : gb::Tensor::uniform(p.shape(), gen, -0.2f, 0.2f));
  }
  for (auto& [bname, b] : m->named_buffers()) {
    if (bname.find("running_mean") != std::string::npos)
      b.copy_(gb::Tensor::uniform(b.shape(), gen, -0.3f, 0.3f));
    if (bname.find("running_var") != std::string::npos)
      b.copy_(gb::Tensor::uniform(b.shape(), gen, 0.5f, 2.0f));
  }
  m->eval();
  return m;
}

}  // namespace gb::testing
