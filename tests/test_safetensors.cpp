// Tests of the safetensors reader/writer: round trips, the exact bytes of the format (as the
// reference implementation writes them), every malformed-input error, and atomic writes.
#include "runtime/safetensors.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstring>
#include <fstream>
#include <iterator>
#include <stdexcept>
#include <string>
#include <vector>

namespace fs = std::filesystem;
using gb::SafetensorsEntry;
using gb::SafetensorsFile;

namespace {

std::string read_all(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void write_raw(const fs::path& p, const std::string& bytes) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

std::string le64(uint64_t n) {
  std::string s(8, '\0');
  for (int i = 0; i < 8; ++i) s[i] = static_cast<char>((n >> (8 * i)) & 0xff);
  return s;
}

// A file with the given JSON header (unpadded) followed by `data`.
std::string make_file(const std::string& header, const std::string& data) {
  return le64(header.size()) + header + data;
}

SafetensorsEntry entry(std::string name, std::string dtype, std::vector<int64_t> shape,
                       std::vector<uint8_t> bytes) {
  return {std::move(name), std::move(dtype), std::move(shape), std::move(bytes)};
}

class SafetensorsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = fs::temp_directory_path() /
           ("gb_safetensors_" + std::to_string(::getpid()) + "_" + info->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  // The names of the files in the test directory.
  std::vector<std::string> listing() const {
    std::vector<std::string> names;
    for (const auto& e : fs::directory_iterator(dir_)) names.push_back(e.path().filename());
    std::sort(names.begin(), names.end());
    return names;
  }

  // Expects read_safetensors(path) to throw a message "<path>: ..." that contains `cause`.
  void expect_read_error(const fs::path& path, const std::string& cause) {
    try {
      gb::read_safetensors(path);
      ADD_FAILURE() << "no error reading " << path << " (expected: " << cause << ")";
    } catch (const std::runtime_error& e) {
      const std::string msg = e.what();
      EXPECT_EQ(msg.rfind(path.string() + ": ", 0), 0u) << msg;
      EXPECT_NE(msg.find(cause), std::string::npos) << "message: " << msg << "\nwanted: " << cause;
      // Damaged bytes the parser quotes come out escaped: the message is printable text.
      for (const char c : msg) EXPECT_TRUE(c >= 0x20 && c < 0x7f) << "unprintable byte in: " << msg;
    }
  }
  // Writes `contents` to a fresh file and expects reading it to fail with `cause`.
  void expect_bad(const std::string& contents, const std::string& cause) {
    const fs::path p = dir_ / ("bad" + std::to_string(counter_++) + ".safetensors");
    write_raw(p, contents);
    expect_read_error(p, cause);
  }

  fs::path dir_;
  int counter_ = 0;
};

const std::string kTensorA = R"("a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]})";
const std::string kTwoFloats("\x00\x00\x80\x3f\x00\x00\x00\x40", 8);  // 1.0f, 2.0f

}  // namespace

