// Test helper shared by the ONNX suites: an imported model rebuilt as a graph module with its
// tensors loaded, in eval mode.
#pragma once
#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <string>

#include "models/graph/graph_module.h"
#include "models/onnx/onnx_import.h"

namespace gb {

inline std::shared_ptr<models::GraphModule> build_graph_module(const models::ImportedModel& m) {
  auto g = std::make_shared<models::GraphModule>(m.graph);
  std::map<std::string, Tensor> dst;
  for (auto& [n, t] : g->named_parameters()) dst[n] = t;
  for (auto& [n, t] : g->named_buffers()) dst[n] = t;
  for (const auto& [n, t] : m.tensors) {
    EXPECT_TRUE(dst.count(n)) << n;
    if (dst.count(n)) dst[n].copy_(t);
  }
  g->eval();
  return g;
}

}  // namespace gb
