// `glassbox explain` and `glassbox evaluate-explanations` end to end on a tiny smallcnn trained
// for one epoch on 64 Fashion-MNIST images: the files and JSON fields, PNGs of the right size,
// bit-identical attributions from the same seed, clear errors that name the file or list the
// methods and leave existing output untouched, an evaluation table with a random baseline, and
// the raw maps (--save-maps) as safetensors and .npy with their metadata, and every --metrics
// metric in the JSON with its parameters and citation.
#include <gtest/gtest.h>
#include <unistd.h>

#include <array>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "data/dataset.h"
#include "data/image.h"
#include "interp/eval/metric_registry.h"
#include "interp/explain/evaluate_job.h"
#include "interp/explain/explain_job.h"
#include "interp/visualize.h"
#include "models/training/checkpoint_meta.h"
#include "models/training/trainer.h"
#include "runtime/safetensors.h"
#include "tests/test_util.h"

namespace fs = std::filesystem;
using json = nlohmann::json;
using namespace gb;

namespace {

using gb::testing::have_fashion_mnist;
fs::path temp_dir(const std::string& name) { return gb::testing::temp_dir("explain", name); }

json read_json(const fs::path& p) {
  std::ifstream f(p);
  return json::parse(f);
}

std::string read_all(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(f), {});
}

gb::testing::RunResult run_cli(const std::string& args) { return gb::testing::run_glassbox(args); }

// Whether two JSON values are equal, numbers within `tol` (absolute).
bool json_near(const json& a, const json& b, double tol) {
  if (a.is_number() && b.is_number()) {
    return std::fabs(a.get<double>() - b.get<double>()) <= tol;
  }
  if (a.type() != b.type() || a.size() != b.size()) return false;
  if (a.is_object()) {
    for (auto it = a.begin(); it != a.end(); ++it) {
      if (!b.contains(it.key()) || !json_near(it.value(), b[it.key()], tol)) return false;
    }
    return true;
  }
  if (a.is_array()) {
    for (size_t i = 0; i < a.size(); ++i) {
      if (!json_near(a[i], b[i], tol)) return false;
    }
    return true;
  }
  return a == b;
}

// The JSON with every timing removed: what must not change between runs with the same seed.
json without_times(json j) {
  for (auto& m : j["methods"]) m.erase("time_ms");
  return j;
}

// A one-epoch smallcnn on 64 Fashion-MNIST images, trained once for the whole suite.
class Explain : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!have_fashion_mnist()) return;
    dir_ = temp_dir("suite");
    checkpoint_ = dir_ / "fm.safetensors";
    training::TrainConfig c;
    c.model = "smallcnn";
    c.width = 0.25f;
    c.epochs = 1;
    c.batch_size = 32;
    c.lr = 0.05f;
    c.limit_train = 64;
    c.limit_test = 16;
    c.eval_each_epoch = false;
    training::TrainOptions o;
    o.out = checkpoint_;
    o.quiet = true;
    training::train(c, o);
  }
  void SetUp() override {
    if (!have_fashion_mnist()) GTEST_SKIP() << "Fashion-MNIST not installed";
  }

  interp::ExplainConfig config(const fs::path& out, const std::string& methods) const {
    interp::ExplainConfig c;
    c.checkpoint = checkpoint_;
    c.index = 0;
    c.methods = interp::parse_method_list(methods);
    c.method.seed = 3;
    c.method.samples = 64;
    c.method.segments = 8;
    c.method.ig_steps = 8;
    c.out = out;
    return c;
  }

  static fs::path dir_, checkpoint_;
};
fs::path Explain::dir_, Explain::checkpoint_;

}  // namespace