TEST_F(SafetensorsTest, RoundTripAllDtypesAndMetadata) {
  SafetensorsFile f;
  f.metadata["format"] = "pt";
  f.metadata["config"] = R"({"arch":"resnet18","classes":10,"mean":[0.49,0.48,0.45]})";
  f.metadata["note"] = "caf\xc3\xa9 \"quoted\" \\ back\nslash";
  const float w[6] = {1.5f, -2.0f, 3.25f, 0.0f, -0.0f, 1e-30f};
  f.entries.push_back(gb::make_f32_entry("layer1.0.conv1.weight", {2, 3}, w));
  f.entries.push_back(entry("half", "F16", {2}, {0x00, 0x3c, 0x00, 0xc0}));
  f.entries.push_back(entry("bf", "BF16", {1, 1, 2}, {0x80, 0x3f, 0x00, 0x40}));
  std::vector<uint8_t> i64(16);
  const int64_t iv[2] = {-1, int64_t{1} << 40};
  std::memcpy(i64.data(), iv, 16);
  f.entries.push_back(entry("bn.num_batches_tracked", "I64", {2}, i64));
  f.entries.push_back(entry("labels", "I32", {}, {7, 0, 0, 0}));  // a scalar
  f.entries.push_back(entry("mask", "U8", {3}, {0, 1, 255}));
  f.entries.push_back(entry("empty", "F32", {0, 4}, {}));

  const fs::path p = dir_ / "model.safetensors";
  gb::write_safetensors(p, f);
  const SafetensorsFile g = gb::read_safetensors(p);

  EXPECT_EQ(g.metadata, f.metadata);
  ASSERT_EQ(g.entries.size(), f.entries.size());
  for (size_t i = 1; i < g.entries.size(); ++i)
    EXPECT_LT(g.entries[i - 1].name, g.entries[i].name);  // read back sorted by name
  for (const auto& e : f.entries) {
    const SafetensorsEntry* r = g.find(e.name);
    ASSERT_NE(r, nullptr) << e.name;
    EXPECT_EQ(r->dtype, e.dtype) << e.name;
    EXPECT_EQ(r->shape, e.shape) << e.name;
    EXPECT_EQ(r->bytes, e.bytes) << e.name;
  }
  EXPECT_EQ(g.find("nope"), nullptr);

  const std::vector<float> back = gb::to_f32(*g.find("layer1.0.conv1.weight"), {2, 3});
  ASSERT_EQ(back.size(), 6u);
  EXPECT_EQ(std::memcmp(back.data(), w, sizeof w), 0);  // bit-exact, including -0.0
  EXPECT_TRUE(gb::to_f32(*g.find("empty"), {0, 4}).empty());

  EXPECT_EQ(listing(), std::vector<std::string>{"model.safetensors"});  // no temp left behind
}

TEST_F(SafetensorsTest, WrittenBytesMatchTheReferenceLayout) {
  SafetensorsFile f;
  const float b[3] = {1.0f, 2.0f, 3.0f};
  f.entries.push_back(gb::make_f32_entry("b", {3}, b));
  f.entries.push_back(entry("a", "U8", {2}, {9, 8}));
  const fs::path p = dir_ / "x.safetensors";
  gb::write_safetensors(p, f);
  const std::string got = read_all(p);

  // Compact JSON, fields in the order dtype, shape, data_offsets, tensors in name order, padded
  // with spaces to a multiple of 8 bytes so that the data starts 8-byte aligned.
  std::string header = R"({"a":{"dtype":"U8","shape":[2],"data_offsets":[0,2]},)"
                       R"("b":{"dtype":"F32","shape":[3],"data_offsets":[2,14]}})";
  ASSERT_EQ(header.size(), 107u);
  std::string data("\x09\x08", 2);
  data.append(reinterpret_cast<const char*>(b), 12);
  EXPECT_EQ(got, le64(112) + header + "     " + data);

  // With metadata: "__metadata__" comes first.
  f.metadata["format"] = "pt";
  gb::write_safetensors(p, f);
  const std::string header2 = R"({"__metadata__":{"format":"pt"},)" + header.substr(1);
  ASSERT_EQ(header2.size(), 138u);
  EXPECT_EQ(read_all(p), le64(144) + header2 + "      " + data);

  // 54 bytes of JSON become 56.
  SafetensorsFile one;
  const float two[2] = {1.0f, 2.0f};
  one.entries.push_back(gb::make_f32_entry("a", {2}, two));
  gb::write_safetensors(p, one);
  const std::string json = "{" + kTensorA + "}";
  ASSERT_EQ(json.size(), 54u);
  EXPECT_EQ(read_all(p), le64(56) + json + "  " + kTwoFloats);

  // No tensors at all.
  gb::write_safetensors(p, SafetensorsFile{});
  EXPECT_EQ(read_all(p), le64(8) + "{}      ");
  EXPECT_TRUE(gb::read_safetensors(p).entries.empty());
}

