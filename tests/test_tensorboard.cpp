// TensorBoard event files written by glassbox (models/training/tfevents.h, tensorboard.h):
// CRC-32C against the RFC 3720 vectors, the protobuf wire format byte by byte, TFRecord framing,
// histograms, and whole files parsed back by a small reader here (records, checksums, Event,
// Summary, GraphDef fields). tests/viewers/test_tensorboard.py reads `train --tensorboard` files
// with TensorBoard's own reader. Shape letters: C channels, H/W image size.
#include <gtest/gtest.h>

#include <cstring>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "models/model_graph.h"
#include "models/registry.h"
#include "models/training/tensorboard.h"
#include "models/training/tfevents.h"
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
  for (size_t i = 0; i < n; ++i) v |= static_cast<uint64_t>(static_cast<uint8_t>(s[pos + i])) << (8 * i);
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
  EXPECT_EQ(tfe::crc32c("123456789"), 0xE3069283u);
  EXPECT_EQ(tfe::crc32c(""), 0u);
  EXPECT_EQ(tfe::crc32c(std::string(32, '\0')), 0x8A9136AAu);
  EXPECT_EQ(tfe::crc32c(std::string(32, '\xff')), 0x62A8AB43u);
  std::string ascending;
  for (int i = 0; i < 32; ++i) ascending.push_back(static_cast<char>(i));
  EXPECT_EQ(tfe::crc32c(ascending), 0x46DD794Eu);
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
  EXPECT_EQ(m.bytes(), bytes_of({0x10, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}));
}

TEST(TfEvents, FieldsCarryTheirWireTypes) {
  tfe::ProtoMessage m;
  m.add_double(1, 1.0);
  m.add_float(2, 1.0f);
  m.add_bytes(3, "abc");
  m.add_packed_doubles(6, {2.0});
  EXPECT_EQ(m.bytes(), bytes_of({0x09, 0, 0, 0, 0, 0, 0, 0xf0, 0x3f,  // fixed64
                                 0x15, 0, 0, 0x80, 0x3f,              // fixed32
                                 0x1a, 3, 'a', 'b', 'c',              // length-delimited
                                 0x32, 8, 0, 0, 0, 0, 0, 0, 0, 0x40}));
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
  const std::vector<float> v = {0, 1, 2, 3, 4, std::nanf("")};
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

}  // namespace
}  // namespace gb