TEST_F(Explain, WritesPngsAndJsonWithScores) {
  const fs::path out = temp_dir("files") / "out";
  const interp::ExplainResult r = interp::explain(config(out, "gradcam,ig,lime,occlusion"));
  for (const char* f : {"input.png", "gradcam.png", "ig.png", "lime.png", "occlusion.png",
                        "sheet.png", "explanation.json"}) {
    EXPECT_TRUE(fs::exists(out / f)) << f;
  }
  EXPECT_EQ(r.files.size(), 7u);
  // 28x28 inputs are shown 9x enlarged.
  for (const char* f : {"input.png", "gradcam.png", "ig.png", "lime.png", "occlusion.png"}) {
    const data::Image img = data::load_image((out / f).string(), 3);
    EXPECT_EQ(img.width, 252) << f;
    EXPECT_EQ(img.height, 252) << f;
  }
  const data::Image sheet = data::load_image((out / "sheet.png").string(), 3);
  EXPECT_GT(sheet.width, 5 * 252);  // input + 4 methods side by side
  EXPECT_GT(sheet.height, 252);

  const json j = read_json(out / "explanation.json");
  EXPECT_EQ(j, r.json);
  EXPECT_EQ(j["checkpoint"], checkpoint_.string());
  EXPECT_EQ(j["image"]["kind"], "test-index");
  EXPECT_EQ(j["image"]["index"], 0);
  EXPECT_TRUE(j["prediction"]["class"].is_number_integer());
  EXPECT_TRUE(j["prediction"]["name"].is_string());
  const double p = j["prediction"]["probability"];
  EXPECT_GT(p, 0.0);
  EXPECT_LE(p, 1.0);
  EXPECT_EQ(j["target"]["class"], j["prediction"]["class"]);  // --target pred by default
  ASSERT_EQ(j["methods"].size(), 4u);
  for (const auto& m : j["methods"]) {
    EXPECT_GE(m["time_ms"].get<double>(), 0.0);
    for (const char* k : {"deletion_auc", "insertion_auc"}) {
      EXPECT_GE(m[k].get<double>(), 0.0) << m["method"] << k;
      EXPECT_LE(m[k].get<double>(), 1.0) << m["method"] << k;
    }
  }
  const json& gc = j["methods"][0];
  EXPECT_EQ(gc["method"], "gradcam");
  EXPECT_TRUE(gc["layer"].is_string());
  ASSERT_EQ(gc["top_pixels"].size(), 5u);
  EXPECT_TRUE(gc["top_pixels"][0].contains("y"));
  EXPECT_GE(gc["top_pixels"][0]["value"].get<double>(), gc["top_pixels"][4]["value"].get<double>());
  const json& ig = j["methods"][1];
  EXPECT_TRUE(ig.contains("completeness_error"));
  EXPECT_GE(ig["completeness_error"].get<double>(), 0.0);
  const json& lime = j["methods"][2];
  EXPECT_TRUE(lime.contains("r2"));
  EXPECT_EQ(lime["samples"], 64);
  ASSERT_GE(lime["top_segments"].size(), 1u);
  EXPECT_TRUE(lime["top_segments"][0].contains("score"));
  EXPECT_FALSE(lime.contains("top_pixels"));
  EXPECT_TRUE(j["methods"][3].contains("top_pixels"));
}

TEST_F(Explain, GridSegmentationGivesExactlyTheRequestedCells) {
  interp::ExplainConfig c = config(temp_dir("grid") / "out", "exact-shapley,lime");
  c.method.segmentation = "grid";
  c.method.segments = 6;  // 2 x 3 cells, 2^6 coalitions
  const interp::ExplainResult r = interp::explain(c);
  const json& shap = r.json["methods"][0];
  EXPECT_EQ(shap["segments"], 6);
  EXPECT_EQ(shap["evaluations"], 64);
  EXPECT_EQ(r.json["methods"][1]["segments"], 6);
  EXPECT_EQ(r.json["segmentation"], "grid");
  interp::ExplainConfig bad = c;
  bad.method.segmentation = "hexagons";
  EXPECT_THROW(interp::explain(bad), std::invalid_argument);
}

TEST_F(Explain, SameSeedGivesIdenticalAttributions) {
  const fs::path base = temp_dir("seed");
  const auto a = interp::explain(config(base / "a", "lime,kernelshap,smoothgrad"));
  const auto b = interp::explain(config(base / "b", "lime,kernelshap,smoothgrad"));
  EXPECT_EQ(without_times(a.json), without_times(b.json));
  EXPECT_EQ(read_all(base / "a" / "lime.png"), read_all(base / "b" / "lime.png"));
  EXPECT_EQ(read_all(base / "a" / "smoothgrad.png"), read_all(base / "b" / "smoothgrad.png"));
  // The maps themselves, bit for bit, through the library.
  const training::LoadedModel lm = training::load_model(checkpoint_);
  const Shape& shape = lm.meta.input_shape;
  const Tensor x = Tensor::full({1, shape[0], shape[1], shape[2]}, 0.3f);
  interp::MethodOptions mo;
  mo.seed = 11;
  mo.samples = 32;
  mo.norm = lm.meta.norm;
  const auto m1 = interp::run_method(*lm.model, "kernelshap", x, 0, mo);
  const auto m2 = interp::run_method(*lm.model, "kernelshap", x, 0, mo);
  EXPECT_EQ(m1.map.to_vector(), m2.map.to_vector());
}