TEST_F(SafetensorsTest, ReadsAHandBuiltReferenceFile) {
  // What `safetensors.torch.save_file({"weight": torch.tensor([[1., 2.], [3., 4.]]),
  // "ids": torch.tensor([5, -6]), "flag": torch.tensor([1], dtype=torch.uint8)},
  // metadata={"format": "pt"})` lays out: data sorted by dtype alignment (I64, F32, U8), then name,
  // so offsets are not in name order.
  const std::string header =
      R"({"__metadata__":{"format":"pt"},)"
      R"("ids":{"dtype":"I64","shape":[2],"data_offsets":[0,16]},)"
      R"("weight":{"dtype":"F32","shape":[2,2],"data_offsets":[16,32]},)"
      R"("flag":{"dtype":"U8","shape":[1],"data_offsets":[32,33]}})";
  std::string padded = header + std::string((8 - header.size() % 8) % 8, ' ');
  std::string data;
  data += std::string("\x05\0\0\0\0\0\0\0", 8);
  data += std::string("\xfa\xff\xff\xff\xff\xff\xff\xff", 8);
  data += std::string("\x00\x00\x80\x3f\x00\x00\x00\x40\x00\x00\x40\x40\x00\x00\x80\x40", 16);
  data += std::string("\x01", 1);
  const fs::path p = dir_ / "ref.safetensors";
  write_raw(p, le64(padded.size()) + padded + data);

  const SafetensorsFile f = gb::read_safetensors(p);
  EXPECT_EQ(f.metadata, (std::map<std::string, std::string>{{"format", "pt"}}));
  ASSERT_EQ(f.entries.size(), 3u);
  EXPECT_EQ(f.entries[0].name, "flag");
  EXPECT_EQ(f.entries[1].name, "ids");
  EXPECT_EQ(f.entries[2].name, "weight");
  EXPECT_EQ(gb::to_f32(*f.find("weight"), {2, 2}), (std::vector<float>{1, 2, 3, 4}));
  int64_t ids[2];
  ASSERT_EQ(f.find("ids")->bytes.size(), 16u);
  std::memcpy(ids, f.find("ids")->bytes.data(), 16);
  EXPECT_EQ(ids[0], 5);
  EXPECT_EQ(ids[1], -6);
  EXPECT_EQ(f.find("flag")->bytes, std::vector<uint8_t>{1});

  // Header padding is optional on read, and a JSON header with whitespace is fine.
  const std::string loose =
      R"({ "a" : {"data_offsets": [0, 8], "shape": [2], "dtype": "F32"} })";
  write_raw(p, make_file(loose, kTwoFloats));
  EXPECT_EQ(gb::to_f32(*gb::read_safetensors(p).find("a"), {2}), (std::vector<float>{1, 2}));
}

TEST_F(SafetensorsTest, HelpersCheckDtypeAndShape) {
  const float v[4] = {1, 2, 3, 4};
  const SafetensorsEntry e = gb::make_f32_entry("fc.weight", {2, 2}, v);
  EXPECT_EQ(e.dtype, "F32");
  EXPECT_EQ(e.bytes.size(), 16u);
  float out[4] = {};
  gb::copy_f32(e, {2, 2}, out);
  EXPECT_EQ(std::memcmp(out, v, sizeof v), 0);
  try {
    gb::copy_f32(e, {4}, out);
    ADD_FAILURE() << "shape mismatch accepted";
  } catch (const std::runtime_error& ex) {
    EXPECT_NE(std::string(ex.what()).find("fc.weight"), std::string::npos) << ex.what();
    EXPECT_NE(std::string(ex.what()).find("[2, 2]"), std::string::npos) << ex.what();
  }
  EXPECT_THROW(gb::to_f32(entry("h", "F16", {1}, {0, 0}), {1}), std::runtime_error);
  EXPECT_THROW(gb::to_f32(entry("short", "F32", {2}, {0, 0, 0, 0}), {2}), std::runtime_error);
  EXPECT_EQ(gb::safetensors_dtype_size("BF16"), 2u);
  EXPECT_EQ(gb::safetensors_dtype_size("I64"), 8u);
  EXPECT_THROW(gb::safetensors_dtype_size("F8"), std::runtime_error);
  EXPECT_EQ(gb::safetensors_numel({}), 1u);
  EXPECT_EQ(gb::safetensors_numel({3, 0, 5}), 0u);
  EXPECT_THROW(gb::safetensors_numel({-1}), std::runtime_error);
  EXPECT_THROW(gb::safetensors_numel({1 << 30, 1 << 30, 1 << 30}), std::runtime_error);
}

