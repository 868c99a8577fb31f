// The traced dataflow graph (models/model_graph.h) and `glassbox graph`: nodes, producers and
// scoped names of zoo models (residual adds read two nodes, inception's concat four, every input
// comes earlier), the DOT text, Graphviz's SVG when installed, and the command's refusals (wrong
// extension, existing output) before any work.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>

#include "models/model_graph.h"
#include "models/registry.h"
#include "models/training/graph_job.h"
#include "tests/test_util.h"

namespace fs = std::filesystem;
using namespace gb;
using models::ModelGraph;

namespace {

ModelGraph graph_of(const std::string& name) {
  manual_seed(0);
  auto model = models::build_model(name, {});
  return models::trace_model_graph(*model, {3, 32, 32});
}

int count_op(const ModelGraph& g, const std::string& op) {
  return static_cast<int>(
      std::count_if(g.nodes.begin(), g.nodes.end(), [&](const auto& n) { return n.op == op; }));
}

std::string read_all(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(f), {});
}

}  // namespace

TEST(ModelGraph, Resnet20HasItsConvsAddsAndATopologicalOrder) {
  const ModelGraph g = graph_of("resnet20");
  EXPECT_EQ(g.input_shape, (Shape{1, 3, 32, 32}));
  EXPECT_EQ(count_op(g, "conv2d"), 19 + 2);  // 19 3x3 convs and two 1x1 downsample shortcuts
  EXPECT_EQ(count_op(g, "add"), 9);
  std::set<std::string> names;
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    const auto& n = g.nodes[i];
    EXPECT_TRUE(names.insert(n.name).second) << "repeated name " << n.name;
    for (int src : n.inputs) EXPECT_LT(src, static_cast<int>(i)) << n.name;
    if (n.op == "add") {
      ASSERT_EQ(n.inputs.size(), 2u) << n.name;
      EXPECT_GE(n.inputs[0], 0);
      EXPECT_GE(n.inputs[1], 0);
    }
  }
  EXPECT_EQ(g.nodes.front().inputs, std::vector<int>{ModelGraph::kModelInput});
  EXPECT_EQ(g.nodes.front().name, "conv1/conv2d");
  EXPECT_EQ(g.nodes.front().params, std::vector<std::string>{"conv1.weight"});
  EXPECT_EQ(g.output, static_cast<int>(g.nodes.size()) - 1);
  EXPECT_EQ(g.nodes.back().output_shape, (Shape{1, 10}));
  EXPECT_EQ(g.nodes.back().op, "linear");
}

TEST(ModelGraph, InceptionConcatReadsItsBranches) {
  const ModelGraph g = graph_of("inception");
  bool found = false;
  for (const auto& n : g.nodes) {
    if (n.op != "concat") continue;
    found = true;
    EXPECT_GE(n.inputs.size(), 2u) << n.name;
    for (int src : n.inputs) EXPECT_GE(src, 0) << n.name;
  }
  EXPECT_TRUE(found);
}

TEST(ModelGraph, DotNamesEveryNodeAndEdge) {
  const ModelGraph g = graph_of("resnet20");
  const std::string dot = models::graph_to_dot(g, "resnet20 \"test\"");
  EXPECT_EQ(dot.rfind("digraph \"resnet20 \\\"test\\\"\" {", 0), 0u) << dot.substr(0, 80);
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    EXPECT_NE(dot.find("n" + std::to_string(i) + " [label="), std::string::npos) << i;
  }
  EXPECT_NE(dot.find("subgraph cluster_"), std::string::npos);
  EXPECT_NE(dot.find("input -> n0"), std::string::npos);
  EXPECT_NE(dot.find("n" + std::to_string(g.output) + " -> output"), std::string::npos);
  size_t edges = 0;
  for (size_t p = dot.find(" -> "); p != std::string::npos; p = dot.find(" -> ", p + 1)) ++edges;
  size_t inputs = 0;
  for (const auto& n : g.nodes) inputs += n.inputs.size();
  EXPECT_EQ(edges, inputs + 1);  // one per producer edge, and the output
  const auto svg = models::render_svg(dot);
  if (!svg) GTEST_SKIP() << "Graphviz not installed";
  EXPECT_NE(svg->find("<svg"), std::string::npos);
  EXPECT_NE(svg->find("layer1"), std::string::npos);
  EXPECT_THROW(models::render_svg("digraph { a -> }"), std::runtime_error);
}

TEST(GraphJob, WritesDotAndSvgAndRefusesBadOutputsFirst) {
  const fs::path dir = gb::testing::temp_dir("model_graph", "job");
  training::GraphJob job;
  job.model = "smallcnn";
  job.config.in_channels = 1;
  job.config.image_size = 28;
  job.out = dir / "m.txt";
  EXPECT_THROW(training::run_graph(job), std::runtime_error);
  job.out = dir / "m.dot";
  const auto r = training::run_graph(job);
  EXPECT_EQ(r.model_name, "smallcnn");
  EXPECT_GT(r.nodes, 3);
  const std::string dot = read_all(job.out);
  EXPECT_NE(dot.find("[1, 1, 28, 28]"), std::string::npos);
  if (models::render_svg("digraph {}")) {
    EXPECT_EQ(r.svg_file, dir / "m.svg");
    EXPECT_NE(read_all(dir / "m.svg").find("<svg"), std::string::npos);
  }
  // An existing output is refused (and left as it was) unless --overwrite.
  job.svg = false;  // so that the refusal is the .dot's, not the .svg's
  std::ofstream(job.out) << "keep";
  EXPECT_THROW(training::run_graph(job), std::runtime_error);
  EXPECT_EQ(read_all(job.out), "keep");
  job.overwrite = true;
  training::run_graph(job);
  EXPECT_NE(read_all(job.out).find("digraph"), std::string::npos);
  // No directory: refused before the model is built.
  job.out = dir / "missing" / "m.dot";
  EXPECT_THROW(training::run_graph(job), std::runtime_error);
  fs::remove_all(dir);
}

TEST(GraphJob, CommandLineDrawsACheckpointFreeZooModel) {
  const fs::path dir = gb::testing::temp_dir("model_graph", "cli");
  const auto r = gb::testing::run_glassbox("graph --model resnet20 --no-svg --out " +
                                           (dir / "r.dot").string());
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("resnet20"), std::string::npos) << r.output;
  EXPECT_TRUE(fs::exists(dir / "r.dot"));
  EXPECT_FALSE(fs::exists(dir / "r.svg"));
  const auto bad = gb::testing::run_glassbox("graph --out " + (dir / "x.dot").string());
  EXPECT_NE(bad.status, 0);
  EXPECT_NE(bad.output.find("--checkpoint or --model"), std::string::npos) << bad.output;
  fs::remove_all(dir);
}