TEST_F(Explain, CommandLineWritesTheDirectory) {
  const fs::path out = temp_dir("cli") / "out";
  const auto r = run_cli("explain --checkpoint " + checkpoint_.string() +
                         " --index 1 --method gradcam,kernelshap --samples 32 --segments 8 "
                         "--target pred --threads 2 --out " +
                         out.string());
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("kernelshap"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("efficiency_error"), std::string::npos) << r.output;
  for (const char* f : {"input.png", "gradcam.png", "kernelshap.png", "sheet.png"}) {
    EXPECT_TRUE(fs::exists(out / f)) << f;
  }
  const json j = read_json(out / "explanation.json");
  EXPECT_EQ(j["image"]["index"], 1);
  EXPECT_TRUE(j["methods"][1].contains("efficiency_error"));
  // No staging directory is left next to the output.
  for (const auto& e : fs::directory_iterator(out.parent_path())) {
    EXPECT_EQ(e.path().filename().string().find(".partial"), std::string::npos) << e.path();
  }
}

TEST_F(Explain, WrongSizeImageNeedsResize) {
  const fs::path dir = temp_dir("size");
  const fs::path png = dir / "big.png";
  interp::write_png(png.string(), interp::Image(40, 30, {200, 100, 50}));
  interp::ExplainConfig c = config(dir / "out", "gradcam");
  c.index = -1;
  c.image = png;
  try {
    interp::explain(c);
    FAIL() << "expected an error";
  } catch (const std::exception& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find(png.string()), std::string::npos) << msg;
    EXPECT_NE(msg.find("1x28x28"), std::string::npos) << msg;
    EXPECT_NE(msg.find("--resize"), std::string::npos) << msg;
  }
  EXPECT_FALSE(fs::exists(dir / "out"));
  c.resize = true;
  const auto r = interp::explain(c);
  EXPECT_EQ(r.json["image"]["resized"], true);
  EXPECT_EQ(r.json["image"]["original_shape"], json({3, 30, 40}));
  EXPECT_EQ(data::load_image((dir / "out" / "gradcam.png").string(), 3).width, 252);
}

TEST_F(Explain, UnknownMethodListsTheKnownOnes) {
  EXPECT_THROW(interp::parse_method_list("gradcam,foo"), std::invalid_argument);
  try {
    interp::parse_method_list("gradcam,foo");
  } catch (const std::invalid_argument& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("'foo'"), std::string::npos) << msg;
    for (const auto& m : interp::method_names()) {
      EXPECT_NE(msg.find(m), std::string::npos) << m;
    }
  }
  const fs::path out = temp_dir("unknown") / "out";
  const auto r = run_cli("explain --checkpoint " + checkpoint_.string() +
                         " --index 0 --method gradcam,foo --out " + out.string());
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.output.find("unknown method 'foo'"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("exact-shapley"), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(out));
}

