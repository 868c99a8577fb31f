// TensorBoard event files by hand (see tfevents.h): the masked CRC-32C, the protobuf wire format,
// TFRecord framing, the Event/Summary messages and the event file. No tensor shapes here.
#include "models/training/tfevents.h"

#include <unistd.h>

#include <array>
#include <bit>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <stdexcept>
#include <system_error>

#include "runtime/checksum.h"

namespace gb::training::tfevents {
namespace fs = std::filesystem;

namespace {

// Protobuf wire types.
constexpr int kVarint = 0, kFixed64 = 1, kLengthDelimited = 2, kFixed32 = 5;

template <class T>
void append_little_endian(std::string& out, T value) {
  for (size_t i = 0; i < sizeof(T); ++i) {
    out.push_back(static_cast<char>(static_cast<uint8_t>(value >> (8 * i))));
  }
}

// Event fields (event.proto), Summary (summary.proto).
constexpr int kEventWallTime = 1, kEventStep = 2, kEventFileVersion = 3, kEventGraphDef = 4,
              kEventSummary = 5;
constexpr int kSummaryValue = 1;
constexpr int kValueTag = 1, kValueSimple = 2, kValueImage = 4, kValueHisto = 5;

std::string host_name() {
  std::array<char, 256> buf{};
  if (gethostname(buf.data(), buf.size() - 1) != 0 || buf[0] == '\0') return "localhost";
  std::string name(buf.data());
  for (char& c : name) {
    if (c == '/' || c == '\\') c = '_';
  }
  return name;
}

}  // namespace

uint32_t masked_crc32c(std::string_view bytes) {
  const uint32_t c = gb::crc32c(bytes);
  return ((c >> 15) | (c << 17)) + 0xa282ead8u;
}

void append_varint(std::string& out, uint64_t value) {
  while (value >= 0x80) {
    out.push_back(static_cast<char>((value & 0x7F) | 0x80));
    value >>= 7;
  }
  out.push_back(static_cast<char>(value));
}

void ProtoMessage::add_tag(int field, int wire_type) {
  append_varint(bytes_, (static_cast<uint64_t>(field) << 3) | static_cast<uint64_t>(wire_type));
}

void ProtoMessage::add_varint(int field, int64_t value) {
  add_tag(field, kVarint);
  append_varint(bytes_, static_cast<uint64_t>(value));
}

void ProtoMessage::add_double(int field, double value) {
  add_tag(field, kFixed64);
  append_little_endian(bytes_, std::bit_cast<uint64_t>(value));
}

void ProtoMessage::add_float(int field, float value) {
  add_tag(field, kFixed32);
  append_little_endian(bytes_, std::bit_cast<uint32_t>(value));
}

void ProtoMessage::add_bytes(int field, std::string_view bytes) {
  add_tag(field, kLengthDelimited);
  append_varint(bytes_, bytes.size());
  bytes_.append(bytes);
}

void ProtoMessage::add_message(int field, const ProtoMessage& message) {
  add_bytes(field, message.bytes());
}

void ProtoMessage::add_packed_doubles(int field, const std::vector<double>& values) {
  add_tag(field, kLengthDelimited);
  append_varint(bytes_, values.size() * sizeof(double));
  for (const double v : values) append_little_endian(bytes_, std::bit_cast<uint64_t>(v));
}

std::string frame_record(std::string_view data) {
  std::string length;
  append_little_endian(length, static_cast<uint64_t>(data.size()));
  std::string out = length;
  append_little_endian(out, masked_crc32c(length));
  out.append(data);
  append_little_endian(out, masked_crc32c(data));
  return out;
}

ProtoMessage scalar_value(const std::string& tag, float value) {
  ProtoMessage v;
  v.add_bytes(kValueTag, tag);
  v.add_float(kValueSimple, value);
  return v;
}

ProtoMessage histogram_value(const std::string& tag, const Histogram& h) {
  ProtoMessage histo;
  histo.add_double(1, h.min);
  histo.add_double(2, h.max);
  histo.add_double(3, h.num);
  histo.add_double(4, h.sum);
  histo.add_double(5, h.sum_squares);
  histo.add_packed_doubles(6, h.bucket_limit);
  histo.add_packed_doubles(7, h.bucket);
  ProtoMessage v;
  v.add_bytes(kValueTag, tag);
  v.add_message(kValueHisto, histo);
  return v;
}

ProtoMessage image_value(const std::string& tag, int64_t width, int64_t height, int channels,
                         const std::vector<uint8_t>& png) {
  ProtoMessage image;
  image.add_varint(1, height);
  image.add_varint(2, width);
  image.add_varint(3, channels);
  image.add_bytes(4, std::string_view(reinterpret_cast<const char*>(png.data()), png.size()));
  ProtoMessage v;
  v.add_bytes(kValueTag, tag);
  v.add_message(kValueImage, image);
  return v;
}

std::string file_version_event(double wall_time) {
  ProtoMessage e;
  e.add_double(kEventWallTime, wall_time);
  e.add_varint(kEventStep, 0);
  e.add_bytes(kEventFileVersion, "brain.Event:2");
  return e.bytes();
}

std::string summary_event(double wall_time, int64_t step, const std::vector<ProtoMessage>& values) {
  ProtoMessage summary;
  for (const ProtoMessage& v : values) summary.add_message(kSummaryValue, v);
  ProtoMessage e;
  e.add_double(kEventWallTime, wall_time);
  e.add_varint(kEventStep, step);
  e.add_message(kEventSummary, summary);
  return e.bytes();
}

std::string graph_event(double wall_time, const std::string& graph_def) {
  ProtoMessage e;
  e.add_double(kEventWallTime, wall_time);
  e.add_varint(kEventStep, 0);
  e.add_bytes(kEventGraphDef, graph_def);
  return e.bytes();
}

double wall_time_now() {
  const auto since_epoch = std::chrono::system_clock::now().time_since_epoch();
  return std::chrono::duration<double>(since_epoch).count();
}

EventFile::EventFile(const fs::path& dir) {
  const auto fail = [&dir](const std::string& cause) {
    return std::runtime_error(dir.string() + ": cannot write TensorBoard event files (" + cause +
                              ")");
  };
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) throw fail(ec.message());
  if (!fs::is_directory(dir)) throw fail("not a directory");
  const auto seconds = static_cast<int64_t>(wall_time_now());
  const std::string stem = "events.out.tfevents." + std::to_string(seconds) + "." + host_name() +
                           "." + std::to_string(getpid()) + ".";
  for (int n = 0; file_ == nullptr; ++n) {
    path_ = dir / (stem + std::to_string(n) + ".glassbox");
    file_ = std::fopen(path_.c_str(), "wbx");  // x: fails when the file exists
    if (file_ == nullptr && errno != EEXIST) throw fail(std::strerror(errno));
    if (n > 1000) throw fail("no free file name");
  }
  try {
    write_event(file_version_event(wall_time_now()));
    flush();
  } catch (...) {  // the destructor does not run for a constructor that throws
    std::fclose(file_);
    std::error_code ignored;
    fs::remove(path_, ignored);
    throw;
  }
}

EventFile::~EventFile() {
  if (file_ != nullptr) std::fclose(file_);
}

void EventFile::write_event(std::string_view event) {
  const std::string record = frame_record(event);
  if (std::fwrite(record.data(), 1, record.size(), file_) != record.size()) {
    throw std::runtime_error(path_.string() + ": writing a TensorBoard event failed (" +
                             std::strerror(errno) + ")");
  }
}

void EventFile::flush() {
  if (std::fflush(file_) != 0) {
    throw std::runtime_error(path_.string() + ": flushing TensorBoard events failed (" +
                             std::strerror(errno) + ")");
  }
}

}  // namespace gb::training::tfevents
