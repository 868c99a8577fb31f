// `glassbox report` (interp/report/): the HTML building blocks (escaping, base64, SVG line and
// bar charts, the confusion table), the history merge, the checks that stop a report before any
// work with nothing written (no history, unwritable or existing --out, bad input files), and a
// whole page of a small model on a generated image-tree data set, plain (graph as text) and
// pruned (graph drawn by Graphviz when installed).
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>

#include "interp/report/report_html.h"
#include "interp/report/report_job.h"
#include "interp/report/report_model.h"
#include "interp/visualize.h"
#include "models/model_graph.h"
#include "models/registry.h"
#include "models/training/checkpoint_meta.h"
#include "runtime/module.h"
#include "runtime/rng.h"
#include "tests/test_util.h"

namespace fs = std::filesystem;
using json = nlohmann::json;
using namespace gb::interp::report;

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

size_t count(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (size_t p = text.find(what); p != std::string::npos; p = text.find(what, p + what.size())) {
    ++n;
  }
  return n;
}

std::string read_file(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  std::ostringstream s;
  s << f.rdbuf();
  return s.str();
}

void write_text(const fs::path& p, const std::string& text) { std::ofstream(p) << text; }

// Runs f, expects it to throw, and returns the message.
template <class F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const std::exception& e) {
    return e.what();
  }
  ADD_FAILURE() << "no exception";
  return "";
}

// A data set of 32x32 RGB PNGs in <dir>/{train,test}/<class>/ with awkward class names.
fs::path make_image_tree(const fs::path& dir) {
  const gb::Philox rng(7, 0);
  uint64_t counter = 0;
  for (const char* split : {"train", "test"}) {
    for (const char* cls : {"a<b", "c&d"}) {
      fs::create_directories(dir / split / cls);
      for (int i = 0; i < 4; ++i) {
        gb::interp::Image img(32, 32);
        for (auto& v : img.pixels) v = static_cast<uint8_t>(rng.below(counter++, 256));
        gb::interp::write_png((dir / split / cls / ("im" + std::to_string(i) + ".png")).string(),
                              img);
      }
    }
  }
  return dir;
}

// A smallcnn checkpoint (2 classes, 32x32 RGB) trained on `data` with `epochs` history entries;
// `channels` overrides conv widths and `pruning` marks it pruned.
fs::path make_checkpoint(const fs::path& path, const std::string& data, int epochs,
                         const std::map<std::string, int64_t>& channels = {},
                         const json& pruning = nullptr) {
  gb::models::ModelConfig mc;
  mc.num_classes = 2;
  mc.width = 0.25f;
  gb::manual_seed(0);
  gb::models::ModelConfig built = mc;
  built.channels = channels;
  const auto model = gb::models::build_model("smallcnn", built);
  gb::training::TrainingState st;
  st.config.model = "smallcnn";
  st.config.data = data;
  st.config.width = 0.25f;
  st.epoch = epochs;
  for (int e = 1; e <= epochs; ++e) {
    gb::training::EpochMetrics m;
    m.epoch = e;
    m.train_loss = 1.0 / e;
    m.train_accuracy = 0.5 + 0.1 * e;
    m.test_loss = 1.2 / e;
    m.test_accuracy = 0.4 + 0.1 * e;
    m.lr_end = 0.1 / e;
    st.history.push_back(gb::training::epoch_metrics_json(m));
  }
  gb::data::Normalization norm;
  norm.mean = {0.5f, 0.5f, 0.5f};
  norm.std = {0.25f, 0.25f, 0.25f};
  json meta = gb::training::trained_meta(mc, {"a<b", "c&d"}, norm, {3, 32, 32}, st);
  if (!pruning.is_null()) {
    meta["model_config"] = built;
    meta["pruning"] = pruning;
  }
  gb::training::save_model(path, *model, meta);
  return path;
}

ReportConfig config_for(const fs::path& ck, const fs::path& out) {
  ReportConfig c;
  c.checkpoint = ck;
  c.out = out;
  c.gallery = 2;
  c.methods = {"gradcam", "occlusion"};
  c.quiet = true;
  return c;
}

}  // namespace

