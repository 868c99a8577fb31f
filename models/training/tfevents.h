// TensorBoard's event file format, written without TensorFlow or libprotobuf: CRC-32C
// (Castagnoli), the protobuf wire format encoded by hand (varints, length-delimited fields,
// fixed64 doubles, fixed32 floats, packed doubles), the TFRecord framing (uint64 length, masked
// CRC of the length, data, masked CRC of the data), the Event and Summary messages
// (tensorflow/core/util/event.proto, tensorflow/core/framework/summary.proto) and a file that
// appends framed events to a new `events.out.tfevents.*` file. No tensor shapes here.
#pragma once
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

namespace gb::training::tfevents {

// ---- checksums -------------------------------------------------------------------------------
// (CRC-32C itself is gb::crc32c, runtime/checksum.h.)
// TFRecord's masked CRC of CRC-32C: ((crc >> 15) | (crc << 17)) + 0xa282ead8 (wrapping).
uint32_t masked_crc32c(std::string_view bytes);

// ---- protobuf wire format --------------------------------------------------------------------
// Appends `value` as a base-128 varint (1 to 10 bytes, low groups first).
void append_varint(std::string& out, uint64_t value);

// One protobuf message under construction: fields are appended in call order.
class ProtoMessage {
 public:
  // Integer fields (int32, int64, uint64, enum, bool) as varints; negative values take 10 bytes
  // (two's complement), as protobuf encodes int64.
  void add_varint(int field, int64_t value);
  void add_double(int field, double value);  // wire type 1 (fixed64, little endian)
  void add_float(int field, float value);    // wire type 5 (fixed32, little endian)
  // Length-delimited: strings, bytes, embedded messages.
  void add_bytes(int field, std::string_view bytes);
  void add_message(int field, const ProtoMessage& message);
  // A packed repeated double field (one length-delimited run of fixed64 values).
  void add_packed_doubles(int field, const std::vector<double>& values);
  const std::string& bytes() const { return bytes_; }

 private:
  void add_tag(int field, int wire_type);
  std::string bytes_;
};

// ---- records ---------------------------------------------------------------------------------
// One TFRecord: length (uint64 LE), masked CRC of those 8 bytes, the data, masked CRC of the data.
std::string frame_record(std::string_view data);

// ---- Event and Summary -----------------------------------------------------------------------
// Summary.Value messages (the tag plus one of simple_value, image, histo).
ProtoMessage scalar_value(const std::string& tag, float value);

// The histogram of one series: HistogramProto's fields. Bucket i counts the values in
// (bucket_limit[i-1], bucket_limit[i]] (the first bucket starts at min).
struct Histogram {
  double min = 0, max = 0, num = 0, sum = 0, sum_squares = 0;
  std::vector<double> bucket_limit;
  std::vector<double> bucket;  // counts, same length as bucket_limit
};
ProtoMessage histogram_value(const std::string& tag, const Histogram& h);

// An image summary: `png` is the encoded file; channels 1 (gray), 3 (RGB) or 4 (RGBA).
ProtoMessage image_value(const std::string& tag, int64_t width, int64_t height, int channels,
                         const std::vector<uint8_t>& png);

// Event messages: wall time in seconds since the epoch, the step, and one payload.
std::string file_version_event(double wall_time);  // "brain.Event:2", the first record
std::string summary_event(double wall_time, int64_t step, const std::vector<ProtoMessage>& values);
std::string graph_event(double wall_time, const std::string& graph_def);

// Seconds since the Unix epoch, with sub-second resolution.
double wall_time_now();

// ---- the file --------------------------------------------------------------------------------
// A new event file in a directory, framed records appended to it. The name is
// `events.out.tfevents.<unix seconds>.<hostname>.<pid>.<n>.glassbox` with n the first number
// that names no existing file, so an existing file is never replaced. The first record is the
// file version.
class EventFile {
 public:
  // Creates `dir` (and its parents) when missing and the file in it.
  // throws: std::runtime_error "<dir>: cannot write TensorBoard event files (<cause>)".
  explicit EventFile(const std::filesystem::path& dir);
  ~EventFile();
  EventFile(const EventFile&) = delete;
  EventFile& operator=(const EventFile&) = delete;

  // Appends one framed event. throws: std::runtime_error naming the file when a write fails.
  void write_event(std::string_view event);
  // Pushes what was written to the operating system, so a running TensorBoard sees it.
  // throws: std::runtime_error naming the file.
  void flush();
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
  std::FILE* file_ = nullptr;
};

}  // namespace gb::training::tfevents
