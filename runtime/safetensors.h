// Reader and writer of the safetensors file format, on plain records (no Tensor dependency).
// Layout: 8-byte little-endian header length N, N bytes of JSON header (padded with spaces so that
// 8 + N is a multiple of 8), then the raw little-endian tensor data. The header maps each tensor
// name to {"dtype", "shape", "data_offsets": [begin, end]} (offsets relative to the data area) and
// may hold "__metadata__": {string: string}. Files written here are byte-identical to the ones the
// reference implementation (huggingface/safetensors) writes for the same tensors and metadata,
// except that the data area is in sorted-name order (the reference sorts by dtype first).
#pragma once
#include <cstdint>
#include <filesystem>
#include <map>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace gb {

// One tensor: dtype is one of "F32", "F16", "BF16", "I64", "I32", "U8"; shape may be empty (a
// scalar, one element) and may hold zeros (no elements); bytes is the raw little-endian data,
// exactly numel(shape) * dtype size bytes.
struct SafetensorsEntry {
  std::string name;
  std::string dtype;
  std::vector<int64_t> shape;
  std::vector<uint8_t> bytes;
};

// A whole file. Metadata values are strings (the format says so): store structured settings as
// JSON text inside a string. read_safetensors returns entries sorted by name.
struct SafetensorsFile {
  std::map<std::string, std::string> metadata;
  std::vector<SafetensorsEntry> entries;

  // The entry called `name`, or nullptr.
  const SafetensorsEntry* find(std::string_view name) const;
};

// Bytes per element of a dtype; throws std::runtime_error for an unknown dtype.
size_t safetensors_dtype_size(std::string_view dtype);

// Number of elements of a shape (1 for an empty shape); throws std::runtime_error for a negative
// dimension or an element count that does not fit in 64 bits.
uint64_t safetensors_numel(const std::vector<int64_t>& shape);

// Writes `file` to `path` atomically: the bytes go to "<path>.tmp.<pid>" in the same directory,
// which is fsynced and renamed over `path`. Every entry is checked (known dtype, byte count that
// matches shape, unique names that are valid UTF-8 and not "__metadata__") before anything is
// touched. On any failure it throws std::runtime_error("<path>: <cause>"), the old file at `path`
// (if any) is untouched and the temporary file is removed.
void write_safetensors(const std::filesystem::path& path, const SafetensorsFile& file);

// Reads and validates a whole file. Throws std::runtime_error("<path>: <cause>") when the file is
// missing or unreadable, shorter than 8 bytes, declares a header longer than the file or longer
// than 100 MB, has a header that is not a JSON object of the expected form, names an unknown
// dtype, has data_offsets that are malformed, out of range, overlapping, leave gaps or do not
// match shape * dtype size, has truncated or trailing data, or repeats a name.
SafetensorsFile read_safetensors(const std::filesystem::path& path);

// The same checks on the bytes of a whole file held in memory (no file system access); `name`
// stands for the path in messages ("<name>: <cause>"). Nothing is allocated from a declared size
// before the header has been checked against the bytes actually given.
SafetensorsFile parse_safetensors(std::span<const uint8_t> bytes, const std::string& name);

// An F32 entry holding numel(shape) floats copied from `data`.
SafetensorsEntry make_f32_entry(std::string name, std::vector<int64_t> shape, const float* data);

// Copies an F32 entry into `out` (numel(expected_shape) floats). Throws std::runtime_error naming
// the tensor if its dtype is not F32 or its shape differs from `expected_shape`.
void copy_f32(const SafetensorsEntry& entry, const std::vector<int64_t>& expected_shape,
              float* out);
// The same, returning the floats.
std::vector<float> to_f32(const SafetensorsEntry& entry,
                          const std::vector<int64_t>& expected_shape);

}  // namespace gb