TEST(ReportHtml, EscapesEveryMarkupCharacter) {
  EXPECT_EQ(html_escape("<script>alert('x&y')</script> \"q\""),
            "&lt;script&gt;alert(&#39;x&amp;y&#39;)&lt;/script&gt; &quot;q&quot;");
  EXPECT_EQ(html_escape("plain text"), "plain text");
}

TEST(ReportHtml, Base64KnownAnswers) {
  auto b = [](const std::string& s) { return base64(std::vector<uint8_t>(s.begin(), s.end())); };
  EXPECT_EQ(b(""), "");
  EXPECT_EQ(b("f"), "Zg==");
  EXPECT_EQ(b("fo"), "Zm8=");
  EXPECT_EQ(b("foo"), "Zm9v");
  EXPECT_EQ(b("foobar"), "Zm9vYmFy");
  EXPECT_EQ(png_data_uri({0xff, 0x00}), "data:image/png;base64,/wA=");
  EXPECT_THROW(png_data_uri({}), std::invalid_argument);
}

TEST(ReportHtml, LineChartDrawsOnePolylinePerRunOfValues) {
  LineChart c;
  c.title = "loss <per> epoch";
  c.x = {1, 2, 3, 4};
  c.series = {{"train", {1.0, 0.5, 0.25, 0.2}, "#111"}, {"test", {kNaN, 0.6, kNaN, 0.3}, "#222"}};
  const std::string svg = svg_line_chart(c);
  EXPECT_EQ(svg.rfind("<svg", 0), 0u);
  EXPECT_NE(svg.find("loss &lt;per&gt; epoch"), std::string::npos);
  EXPECT_EQ(svg.find("<per>"), std::string::npos);
  // train: one line of 4 points; test: two runs of one point each (a gap between them).
  EXPECT_EQ(count(svg, "<polyline class=\"series\" data-series=\"train\""), 1u);
  EXPECT_EQ(count(svg, "<polyline class=\"series\" data-series=\"test\""), 2u);
  EXPECT_EQ(count(svg, "<circle"), 6u);
  const size_t p = svg.find("data-series=\"train\"");
  const size_t q = svg.find("points=\"", p) + 8;
  const std::string points = svg.substr(q, svg.find('"', q) - q);
  EXPECT_EQ(count(points, ","), 4u) << points;
  // The largest value sits highest (smallest y), the smallest lowest.
  const double y_first = std::stod(points.substr(points.find(',') + 1));
  const double y_last = std::stod(points.substr(points.rfind(',') + 1));
  EXPECT_LT(y_first, y_last);

  c.series[1].y.pop_back();
  EXPECT_NE(error_of([&] { svg_line_chart(c); }).find("'test' has 3 values"), std::string::npos);
}

TEST(ReportHtml, LineChartWithoutValuesSaysSo) {
  LineChart c;
  c.x = {1, 2};
  c.series = {{"lr", {kNaN, kNaN}, "#333"}};
  const std::string svg = svg_line_chart(c);
  EXPECT_EQ(count(svg, "<polyline"), 0u);
  EXPECT_NE(svg.find("no values"), std::string::npos);
  LineChart one;  // a single epoch still gives a point
  one.x = {1};
  one.series = {{"train", {0.7}, "#444"}};
  EXPECT_EQ(count(svg_line_chart(one), "<polyline"), 1u);
}

TEST(ReportHtml, NiceTicks) {
  const std::vector<double> t = nice_ticks(0.0, 1.0, 5);
  ASSERT_EQ(t.size(), 6u);
  EXPECT_DOUBLE_EQ(t[1], 0.2);
  EXPECT_DOUBLE_EQ(t.back(), 1.0);
  const std::vector<double> u = nice_ticks(0.013, 0.087, 4);
  EXPECT_NEAR(u.front(), 0.02, 1e-12);
  EXPECT_NEAR(u[1] - u[0], 0.02, 1e-12);
  // Values whose spacing is below the precision of double at their size end, with few ticks.
  const std::vector<double> huge = nice_ticks(1e17, 1e17 + 16, 5);
  EXPECT_GE(huge.size(), 1u);
  EXPECT_LE(huge.size(), 22u);
}