TEST_F(Explain, NonEmptyOutputNeedsOverwriteAndIsLeftAlone) {
  const fs::path out = temp_dir("keep") / "out";
  fs::create_directories(out);
  std::ofstream(out / "gradcam.png") << "precious";
  std::ofstream(out / "notes.txt") << "mine";
  try {
    interp::explain(config(out, "gradcam"));
    FAIL() << "expected an error";
  } catch (const std::exception& e) {
    EXPECT_NE(std::string(e.what()).find("--overwrite"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find(out.string()), std::string::npos) << e.what();
  }
  EXPECT_EQ(read_all(out / "gradcam.png"), "precious");
  EXPECT_EQ(std::distance(fs::directory_iterator(out), fs::directory_iterator{}), 2);

  // A bad layer fails after the model is loaded: still nothing is written.
  interp::ExplainConfig bad = config(out, "gradcam");
  bad.overwrite = true;
  bad.method.layer = "no.such.layer";
  EXPECT_ANY_THROW(interp::explain(bad));
  EXPECT_EQ(read_all(out / "gradcam.png"), "precious");

  interp::ExplainConfig c = config(out, "gradcam");
  c.overwrite = true;
  interp::explain(c);
  EXPECT_NE(read_all(out / "gradcam.png"), "precious");
  EXPECT_EQ(read_all(out / "notes.txt"), "mine");  // files explain does not write are kept
}

TEST_F(Explain, EvaluateGivesMethodAndRandomRows) {
  interp::EvaluateConfig c;
  c.checkpoint = checkpoint_;
  c.methods = {"gradcam"};
  c.count = 3;
  c.method.seed = 1;
  c.sanity_check = true;
  c.sanity_images = 2;
  c.quiet = true;
  std::vector<std::string> seen;  // after each finished method: the rows so far, joined
  const interp::EvaluateResult r =
      interp::evaluate_explanations(c, [&](const interp::EvaluateResult& partial) {
        EXPECT_FALSE(interp::evaluation_to_json(partial, false)["complete"].get<bool>());
        seen.push_back("");
        for (const auto& row : partial.rows) seen.back() += row.method + ",";
      });
  EXPECT_EQ(seen, (std::vector<std::string>{"gradcam,", "gradcam,random,",
                                            "gradcam,random,random-smooth,"}));
  EXPECT_EQ(r.images, 3);
  ASSERT_EQ(r.rows.size(), 3u);
  EXPECT_EQ(r.rows[0].method, "gradcam");
  EXPECT_EQ(r.rows[1].method, "random");
  EXPECT_EQ(r.rows[2].method, "random-smooth");
  for (const auto& row : r.rows) {
    EXPECT_EQ(row.deletion_auc.n, 3);
    EXPECT_GE(row.deletion_auc.mean, 0.0);
    EXPECT_LE(row.insertion_auc.mean, 1.0);
    EXPECT_GE(row.time_ms.mean, 0.0);
  }
  ASSERT_FALSE(r.sanity.empty());
  EXPECT_EQ(r.sanity.front().per_image.size(), 2u);
  const std::string table = interp::format_evaluation(r);
  EXPECT_NE(table.find("gradcam"), std::string::npos) << table;
  EXPECT_NE(table.find("random"), std::string::npos) << table;
  EXPECT_NE(table.find("deletion AUC"), std::string::npos) << table;
  EXPECT_NE(table.find("sanity check"), std::string::npos) << table;
  const json j = interp::evaluation_to_json(r);
  EXPECT_EQ(j["methods"].size(), 3u);
  EXPECT_TRUE(j["methods"][0]["deletion_auc"].contains("std"));
  EXPECT_TRUE(j.contains("sanity_check"));
  EXPECT_TRUE(j["complete"].get<bool>());
}

TEST_F(Explain, SaveMapsWritesTheRawMapsWithWhatMadeThem) {
  const fs::path out = temp_dir("maps") / "out";
  interp::ExplainConfig c = config(out, "gradcam,ig");
  c.save_maps = true;
  c.maps_format = interp::MapFormat::Both;
  interp::explain(c);
  const SafetensorsFile f = read_safetensors(out / "maps.safetensors");
  const json maps = json::parse(f.metadata.at("glassbox.maps"));
  ASSERT_NE(f.find("gradcam"), nullptr);
  ASSERT_NE(f.find("input"), nullptr);
  EXPECT_EQ(f.find("input")->shape, (std::vector<int64_t>{1, 28, 28}));
  EXPECT_EQ(f.find("ig")->shape, (std::vector<int64_t>{28, 28}));
  EXPECT_EQ(maps["ig"]["method"], "ig");
  EXPECT_EQ(maps["ig"]["options"]["ig_steps"], 8);
  EXPECT_TRUE(maps["ig"].contains("completeness_error"));
  EXPECT_EQ(maps["gradcam"]["target"], read_json(out / "explanation.json")["target"]["class"]);
  // The saved map is the method's map, bit for bit.
  training::LoadedModel lm = training::load_model(checkpoint_);
  interp::MethodOptions mo = c.method;
  mo.norm = lm.meta.norm;
  const std::vector<float> input = to_f32(*f.find("input"), {1, 28, 28});
  const Tensor x = Tensor::from_vector({1, 1, 28, 28}, input);
  const int64_t target = maps["gradcam"]["target"];
  const auto m = interp::run_method(*lm.model, "gradcam", x, target, mo);
  EXPECT_EQ(to_f32(*f.find("gradcam"), {28, 28}), m.map.to_vector());
  // The .npy files hold the same bytes after their header.
  const std::string npy = read_all(out / "gradcam.npy");
  ASSERT_EQ(npy.substr(0, 6), "\x93NUMPY");
  const size_t header = 10 + static_cast<uint8_t>(npy[8]) + 256 * static_cast<uint8_t>(npy[9]);
  EXPECT_EQ(header % 64, 0u);
  EXPECT_NE(npy.find("'shape': (28, 28)"), std::string::npos);
  EXPECT_EQ(npy.substr(header),
            std::string(f.find("gradcam")->bytes.begin(), f.find("gradcam")->bytes.end()));
  EXPECT_TRUE(read_json(out / "maps.json")["arrays"].contains("input"));
}

TEST_F(Explain, EvaluateSavesEveryMapAndRefusesAnExistingFileFirst) {
  const fs::path dir = temp_dir("eval_maps");
  interp::EvaluateConfig c;
  c.checkpoint = checkpoint_;
  c.methods = {"gradcam"};
  c.count = 3;
  c.quiet = true;
  c.save_maps = dir / "maps.safetensors";
  const interp::EvaluateResult r = interp::evaluate_explanations(c);
  const SafetensorsFile f = read_safetensors(c.save_maps);
  for (const char* name : {"gradcam", "random", "random-smooth"}) {
    ASSERT_NE(f.find(name), nullptr) << name;
    EXPECT_EQ(f.find(name)->shape, (std::vector<int64_t>{3, 28, 28})) << name;
  }
  EXPECT_EQ(f.find("inputs")->shape, (std::vector<int64_t>{3, 1, 28, 28}));
  EXPECT_EQ(f.find("targets")->dtype, "I64");
  EXPECT_EQ(json::parse(f.metadata.at("glassbox.info"))["images"], r.images);
  // Exists, no --overwrite: refused before any work, the file untouched.
  const std::string before = read_all(c.save_maps);
  c.methods = {"lime"};
  EXPECT_THROW(interp::evaluate_explanations(c), std::runtime_error);
  EXPECT_EQ(read_all(c.save_maps), before);
  c.save_maps = dir / "maps.npz";
  EXPECT_THROW(interp::evaluate_explanations(c), std::invalid_argument);
  // npy: a directory of arrays.
  c.methods = {"gradcam"};
  c.maps_format = interp::MapFormat::Npy;
  c.save_maps = dir / "npy";
  interp::evaluate_explanations(c);
  EXPECT_TRUE(fs::exists(dir / "npy" / "gradcam.npy"));
  EXPECT_TRUE(fs::exists(dir / "npy" / "labels.npy"));
}

TEST_F(Explain, ActivationsCommandWritesMapsTopImagesAndFeatures) {
  const fs::path out = temp_dir("activations") / "out";
  const std::string base = "activations --checkpoint " + checkpoint_.string() +
                           " --index 1 --count 30 --top 3 --show 2 --steps 4 --threads 2";
  const auto bad = run_cli(base + " --classes 99 --out " + out.string());
  EXPECT_NE(bad.status, 0);
  EXPECT_NE(bad.output.find("out of range"), std::string::npos) << bad.output;
  EXPECT_FALSE(fs::exists(out));
  const auto r = run_cli(base + " --classes 1 --out " + out.string());
  ASSERT_EQ(r.status, 0) << r.output;
  for (const char* f : {"input.png", "channels.png", "top.png", "features.png"}) {
    EXPECT_TRUE(fs::exists(out / f)) << f;
  }
  const json j = read_json(out / "activations.json");
  ASSERT_EQ(j["channels"].size(), 2u);
  for (const auto& c : j["channels"]) {
    ASSERT_EQ(c["top_images"].size(), 3u);
    double last = 1e30;
    for (const auto& im : c["top_images"]) {
      EXPECT_LT(im["index"].get<int64_t>(), 10000);
      EXPECT_LE(im["score"].get<double>(), last);
      last = im["score"].get<double>();
    }
  }
  EXPECT_EQ(j["features"].size(), 3u);  // two channels and class 1
  EXPECT_EQ(j["images_scanned"], 30);
  EXPECT_EQ(j["channel_scores"].size(), j["layer_output_shape"][1].get<size_t>());
}

// ---- global-explain and tcav (issue 16, global explanations) ----

namespace {

// `count` 28x28 PNGs in `dir`: "stripes" (alternating bright and dark rows), "blobs" (a bright
// square at a random place) or "noise", each with noise from its own seed.
void write_concept_folder(const fs::path& dir, const std::string& kind, int count, uint64_t seed) {
  fs::create_directories(dir);
  uint64_t state = seed * 6364136223846793005ULL + 1442695040888963407ULL;
  const auto next = [&state] {  // a 64-bit LCG; its top 24 bits as a uniform in [0,1)
    state = state * 6364136223846793005ULL + 1442695040888963407ULL;
    return static_cast<float>(state >> 40) / 16777216.0f;
  };
  for (int i = 0; i < count; ++i) {
    interp::Image img(28, 28);
    const auto bx = static_cast<int64_t>(next() * 18), by = static_cast<int64_t>(next() * 18);
    for (int64_t y = 0; y < 28; ++y) {
      for (int64_t x = 0; x < 28; ++x) {
        float v = 0.3f * next();
        if (kind == "stripes") v += (y / 2) % 2 ? 0.7f : 0.0f;
        if (kind == "blobs") v += (y >= by && y < by + 10 && x >= bx && x < bx + 10) ? 0.7f : 0.0f;
        if (kind == "noise") v = next();
        const auto b = static_cast<uint8_t>(std::min(v, 1.0f) * 255.0f);
        uint8_t* p = img.at(x, y);
        p[0] = p[1] = p[2] = b;
      }
    }
    interp::write_png((dir / (std::to_string(1000 + i) + ".png")).string(), img);
  }
}

}  // namespace

TEST_F(Explain, TcavAndGlobalExplainCommandsWriteScoresPValuesAndPictures) {
  const fs::path dir = temp_dir("tcav");
  write_concept_folder(dir / "stripes", "stripes", 12, 1);
  write_concept_folder(dir / "blobs", "blobs", 12, 2);
  for (int r = 0; r < 3; ++r) {
    write_concept_folder(dir / ("random_" + std::to_string(r)), "noise", 12, 10 + r);
  }
  const fs::path out = dir / "tcav.json";
  std::string args = "tcav --checkpoint " + checkpoint_.string() +
                     " --concept stripes=" + (dir / "stripes").string() +
                     " --concept blobs=" + (dir / "blobs").string() + " --random";
  for (int r = 0; r < 3; ++r) args += " " + (dir / ("random_" + std::to_string(r))).string();
  args +=
      " --layer features.5,features.9 --target-class 1 --count 6 --threads 2 --out " + out.string();
  const auto r = run_cli(args);
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("significant"), std::string::npos) << r.output;
  const json j = read_json(out);
  EXPECT_EQ(j["runs"], 3);
  EXPECT_EQ(j["hypotheses"], 4);  // two concepts at two layers
  ASSERT_EQ(j["results"].size(), 4u);
  for (const auto& e : j["results"]) {
    const double p = e["p_value"].get<double>();
    EXPECT_GE(p, 0.0);
    EXPECT_LE(p, 1.0);
    EXPECT_DOUBLE_EQ(e["p_value_bonferroni"].get<double>(), std::min(1.0, 4 * p));
    EXPECT_GE(e["score"]["mean"].get<double>(), 0.0);
    EXPECT_LE(e["score"]["mean"].get<double>(), 1.0);
    ASSERT_EQ(e["runs"].size(), 3u);
    ASSERT_EQ(e["random_runs"].size(), 3u);
    // Stripes and blobs are told apart from noise by any layer's probe.
    EXPECT_GE(e["probe_accuracy"]["mean"].get<double>(), 0.9) << e.dump();
    EXPECT_EQ(e["runs"][0]["probe_test_count"], 2 * 3);  // floor(0.33 * 12) per side
    EXPECT_EQ(e["significant"].get<bool>(),
              e["probe_ok"].get<bool>() && e["p_value_bonferroni"].get<double>() < 0.05);
  }
  EXPECT_EQ(j["results"][1]["layer"], "features.5");
  EXPECT_EQ(j["results"][2]["layer"], "features.9");
  // An existing file needs --overwrite; a malformed concept and a missing folder are named.
  const auto again = run_cli(args);
  EXPECT_NE(again.status, 0);
  EXPECT_NE(again.output.find("--overwrite"), std::string::npos) << again.output;
  const auto bad =
      run_cli("tcav --checkpoint " + checkpoint_.string() + " --concept stripes " +
              "--random-from-data 8 --target-class 1 --out " + (dir / "x.json").string());
  EXPECT_NE(bad.status, 0);
  EXPECT_NE(bad.output.find("NAME=DIR"), std::string::npos) << bad.output;
  const auto missing = run_cli(
      "tcav --checkpoint " + checkpoint_.string() + " --concept s=" + (dir / "nowhere").string() +
      " --random-from-data 8 --target-class 1 --out " + (dir / "x.json").string());
  EXPECT_NE(missing.status, 0);
  EXPECT_NE(missing.output.find("nowhere"), std::string::npos) << missing.output;

  // global-explain: class maps and influential superpixels on a few test images.
  const fs::path gout = dir / "global";
  const std::string gargs = "global-explain --checkpoint " + checkpoint_.string() +
                            " --count 10 --segment-images 3 --shap-samples 32 --segments 8 "
                            "--top-segments 2 --threads 2 --out " +
                            gout.string();
  const auto g = run_cli(gargs);
  ASSERT_EQ(g.status, 0) << g.output;
  for (const char* f :
       {"class_maps.png", "segments.png", "global.json", "class_maps.safetensors"}) {
    EXPECT_TRUE(fs::exists(gout / f)) << f;
  }
  const json gj = read_json(gout / "global.json");
  EXPECT_EQ(gj["class_maps"]["normalisation"], "max-abs");
  EXPECT_EQ(gj["class_maps"]["classes"].size(), 10u);
  EXPECT_EQ(gj["segments"]["images"], 3);
  int64_t kept = 0;
  for (const auto& c : gj["segments"]["classes"]) kept += static_cast<int64_t>(c["top"].size());
  EXPECT_GT(kept, 0);
  EXPECT_LE(kept, 6);  // 3 images of at most 3 classes, 2 segments each
  const auto refused = run_cli(gargs);
  EXPECT_NE(refused.status, 0);
  EXPECT_NE(refused.output.find("--overwrite"), std::string::npos) << refused.output;
}