TEST_F(SafetensorsTest, BadFilesGiveErrorsNamingTheFile) {
  expect_read_error(dir_ / "missing.safetensors", "cannot open");
  expect_read_error(dir_, "not a regular file");
  expect_bad("", "shorter than the 8-byte header length");
  expect_bad("\x10\0\0\0\0", "shorter than the 8-byte header length");
  expect_bad(le64(100) + "{}", "larger than the file");
  expect_bad(le64(uint64_t{1} << 40) + "{}", "absurd");
  expect_bad(le64(100'000'001) + "{}", "absurd");
  expect_bad(make_file("{\"a\":", ""), "not valid JSON");
  expect_bad(make_file("", ""), "not valid JSON");
  expect_bad(make_file("{\"a\":\"\xff\"}", ""), "not valid JSON");  // invalid UTF-8
  expect_bad(make_file("[1,2]", ""), "not a JSON object");
  expect_bad(make_file(R"({"a":[1]})", ""), "'a': entry is not a JSON object");
  expect_bad(make_file(R"({"a":{"dtype":"Q7","shape":[2],"data_offsets":[0,8]}})", kTwoFloats),
             "unknown dtype 'Q7'");
  expect_bad(make_file(R"({"a":{"shape":[2],"data_offsets":[0,8]}})", kTwoFloats), "\"dtype\"");
  expect_bad(make_file(R"({"a":{"dtype":"F32","data_offsets":[0,8]}})", kTwoFloats), "\"shape\"");
  expect_bad(make_file(R"({"a":{"dtype":"F32","shape":[2]}})", kTwoFloats), "data_offsets");
  expect_bad(make_file(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0]}})", kTwoFloats),
             "data_offsets");
  expect_bad(make_file(R"({"a":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}})", kTwoFloats),
             "non-negative integer");
  expect_bad(make_file(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8.0]}})", kTwoFloats),
             "non-negative integer");
  // data_offsets reversed, past the end, overlapping, leaving a gap; size not matching shape.
  expect_bad(make_file(R"({"a":{"dtype":"F32","shape":[0],"data_offsets":[8,0]}})", kTwoFloats),
             "out of range");
  expect_bad(make_file(R"({"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})", kTwoFloats),
             "run past the end of the data area");
  expect_bad(make_file(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                       R"("b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})",
                       kTwoFloats),
             "overlap");
  expect_bad(make_file(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})", kTwoFloats),
             "gap");
  expect_bad(make_file(R"({"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", kTwoFloats),
             "need 12");
  expect_bad(make_file(R"({"a":{"dtype":"I64","shape":[2],"data_offsets":[0,8]}})", kTwoFloats),
             "need 16");
  // Truncated data, trailing data.
  expect_bad(make_file("{" + kTensorA + "}", kTwoFloats.substr(0, 5)), "truncated");
  expect_bad(make_file("{" + kTensorA + "}", kTwoFloats + "xyz"), "trailing data");
  // Duplicate names (nlohmann would silently keep the last one).
  expect_bad(make_file("{" + kTensorA + "," + kTensorA + "}", kTwoFloats + kTwoFloats),
             "duplicate tensor name 'a'");
  // Metadata must map strings to strings.
  expect_bad(make_file(R"({"__metadata__":{"epochs":10},)" + kTensorA + "}", kTwoFloats),
             "not a string");
  expect_bad(make_file(R"({"__metadata__":"x",)" + kTensorA + "}", kTwoFloats),
             "__metadata__ is not a JSON object");
  expect_bad(make_file(R"({"__metadata__":{"k":"1","k":"2"},)" + kTensorA + "}", kTwoFloats),
             "duplicate key 'k'");
  // A well-formed file still reads after all that.
  write_raw(dir_ / "good.safetensors", make_file("{" + kTensorA + "}", kTwoFloats));
  EXPECT_EQ(gb::read_safetensors(dir_ / "good.safetensors").entries.size(), 1u);
}