TEST(ReportHtml, BarChartAndConfusionTable) {
  const std::string bars = svg_bar_chart("acc", {"x<y", "z"}, {0.5, 1.0}, 1.0, true);
  EXPECT_EQ(count(bars, "<rect class=\"bar\""), 2u);
  EXPECT_NE(bars.find("width=\"150.0\""), std::string::npos);
  EXPECT_NE(bars.find("width=\"300.0\""), std::string::npos);
  EXPECT_NE(bars.find("x&lt;y"), std::string::npos);
  EXPECT_NE(bars.find("50.0%"), std::string::npos);
  EXPECT_THROW(svg_bar_chart("acc", {"a"}, {0.5, 1.0}, 1.0, true), std::invalid_argument);

  const std::string t = confusion_table({{3, 1}, {0, 4}}, {"<a>", "b"});
  EXPECT_NE(t.find("&lt;a&gt;"), std::string::npos);
  EXPECT_EQ(t.find("<a>"), std::string::npos);
  EXPECT_NE(t.find("75.0%"), std::string::npos);   // row <a>: 3 of 4
  EXPECT_NE(t.find("100.0%"), std::string::npos);  // row b: 4 of 4
  EXPECT_THROW(confusion_table({{1, 2}}, {"a", "b"}), std::invalid_argument);
  EXPECT_EQ(thousands(1234567), "1,234,567");
  EXPECT_EQ(thousands(-1000), "-1,000");
}

TEST(ReportHistory, MetricsFileOverridesAndExtendsTheCheckpoint) {
  const json meta = {
      {"history", {{{"epoch", 1}, {"train_loss", 2.0}}, {{"epoch", 2}, {"train_loss", 1.5}}}}};
  const json metrics = {{"epochs",
                         {{{"epoch", 2}, {"train_loss", 1.4}, {"test_accuracy", 0.3}},
                          {{"epoch", 3}, {"train_loss", 1.1}}}}};
  const auto rows = merge_history(meta, metrics, "run.json");
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_EQ(rows[0].values.at("train_loss"), 2.0);
  EXPECT_EQ(rows[1].values.at("train_loss"), 1.4);
  EXPECT_EQ(rows[1].values.at("test_accuracy"), 0.3);
  EXPECT_EQ(rows[2].epoch, 3);
  EXPECT_TRUE(merge_history(json::object(), nullptr, "").empty());
  EXPECT_NE(error_of([&] {
              merge_history(meta, json{{"rows", 1}}, "run.json");
            }).find("run.json"),
            std::string::npos);
  EXPECT_NE(error_of([&] {
              merge_history(meta, json{{"epochs", {{{"x", 1}}}}}, "m.json");
            }).find("m.json"),
            std::string::npos);
}

TEST(ReportErrors, CheckpointWithoutHistoryStopsBeforeAnyWork) {
  const fs::path dir = gb::testing::temp_dir("report", "nohistory");
  const fs::path ck = make_checkpoint(dir / "ck.safetensors", "", 0);
  const fs::path out = dir / "report.html";
  const std::string msg = error_of([&] { write_report(config_for(ck, out)); });
  EXPECT_NE(msg.find(ck.string()), std::string::npos) << msg;
  EXPECT_NE(msg.find("no training history"), std::string::npos) << msg;
  EXPECT_NE(msg.find("--metrics"), std::string::npos) << msg;
  EXPECT_FALSE(fs::exists(out));
  EXPECT_EQ(std::distance(fs::directory_iterator(dir), fs::directory_iterator()), 1);

  ReportConfig c = config_for(ck, out);  // a metrics file without epochs does not help
  c.metrics = dir / "run.json";
  write_text(c.metrics, R"({"epochs": []})");
  EXPECT_NE(error_of([&] { open_report(c); }).find("nor does " + c.metrics.string()),
            std::string::npos);
  write_text(c.metrics, "{not json");
  EXPECT_NE(error_of([&] { open_report(c); }).find(c.metrics.string() + ": not valid JSON"),
            std::string::npos);
  EXPECT_FALSE(fs::exists(out));
}