// ---- issue 16, lane B: LRP, DeepLIFT and RISE through explain and its CLI flags ----

TEST_F(Explain, RelevanceMethodsRunThroughTheRegistryAndTheCli) {
  const fs::path out = temp_dir("relevance") / "out";
  auto c = config(out, "lrp,lrp-epsilon,lrp-gamma,lrp-alphabeta,lrp-epsilon-plus,deeplift,rise");
  c.method.rise_masks = 100;
  c.method.lrp_bias = "ignore";
  c.method.lrp_epsilon = 1e-9;
  const interp::ExplainResult r = interp::explain(c);
  const json& ms = r.json["methods"];
  ASSERT_EQ(ms.size(), 7u);
  for (const auto& m : ms) {
    const std::string name = m["method"];
    EXPECT_TRUE(fs::exists(out / (name + ".png"))) << name;
    if (name == "rise") {
      EXPECT_EQ(m["masks"], 100);
      EXPECT_FALSE(m["signed"].get<bool>());
    } else if (name == "deeplift") {
      EXPECT_LT(m["completeness_error"].get<double>(),
                1e-4 * std::max(1.0, std::fabs(m["f_input_minus_f_baseline"].get<double>())));
    } else {
      EXPECT_TRUE(m["signed"].get<bool>()) << name;
      EXPECT_EQ(m["bias"], "ignore") << name;
      EXPECT_GT(m["folded_batch_norms"].get<int64_t>(), 0) << name;
      EXPECT_TRUE(m.contains("conservation_error")) << name;
    }
  }
  EXPECT_EQ(ms[0]["composite"], "epsilon-gamma-box");
  EXPECT_EQ(ms[3]["composite"], "epsilon-alpha2beta1");
  // smallcnn has no dead fields here: the conservation of --lrp-bias ignore shows through.
  EXPECT_LT(ms[0]["conservation_error"].get<double>(), 1e-3);

  const fs::path cli_out = temp_dir("relevance_cli") / "out";
  const std::string base = "explain --checkpoint " + checkpoint_.string() +
                           " --index 0 --method lrp,deeplift,rise --rise-masks 64 --out " +
                           cli_out.string();
  const auto bad = run_cli(base + " --lrp-bias sometimes");
  EXPECT_NE(bad.status, 0);
  EXPECT_NE(bad.output.find("--lrp-bias"), std::string::npos) << bad.output;
  EXPECT_FALSE(fs::exists(cli_out));
  const auto bad_ab = run_cli(base + " --lrp-alpha 3");
  EXPECT_NE(bad_ab.status, 0);
  EXPECT_NE(bad_ab.output.find("--lrp-alpha"), std::string::npos) << bad_ab.output;
  const auto ok = run_cli(base + " --lrp-composite epsilon-plus --rise-cells 3 --rise-p 0.4");
  ASSERT_EQ(ok.status, 0) << ok.output;
  const json j = read_json(cli_out / "explanation.json");
  EXPECT_EQ(j["methods"][0]["composite"], "epsilon-plus");
  EXPECT_EQ(j["methods"][2]["cells"], 3);
}

