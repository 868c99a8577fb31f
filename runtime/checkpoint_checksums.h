// The checksums a checkpoint carries so that damage is found when it is loaded: one CRC-32C per
// tensor's data and one of the header's content (metadata and every tensor's name, dtype and
// shape), kept as JSON text in the metadata entry "checksums":
//   {"algorithm": "crc32c", "header": "1a2b3c4d", "tensors": {"<name>": "5e6f7a8b", ...}}
// safetensors itself has no checksum, so without this a flipped bit in the tensor data loads as if
// the file were fine. No shapes here.
#pragma once
#include <filesystem>
#include <string_view>

#include "runtime/safetensors.h"

namespace gb {

inline constexpr std::string_view kChecksumsKey = "checksums";

// Records the checksums of `file` in file.metadata[kChecksumsKey] (replacing any record there).
void add_checksums(SafetensorsFile& file);

enum class ChecksumResult {
  Verified,  // every tensor and the header match the record
  Absent,    // no record: a checkpoint written before glassbox recorded checksums
};

// Checks `file` (read from `path`) against its record.
// throws: std::runtime_error "<path>: ..." naming the first damaged tensor ("tensor 'x' is
//   damaged: its data has CRC-32C ..., the checkpoint recorded ..."), a damaged header, a tensor
//   missing from the record or recorded but absent, or a malformed record; each message says
//   that --no-verify loads the file anyway.
ChecksumResult verify_checksums(const SafetensorsFile& file, const std::filesystem::path& path);

}  // namespace gb