TEST(ReportErrors, UnwritableOrExistingOutIsRefusedUpFront) {
  const fs::path dir = gb::testing::temp_dir("report", "out");
  const fs::path ck = make_checkpoint(dir / "ck.safetensors", "", 2);
  const fs::path missing_dir = dir / "no" / "such" / "r.html";
  EXPECT_NE(error_of([&] { open_report(config_for(ck, missing_dir)); }).find("does not exist"),
            std::string::npos);
  EXPECT_NE(error_of([&] { open_report(config_for(ck, dir)); }).find("is a directory"),
            std::string::npos);
  // /proc takes no new files, not even from root: the probe file finds that out.
  EXPECT_NE(error_of([&] {
              open_report(config_for(ck, "/proc/glassbox-report.html"));
            }).find("cannot write into directory /proc"),
            std::string::npos);
  const fs::path existing = dir / "old.html";
  write_text(existing, "keep me");
  EXPECT_NE(error_of([&] { write_report(config_for(ck, existing)); }).find("--overwrite"),
            std::string::npos);
  EXPECT_EQ(read_file(existing), "keep me");
  // Bad explanation tables and method names are refused before the evaluation too.
  ReportConfig c = config_for(ck, dir / "r.html");
  c.explanations = dir / "table.json";
  write_text(c.explanations, R"({"rows": []})");
  EXPECT_NE(error_of([&] { open_report(c); }).find(c.explanations.string()), std::string::npos);
  c.explanations.clear();
  c.methods = {"gradcam", "nonsense"};
  EXPECT_NE(error_of([&] { open_report(c); }).find("nonsense"), std::string::npos);
  EXPECT_FALSE(fs::exists(dir / "r.html"));
}

TEST(ReportPage, WholePageOfASmallModel) {
  const fs::path dir = gb::testing::temp_dir("report", "page");
  const fs::path data = make_image_tree(dir / "data");
  const fs::path ck = make_checkpoint(dir / "ck.safetensors", data.string(), 3);
  ReportConfig c = config_for(ck, dir / "report.html");
  c.explanations = dir / "table.json";
  write_text(c.explanations,
             R"({"checkpoint": "x.safetensors", "images": 4, "model": "smallcnn", "data": "d",
                 "methods": [{"method": "gradcam<b>", "deletion_auc": {"mean": 0.1, "std": 0.01},
                              "insertion_auc": {"mean": 0.5, "std": 0.02},
                              "time_ms": {"mean": 1.5, "std": 0.1}}]})");
  c.draw_graph = false;  // the graph as a text list
  const ReportResult r = write_report(c);
  const std::string html = read_file(r.out);
  EXPECT_EQ(html.size(), r.bytes);
  for (const char* id :
       {"overview", "training", "evaluation", "gallery", "explanations", "layers", "graph"}) {
    EXPECT_NE(html.find(std::string("<section id=\"") + id + "\""), std::string::npos) << id;
  }
  EXPECT_EQ(html.find("<section id=\"pruning\""), std::string::npos);
  EXPECT_EQ(count(html, "class=\"series\""), 5u);  // train/test loss, train/test accuracy, lr
  EXPECT_EQ(count(html, "src=\"data:image/png;base64,"), 2u * 3u);  // 2 images x (input + 2)
  EXPECT_NE(html.find("a&lt;b"), std::string::npos);
  EXPECT_NE(html.find("gradcam&lt;b&gt;"), std::string::npos);
  EXPECT_EQ(html.find("a<b"), std::string::npos);
  EXPECT_EQ(html.find("<script"), std::string::npos);
  EXPECT_EQ(html.find("src=\"http"), std::string::npos);
  EXPECT_NE(html.find("id=\"graph-list\""), std::string::npos);
  EXPECT_NE(html.find("conv2d"), std::string::npos);
  EXPECT_NE(html.find("--graph-text"), std::string::npos);
  EXPECT_EQ(r.graph_note, "--graph-text asked for a list");
}