TEST_F(SafetensorsTest, WriteRejectsBadEntriesBeforeTouchingTheFile) {
  const fs::path p = dir_ / "model.safetensors";
  SafetensorsFile good;
  good.metadata["epoch"] = "3";
  const float v[2] = {1, 2};
  good.entries.push_back(gb::make_f32_entry("w", {2}, v));
  gb::write_safetensors(p, good);
  const std::string before = read_all(p);

  auto expect_write_error = [&](const SafetensorsFile& bad, const std::string& cause) {
    try {
      gb::write_safetensors(p, bad);
      ADD_FAILURE() << "no error writing (expected: " << cause << ")";
    } catch (const std::runtime_error& e) {
      const std::string msg = e.what();
      EXPECT_EQ(msg.rfind(p.string() + ": ", 0), 0u) << msg;
      EXPECT_NE(msg.find(cause), std::string::npos) << "message: " << msg << "\nwanted: " << cause;
    }
    EXPECT_EQ(read_all(p), before);  // old file intact
    EXPECT_EQ(listing(), std::vector<std::string>{"model.safetensors"});  // no temp file
  };

  SafetensorsFile bad = good;
  bad.entries.push_back(entry("x", "F32", {3}, {0, 0, 0, 0}));  // 4 bytes for 3 floats
  expect_write_error(bad, "need 12");
  bad = good;
  bad.entries.push_back(entry("x", "F64", {1}, std::vector<uint8_t>(8)));
  expect_write_error(bad, "unknown dtype");
  bad = good;
  bad.entries.push_back(good.entries[0]);
  expect_write_error(bad, "duplicate tensor name 'w'");
  bad = good;
  bad.entries.push_back(entry("__metadata__", "U8", {1}, {0}));
  expect_write_error(bad, "__metadata__");
  bad = good;
  bad.entries.push_back(entry("bad\xff", "U8", {1}, {0}));
  expect_write_error(bad, "UTF-8");
  bad = good;
  bad.entries.push_back(entry("neg", "U8", {-1}, {}));
  expect_write_error(bad, "negative dimension");
}

TEST_F(SafetensorsTest, AtomicWriteFailuresLeaveNothingBehind) {
  SafetensorsFile f;
  const float v[2] = {1, 2};
  f.entries.push_back(gb::make_f32_entry("w", {2}, v));

  // Directory does not exist: an error naming the path, and nothing created.
  const fs::path missing = dir_ / "no_such_dir" / "model.safetensors";
  try {
    gb::write_safetensors(missing, f);
    ADD_FAILURE() << "write into a missing directory succeeded";
  } catch (const std::runtime_error& e) {
    EXPECT_EQ(std::string(e.what()).rfind(missing.string() + ": ", 0), 0u) << e.what();
  }
  EXPECT_FALSE(fs::exists(dir_ / "no_such_dir"));
  EXPECT_TRUE(listing().empty());

  // The target is a directory: the temporary file is written, the rename fails, and the temporary
  // file is removed again while the directory is left as it was.
  const fs::path target = dir_ / "taken";
  fs::create_directories(target / "inside");
  EXPECT_THROW(gb::write_safetensors(target, f), std::runtime_error);
  EXPECT_EQ(listing(), std::vector<std::string>{"taken"});
  EXPECT_TRUE(fs::exists(target / "inside"));

  // Overwriting works and replaces the content whole.
  const fs::path p = dir_ / "m.safetensors";
  gb::write_safetensors(p, f);
  const float w[3] = {7, 8, 9};
  SafetensorsFile f2;
  f2.entries.push_back(gb::make_f32_entry("w", {3}, w));
  gb::write_safetensors(p, f2);
  EXPECT_EQ(gb::to_f32(*gb::read_safetensors(p).find("w"), {3}), (std::vector<float>{7, 8, 9}));
  EXPECT_EQ(listing(), (std::vector<std::string>{"m.safetensors", "taken"}));
}
