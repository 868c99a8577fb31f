// Whole-file reading for the data loaders, with transparent gzip decompression (zlib).
// Bytes only; no shapes here.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace gb::data {

// The raw bytes of a file.
// throws: DataError naming `path` if it is missing or cannot be read.
std::vector<uint8_t> read_file(const std::string& path);

// The bytes of a file, gunzipped when the file starts with the gzip magic (1f 8b); otherwise the
// bytes as stored. Concatenated gzip members are decoded one after another.
// throws: DataError naming `path` for a missing file, a corrupt or truncated gzip stream.
std::vector<uint8_t> read_maybe_gzip(const std::string& path);

// The most bytes gunzip produces by default (2 GiB): more is refused as a likely gzip bomb.
inline constexpr size_t kMaxGunzipBytes = size_t{1} << 31;

// Decompress an in-memory gzip stream; `name` is used in error messages.
// throws: DataError(name, ...) if the stream is corrupt or ends early, or would decompress to
//   more than `max_bytes` bytes.
std::vector<uint8_t> gunzip(const std::vector<uint8_t>& bytes, const std::string& name,
                            size_t max_bytes = kMaxGunzipBytes);

// `bytes` gunzipped when they start with the gzip magic (1f 8b), else returned as they are.
// throws: as gunzip.
std::vector<uint8_t> maybe_gunzip(std::vector<uint8_t> bytes, const std::string& name);

// True if `path` exists and is a regular file / a directory (no exceptions).
bool is_file(const std::string& path);
bool is_directory(const std::string& path);

}  // namespace gb::data