TEST_F(Explain, EvaluateMetricsAllWritesEveryMetricWithParametersAndCitation) {
  const fs::path dir = temp_dir("metrics_all");
  const std::string base = "evaluate-explanations --checkpoint " + checkpoint_.string() +
                           " --methods gradcam --count 2 --threads 2 --quiet --seed 3";
  // A bad metric or parameter is refused before any work: no JSON written.
  for (const std::string bad : {" --metrics road,nope", " --metrics road --road-percentages 50,100",
                                " --metrics infidelity --infidelity-perturbation blob"}) {
    const auto r = run_cli(base + bad + " --json " + (dir / "bad.json").string());
    EXPECT_NE(r.status, 0) << bad;
    EXPECT_FALSE(fs::exists(dir / "bad.json")) << bad;
  }
  EXPECT_NE(run_cli(base + " --metrics road,nope").output.find("nope"), std::string::npos);
  const fs::path out = dir / "all.json";
  const auto r = run_cli(base +
                         " --metrics all --road-percentages 20,60 --pf-step 64 --fc-runs 10 "
                         "--fc-subset 32 --infidelity-samples 16 --sensitivity-samples 2 "
                         "--localisation 6 --loc-source 20 --loc-keep-all --mprt-images 1 "
                         "--json " +
                         out.string());
  ASSERT_EQ(r.status, 0) << r.output;
  const json j = read_json(out);
  EXPECT_TRUE(j["methods"][0].contains("deletion_auc"));  // the old keys stay
  for (const auto& info : interp::eval::metric_infos()) {
    EXPECT_EQ(j["metrics"].contains(info.name), info.in_all) << info.name;
    if (!info.in_all) continue;  // data-randomization trains: named only
    const json& m = j["metrics"][info.name];
    EXPECT_EQ(m["citation"], info.citation);
    EXPECT_FALSE(m["direction"].get<std::string>().empty()) << info.name;
    EXPECT_TRUE(m["parameters"].is_object() && !m["parameters"].empty()) << info.name;
    for (const char* method : {"gradcam", "random", "random-smooth"}) {
      ASSERT_TRUE(m["methods"].contains(method)) << info.name << " " << method;
      EXPECT_FALSE(m["methods"][method].empty()) << info.name << " " << method;
    }
  }
  const json& road = j["metrics"]["road"];
  EXPECT_EQ(road["parameters"]["percentages"], json({20.0, 60.0}));
  EXPECT_EQ(road["methods"]["gradcam"]["morf_probability_auc"]["n"], 2);
  EXPECT_EQ(road["methods"]["gradcam"]["curves"]["morf_probability"].size(), 2u);
  EXPECT_EQ(j["metrics"]["pixel-flipping"]["parameters"]["features_in_step"], 64);
  EXPECT_EQ(j["metrics"]["faithfulness-correlation"]["parameters"]["runs"], 10);
  EXPECT_EQ(j["metrics"]["infidelity"]["parameters"]["samples"], 16);
  EXPECT_EQ(j["metrics"]["max-sensitivity"]["parameters"]["samples"], 2);
  EXPECT_EQ(j["metrics"]["pointing-game"]["parameters"]["set"]["kept"], 6);
  const json& mprt = j["metrics"]["mprt-cascading"];
  EXPECT_FALSE(mprt["parameters"]["layers"].empty());
  EXPECT_EQ(mprt["methods"]["gradcam"]["curves"]["spearman"].size(),
            mprt["parameters"]["layers"].size());
  // Same seed, same figures, also in chunks of other sizes (a 1 MB budget): equal up to the
  // forward pass's float rounding, which may differ by batch size.
  const fs::path again = dir / "again.json";
  ASSERT_EQ(run_cli(base +
                    " --metrics all --road-percentages 20,60 --pf-step 64 --fc-runs 10 "
                    "--fc-subset 32 --infidelity-samples 16 --sensitivity-samples 2 "
                    "--localisation 6 --loc-source 20 --loc-keep-all --mprt-images 1 "
                    "--mem-budget 1 --json " +
                    again.string())
                .status,
            0);
  EXPECT_TRUE(json_near(read_json(again)["metrics"], j["metrics"], 1e-6));
}