TEST(ReportPage, PrunedCheckpointComparesLayersAndDrawsTheGraph) {
  const fs::path dir = gb::testing::temp_dir("report", "pruned");
  const fs::path data = make_image_tree(dir / "data");
  gb::models::ModelConfig source;
  source.num_classes = 2;
  source.width = 0.25f;
  const json pruning = {{"mode", "structured"},         {"criterion", "l1"},
                        {"source", "orig.safetensors"}, {"source_model_config", source},
                        {"accuracy_before", 0.5},       {"accuracy_pruned", 0.4},
                        {"accuracy_finetuned", -1}};
  const fs::path ck =
      make_checkpoint(dir / "ck.safetensors", data.string(), 2, {{"features.3", 4}}, pruning);
  ReportConfig c = config_for(ck, dir / "report.html");
  c.gallery = 0;
  c.count = 4;
  const ReportResult r = write_report(c);
  ASSERT_EQ(r.sections.back(), "pruning");
  const std::string html = read_file(r.out);
  EXPECT_NE(html.find("<section id=\"pruning\""), std::string::npos);
  const size_t row = html.find("<code>features.3</code>", html.find("id=\"pruning-table\""));
  ASSERT_NE(row, std::string::npos);
  const std::string line = html.substr(row, html.find("</tr>", row) - row);
  // features.3: 8 -> 16 channels before (width 0.25), 8 -> 4 after: 3x3x8x16 and 3x3x8x4 weights.
  EXPECT_NE(line.find("<td>1,152</td><td>288</td>"), std::string::npos) << line;
  EXPECT_NE(html.find("40.00% pruned"), std::string::npos);
  if (!gb::models::render_svg("digraph g {}")) GTEST_SKIP() << "Graphviz dot is not installed";
  EXPECT_NE(html.find("id=\"graph-svg\"><svg"), std::string::npos);
  EXPECT_TRUE(r.graph_note.empty()) << r.graph_note;
}

TEST(ReportPage, WithoutGraphvizTheGraphIsListedWithTheReason) {
  const fs::path dir = gb::testing::temp_dir("report", "nodot");
  const fs::path data = make_image_tree(dir / "data");
  const fs::path ck = make_checkpoint(dir / "ck.safetensors", data.string(), 1);
  ReportConfig c = config_for(ck, dir / "report.html");
  c.gallery = 0;
  const std::string path = std::getenv("PATH") ? std::getenv("PATH") : "";
  ::setenv("PATH", (dir / "empty").c_str(), 1);  // no dot on this PATH
  const ReportResult r = write_report(c);
  ::setenv("PATH", path.c_str(), 1);
  EXPECT_NE(r.graph_note.find("Graphviz (dot) is not installed"), std::string::npos)
      << r.graph_note;
  const std::string html = read_file(r.out);
  EXPECT_NE(html.find("id=\"graph-list\""), std::string::npos);
  EXPECT_NE(html.find("Graphviz (dot) is not installed"), std::string::npos);
  EXPECT_EQ(count(html, "class=\"series\""), 5u);  // one epoch: still a point per series
  EXPECT_NE(html.find("no gallery"), std::string::npos);
}

TEST(ReportPruning, UnstructuredCountsNonZeroParameters) {
  gb::training::CheckpointMeta meta;
  meta.json = {{"pruning",
                {{"mode", "unstructured"},
                 {"layers",
                  {{{"param", "conv.weight"}, {"numel", 100}, {"zeros", 80}},
                   {{"param", "fc.weight"}, {"numel", 50}, {"zeros", 10}}}}}}};
  gb::models::ModelSummary after;
  after.total_params = 1000;
  after.total_macs = 5000;
  const PruningView v = pruning_view(meta, after);
  EXPECT_EQ(v.mode, "unstructured");
  ASSERT_EQ(v.layers.size(), 2u);
  EXPECT_EQ(v.layers[0].params_after, 20);
  EXPECT_EQ(v.layers[1].params_after, 40);
  EXPECT_EQ(v.params_before, 1000);
  EXPECT_EQ(v.params_after, 910);
  EXPECT_EQ(v.macs_after, 5000);
  EXPECT_TRUE(v.note.empty());
  meta.json = {{"pruning", {{"mode", "structured"}}}};  // no source architecture recorded
  EXPECT_NE(pruning_view(meta, after).note.find("no source architecture"), std::string::npos);
  meta.json = {{"pruning", {{"mode", "unstructured"}, {"layers", {{{"numel", "many"}}}}}}};
  const PruningView bad = pruning_view(meta, after);  // malformed: a note, not an exception
  EXPECT_TRUE(bad.layers.empty());
  EXPECT_NE(bad.note.find("malformed"), std::string::npos);
}
