// TensorBoard event files written by glassbox (models/training/tfevents.h, tensorboard.h):
// CRC-32C against the RFC 3720 vectors, the protobuf wire format byte by byte, TFRecord framing,
// histograms, and whole files parsed back by a small reader here (records, checksums, Event,
// Summary, GraphDef fields). tests/viewers/test_tensorboard.py reads `train --tensorboard` files
// with TensorBoard's own reader. Shape letters: C channels, H/W image size.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "models/model_graph.h"
#include "models/registry.h"
#include "models/training/tensorboard.h"
#include "models/training/tfevents.h"
#include "runtime/checksum.h"
#include "runtime/ops.h"
#include "test_util.h"

namespace gb {
namespace {

namespace fs = std::filesystem;
namespace tfe = training::tfevents;

std::string bytes_of(std::initializer_list<int> b) {
  std::string s;
  for (const int v : b) s.push_back(static_cast<char>(v));
  return s;
}

// ---- a small protobuf / record reader ---------------------------------------------------------

struct Field {
  int wire = 0;
  uint64_t number = 0;  // varint, fixed64, fixed32
  std::string bytes;    // length-delimited
};
using Fields = std::multimap<int, Field>;

uint64_t read_varint(const std::string& s, size_t& pos) {
  uint64_t v = 0;
  for (int shift = 0;; shift += 7) {
    if (pos >= s.size() || shift > 63) throw std::runtime_error("bad varint");
    const auto b = static_cast<uint8_t>(s[pos++]);
    v |= static_cast<uint64_t>(b & 0x7F) << shift;
    if ((b & 0x80) == 0) return v;
  }
}

uint64_t read_fixed(const std::string& s, size_t& pos, size_t n) {
  if (pos + n > s.size()) throw std::runtime_error("truncated fixed field");
  uint64_t v = 0;
  for (size_t i = 0; i < n; ++i)
    v |= static_cast<uint64_t>(static_cast<uint8_t>(s[pos + i])) << (8 * i);
  pos += n;
  return v;
}

Fields parse(const std::string& s) {
  Fields out;
  size_t pos = 0;
  while (pos < s.size()) {
    const uint64_t key = read_varint(s, pos);
    Field f;
    f.wire = static_cast<int>(key & 7);
    if (f.wire == 0) {
      f.number = read_varint(s, pos);
    } else if (f.wire == 1) {
      f.number = read_fixed(s, pos, 8);
    } else if (f.wire == 5) {
      f.number = read_fixed(s, pos, 4);
    } else if (f.wire == 2) {
      const uint64_t n = read_varint(s, pos);
      if (pos + n > s.size()) throw std::runtime_error("truncated bytes field");
      f.bytes = s.substr(pos, n);
      pos += n;
    } else {
      throw std::runtime_error("unknown wire type");
    }
    out.emplace(static_cast<int>(key >> 3), f);
  }
  return out;
}

const Field& one(const Fields& f, int field) {
  if (f.count(field) != 1) throw std::runtime_error("field " + std::to_string(field) + " not once");
  return f.find(field)->second;
}
double as_double(const Field& f) { return std::bit_cast<double>(f.number); }
float as_float(const Field& f) { return std::bit_cast<float>(static_cast<uint32_t>(f.number)); }
std::vector<std::string> all_bytes(const Fields& f, int field) {
  std::vector<std::string> out;
  for (auto [a, b] = f.equal_range(field); a != b; ++a) out.push_back(a->second.bytes);
  return out;
}

// The records of an event file, each checked against its masked CRCs.
std::vector<std::string> read_records(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  const std::string s((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::vector<std::string> out;
  size_t pos = 0;
  while (pos < s.size()) {
    const std::string length = s.substr(pos, 8);
    size_t p = pos;
    const uint64_t n = read_fixed(s, p, 8);
    EXPECT_EQ(read_fixed(s, p, 4), tfe::masked_crc32c(length));
    const std::string data = s.substr(p, n);
    p += n;
    EXPECT_EQ(read_fixed(s, p, 4), tfe::masked_crc32c(data));
    out.push_back(data);
    pos = p;
  }
  return out;
}

// ---- checksums and the wire format --------------------------------------------------------------

TEST(TfEvents, Crc32cMatchesTheRfc3720Vectors) {
  EXPECT_EQ(gb::crc32c("123456789"), 0xE3069283u);
  EXPECT_EQ(gb::crc32c(""), 0u);
  EXPECT_EQ(gb::crc32c(std::string(32, '\0')), 0x8A9136AAu);
  EXPECT_EQ(gb::crc32c(std::string(32, '\xff')), 0x62A8AB43u);
  std::string ascending;
  for (int i = 0; i < 32; ++i) ascending.push_back(static_cast<char>(i));
  EXPECT_EQ(gb::crc32c(ascending), 0x46DD794Eu);
  const uint32_t c = 0xE3069283u;
  EXPECT_EQ(tfe::masked_crc32c("123456789"), ((c >> 15) | (c << 17)) + 0xa282ead8u);
}

TEST(TfEvents, VarintsAreBase128LowGroupsFirst) {
  const auto varint = [](uint64_t v) {
    std::string s;
    tfe::append_varint(s, v);
    return s;
  };
  EXPECT_EQ(varint(0), bytes_of({0}));
  EXPECT_EQ(varint(127), bytes_of({0x7f}));
  EXPECT_EQ(varint(128), bytes_of({0x80, 0x01}));
  EXPECT_EQ(varint(300), bytes_of({0xac, 0x02}));
  EXPECT_EQ(varint(~0ull), bytes_of({0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}));
  tfe::ProtoMessage m;
  m.add_varint(2, -1);  // int64 -1: ten bytes
  EXPECT_EQ(m.bytes(),
            bytes_of({0x10, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}));
}

TEST(TfEvents, FieldsCarryTheirWireTypes) {
  tfe::ProtoMessage m;
  m.add_double(1, 1.0);
  m.add_float(2, 1.0f);
  m.add_bytes(3, "abc");
  m.add_packed_doubles(6, {2.0});
  EXPECT_EQ(m.bytes(), bytes_of({0x09, 0, 0,   0,    0,    0, 0, 0xf0, 0x3f,  // fixed64
                                 0x15, 0, 0,   0x80, 0x3f,                    // fixed32
                                 0x1a, 3, 'a', 'b',  'c',                     // length-delimited
                                 0x32, 8, 0,   0,    0,    0, 0, 0,    0,    0x40}));
  tfe::ProtoMessage outer;
  outer.add_message(19, m);  // a two-byte tag
  EXPECT_EQ(outer.bytes().substr(0, 3), bytes_of({0x9a, 0x01, static_cast<int>(m.bytes().size())}));
}

TEST(TfEvents, RecordsAreLengthCrcDataCrc) {
  const std::string rec = tfe::frame_record("hello");
  ASSERT_EQ(rec.size(), 8u + 4 + 5 + 4);
  EXPECT_EQ(rec.substr(0, 8), bytes_of({5, 0, 0, 0, 0, 0, 0, 0}));
  size_t p = 8;
  EXPECT_EQ(read_fixed(rec, p, 4), tfe::masked_crc32c(rec.substr(0, 8)));
  EXPECT_EQ(rec.substr(12, 5), "hello");
  p = 17;
  EXPECT_EQ(read_fixed(rec, p, 4), tfe::masked_crc32c("hello"));
}

// ---- histograms -------------------------------------------------------------------------------

TEST(TensorBoard, HistogramBucketsAreClosedOnTheRight) {
  const std::vector<float> v = {0, 1, 2, 3, 4, NAN};
  const tfe::Histogram h = training::make_histogram(v.data(), v.size(), 4);
  EXPECT_EQ(h.num, 5);
  EXPECT_EQ(h.min, 0);
  EXPECT_EQ(h.max, 4);
  EXPECT_EQ(h.sum, 10);
  EXPECT_EQ(h.sum_squares, 30);
  EXPECT_EQ(h.bucket_limit, (std::vector<double>{1, 2, 3, 4}));
  EXPECT_EQ(h.bucket, (std::vector<double>{2, 1, 1, 1}));
  const std::vector<float> same = {0.5f, 0.5f, 0.5f};
  const tfe::Histogram c = training::make_histogram(same.data(), same.size(), 30);
  EXPECT_EQ(c.bucket_limit, (std::vector<double>{0.5}));
  EXPECT_EQ(c.bucket, (std::vector<double>{3}));
  EXPECT_TRUE(training::make_histogram(nullptr, 0, 30).bucket.empty());
  EXPECT_THROW(training::make_histogram(v.data(), v.size(), 0), std::invalid_argument);
}

// ---- whole files --------------------------------------------------------------------------------

std::vector<fs::path> event_files(const fs::path& dir) {
  std::vector<fs::path> out;
  for (const auto& e : fs::directory_iterator(dir)) out.push_back(e.path());
  std::sort(out.begin(), out.end());
  return out;
}

// The single Summary.Value of an event.
Fields summary_value(const Fields& event) {
  return parse(one(parse(one(event, 5).bytes), 1).bytes);
}

// A hand-made graph: image -> conv (reads conv.weight) -> relu -> add(relu, a constant).
models::ModelGraph small_graph() {
  models::ModelGraph g;
  g.input_shape = {1, 3, 8, 8};
  g.nodes.resize(3);
  g.nodes[0].name = "conv/conv2d";
  g.nodes[0].op = "conv2d";
  g.nodes[0].module = "conv";
  g.nodes[0].output_shape = {1, 4, 8, 8};
  g.nodes[0].inputs = {models::ModelGraph::kModelInput};
  g.nodes[0].params = {"conv.weight", "conv.bias"};
  g.nodes[0].attrs = {{"stride", "1,1"}};
  g.nodes[1].name = "relu";
  g.nodes[1].op = "relu";
  g.nodes[1].output_shape = {1, 4, 8, 8};
  g.nodes[1].inputs = {0};
  g.nodes[2].name = "add";
  g.nodes[2].op = "add";
  g.nodes[2].output_shape = {1, 4, 8, 8};
  g.nodes[2].inputs = {1, models::ModelGraph::kConstant};
  g.output = 2;
  return g;
}

// NodeDef name -> its fields.
std::map<std::string, Fields> graph_nodes(const std::string& graph_def,
                                          std::vector<std::string>& order) {
  std::map<std::string, Fields> nodes;
  for (const std::string& n : all_bytes(parse(graph_def), 1)) {
    Fields f = parse(n);
    order.push_back(one(f, 1).bytes);
    nodes[order.back()] = f;
  }
  return nodes;
}

// The value (AttrValue fields) of attribute `key` of a NodeDef.
Fields attr(const Fields& node, const std::string& key) {
  for (const std::string& entry : all_bytes(node, 5)) {
    const Fields e = parse(entry);
    if (one(e, 1).bytes == key) return parse(one(e, 2).bytes);
  }
  throw std::runtime_error("no attribute " + key);
}

TEST(TensorBoard, AWrittenFileParsesBack) {
  const fs::path dir = testing::temp_dir("tensorboard", "parse") / "run";  // created by the writer
  {
    training::TensorBoardWriter w(dir);
    w.scalar("train/loss", 7, 0.25);
    w.histogram("weights/w", 3, {1.0f, 2.0f, 3.0f});
    w.image("views/x", 2, 4, 3, 3, {'P', 'N', 'G'});
    w.graph(small_graph());
    w.flush();
  }
  const auto files = event_files(dir);
  ASSERT_EQ(files.size(), 1u);
  EXPECT_NE(files[0].filename().string().find("events.out.tfevents."), std::string::npos);
  const auto records = read_records(files[0]);
  ASSERT_EQ(records.size(), 5u);
  const Fields version = parse(records[0]);
  EXPECT_EQ(one(version, 3).bytes, "brain.Event:2");
  EXPECT_GT(as_double(one(version, 1)), 1.6e9);  // wall time: seconds since 1970

  const Fields scalar = parse(records[1]);
  EXPECT_EQ(one(scalar, 2).number, 7u);
  const Fields sv = summary_value(scalar);
  EXPECT_EQ(one(sv, 1).bytes, "train/loss");
  EXPECT_EQ(as_float(one(sv, 2)), 0.25f);

  const Fields histo = parse(one(summary_value(parse(records[2])), 5).bytes);
  EXPECT_EQ(as_double(one(histo, 1)), 1.0);
  EXPECT_EQ(as_double(one(histo, 2)), 3.0);
  EXPECT_EQ(as_double(one(histo, 3)), 3.0);
  EXPECT_EQ(as_double(one(histo, 4)), 6.0);
  EXPECT_EQ(as_double(one(histo, 5)), 14.0);
  EXPECT_EQ(one(histo, 6).bytes.size(), 30u * 8);  // 30 packed limits
  const std::string& counts = one(histo, 7).bytes;
  double total = 0;
  for (size_t p = 0; p < counts.size();) total += std::bit_cast<double>(read_fixed(counts, p, 8));
  EXPECT_EQ(total, 3.0);

  const Fields image = parse(one(summary_value(parse(records[3])), 4).bytes);
  EXPECT_EQ(one(image, 1).number, 3u);  // height
  EXPECT_EQ(one(image, 2).number, 4u);  // width
  EXPECT_EQ(one(image, 3).number, 3u);  // RGB
  EXPECT_EQ(one(image, 4).bytes, "PNG");

  std::vector<std::string> order;
  const auto nodes = graph_nodes(one(parse(records[4]), 4).bytes, order);
  EXPECT_EQ(order, (std::vector<std::string>{"input", "conv/conv2d", "relu", "add_const1", "add",
                                             "output"}));
  EXPECT_EQ(all_bytes(nodes.at("conv/conv2d"), 3), (std::vector<std::string>{"input"}));
  EXPECT_EQ(all_bytes(nodes.at("add"), 3), (std::vector<std::string>{"relu", "add_const1"}));
  EXPECT_EQ(one(nodes.at("add_const1"), 2).bytes, "Const");
  EXPECT_EQ(all_bytes(nodes.at("output"), 3), (std::vector<std::string>{"add"}));
  EXPECT_EQ(one(attr(nodes.at("conv/conv2d"), "params"), 2).bytes, "conv.weight,conv.bias");
  EXPECT_EQ(one(attr(nodes.at("conv/conv2d"), "stride"), 2).bytes, "1,1");
  // _output_shapes: AttrValue.list (1) -> ListValue.shape (7) -> dims (2) -> size (1).
  const Fields shape =
      parse(one(parse(one(attr(nodes.at("conv/conv2d"), "_output_shapes"), 1).bytes), 7).bytes);
  std::vector<uint64_t> dims;
  for (const std::string& d : all_bytes(shape, 2)) dims.push_back(one(parse(d), 1).number);
  EXPECT_EQ(dims, (std::vector<uint64_t>{1, 4, 8, 8}));
}

TEST(TensorBoard, EveryWriterGetsItsOwnFile) {
  const fs::path dir = testing::temp_dir("tensorboard", "two");
  auto first = std::make_unique<training::TensorBoardWriter>(dir);
  first->scalar("a", 1, 1.0);
  first->flush();
  const fs::path first_file = first->file();
  const auto first_size = fs::file_size(first_file);
  training::TensorBoardWriter second(dir);
  second.flush();
  EXPECT_NE(second.file(), first_file);
  EXPECT_EQ(event_files(dir).size(), 2u);
  EXPECT_EQ(fs::file_size(first_file), first_size);
}

TEST(TensorBoard, AnUnwritableDirectoryIsAnErrorNamingIt) {
  const fs::path dir = testing::temp_dir("tensorboard", "bad");
  std::ofstream(dir / "plain_file") << "x";
  const fs::path bad = dir / "plain_file" / "logs";
  try {
    training::TensorBoardWriter w(bad);
    FAIL() << "expected an error";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find(bad.string() + ": cannot write TensorBoard event files"),
              std::string::npos)
        << e.what();
  }
  training::TensorBoardSettings s;
  s.dir = dir / "ok";
  s.image_every = 0;
  EXPECT_THROW(training::TrainingLog{s}, std::invalid_argument);
}

// Tag -> steps it was written at, and the number of graph events.
struct Logged {
  std::map<std::string, std::vector<int64_t>> steps;
  int graphs = 0;
};
Logged logged(const fs::path& file) {
  Logged out;
  for (const std::string& rec : read_records(file)) {
    const Fields e = parse(rec);
    if (e.count(4)) ++out.graphs;
    if (!e.count(5)) continue;
    for (const std::string& v : all_bytes(parse(one(e, 5).bytes), 1)) {
      out.steps[one(parse(v), 1).bytes].push_back(static_cast<int64_t>(one(e, 2).number));
    }
  }
  return out;
}

TEST(TensorBoard, TheTrainingLogWritesStepsEpochsHistogramsAndDueViews) {
  models::ModelConfig mc;
  mc.in_channels = 1;
  mc.image_size = 28;
  auto model = models::build_model("smallcnn", mc);
  model->train();
  ops::sum((*model)(Tensor::zeros({2, 1, 28, 28}))).backward();  // every parameter gets a .grad
  data::Dataset test;
  test.channels = 1;
  test.height = test.width = 28;
  test.images.assign(2 * 28 * 28, 0);
  test.labels = {0, 1};
  test.classes = {"a", "b"};
  training::TensorBoardSettings s;
  s.dir = testing::temp_dir("tensorboard", "log");
  s.image_every = 2;
  std::vector<int64_t> view_epochs;
  s.views = [&](training::TensorBoardWriter& tb, int64_t epoch, Module&, const data::Dataset& ds,
                const data::Normalization&) {
    EXPECT_EQ(ds.size(), 2u);
    view_epochs.push_back(epoch);
    tb.scalar("views/drawn", epoch, 1);
  };
  training::TrainingLog log(s);
  log.set_test_data(&test, data::Normalization::identity(1));
  log.set_progress(10, 0);
  log.graph_once(*model, {1, 28, 28});
  log.graph_once(*model, {1, 28, 28});
  training::RunningMetrics running;
  running.batch_loss = 1.5;
  running.batch_accuracy = 0.5;
  log.step(running, 0.1);
  log.step(running, 0.1);
  for (int64_t e = 1; e <= 3; ++e) {
    training::EpochMetrics m;
    m.epoch = e;
    m.test_accuracy = e == 3 ? 0.5 : -1;
    log.epoch(m, *model, e == 3);
  }
  EXPECT_EQ(view_epochs, (std::vector<int64_t>{2, 3}));
  const Logged l = logged(log.writer().file());
  EXPECT_EQ(l.graphs, 1);
  EXPECT_EQ(l.steps.at("train/loss"), (std::vector<int64_t>{11, 12}));
  EXPECT_EQ(l.steps.at("train/lr"), (std::vector<int64_t>{11, 12}));
  EXPECT_EQ(l.steps.at("epoch/train_loss"), (std::vector<int64_t>{1, 2, 3}));
  EXPECT_EQ(l.steps.at("epoch/test_accuracy"), (std::vector<int64_t>{3}));
  EXPECT_EQ(l.steps.at("views/drawn"), (std::vector<int64_t>{2, 3}));
  for (const auto& [name, p] : model->named_parameters()) {
    EXPECT_EQ(l.steps.at("weights/" + name), (std::vector<int64_t>{1, 2, 3})) << name;
    EXPECT_EQ(l.steps.at("gradients/" + name), (std::vector<int64_t>{1, 2, 3})) << name;
  }
}

}  // namespace
}  // namespace gb