TEST_F(Explain, EvaluateDataRandomizationTrainsOnPermutedLabelsAndReportsMemorisation) {
  const fs::path dir = temp_dir("data_randomization");
  const std::string base = "evaluate-explanations --checkpoint " + checkpoint_.string() +
                           " --methods saliency --count 2 --threads 2 --quiet --seed 4"
                           " --metrics data-randomization --dr-train-limit 64 --dr-epochs 2";
  // Not memorised (min accuracy 1.0 in 2 epochs): the comparison is withheld.
  const auto withheld = run_cli(base + " --dr-min-accuracy 1 --json " + (dir / "w.json").string());
  ASSERT_EQ(withheld.status, 0) << withheld.output;
  const json w = read_json(dir / "w.json")["metrics"]["data-randomization"];
  const json& result = w["parameters"]["result"];
  EXPECT_EQ(result["train_images"], 64);
  EXPECT_TRUE(result.contains("memorisation_accuracy"));
  EXPECT_TRUE(result.contains("test_accuracy"));
  if (result["memorisation_accuracy"].get<double>() < 1.0) {
    EXPECT_FALSE(result["compared"].get<bool>());
    EXPECT_TRUE(result.contains("withheld"));
    EXPECT_TRUE(w["methods"].empty());
  }
  const auto r = run_cli(base + " --dr-allow-underfit --json " + (dir / "a.json").string());
  ASSERT_EQ(r.status, 0) << r.output;
  const json a = read_json(dir / "a.json")["metrics"]["data-randomization"];
  EXPECT_TRUE(a["parameters"]["result"]["compared"].get<bool>());
  EXPECT_EQ(a["methods"]["saliency"]["spearman"]["n"], 2);
  EXPECT_TRUE(a["methods"]["saliency"].contains("ssim"));
  EXPECT_LE(a["methods"]["saliency"]["spearman_abs"]["mean"].get<double>(), 1.0);
  // "all" does not train a model.
  EXPECT_FALSE(interp::eval::metric_info("data-randomization").in_all);
  EXPECT_NE(run_cli(base + " --dr-epochs 0").status, 0);
}
