// Checkpoint checksums (see checkpoint_checksums.h): computing the record and checking a file
// against it.
#include "runtime/checkpoint_checksums.h"

#include <fmt/format.h>

#include <algorithm>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <vector>

#include "runtime/checksum.h"

namespace gb {
namespace {

using nlohmann::json;

std::string hex(uint32_t crc) { return fmt::format("{:08x}", crc); }

// The CRC-32C of the header's content, the checksum record left out: every metadata key and
// value, then every tensor's name, dtype and shape, both sorted by name, each field NUL-terminated.
uint32_t header_crc(const SafetensorsFile& file) {
  std::string canonical;
  auto add = [&](std::string_view field) {
    canonical.append(field);
    canonical.push_back('\0');
  };
  for (const auto& [key, value] : file.metadata) {
    if (key == kChecksumsKey) continue;
    add(key);
    add(value);
  }
  std::vector<const SafetensorsEntry*> by_name;
  for (const auto& e : file.entries) by_name.push_back(&e);
  std::sort(by_name.begin(), by_name.end(), [](auto* a, auto* b) { return a->name < b->name; });
  for (const SafetensorsEntry* e : by_name) {
    add(e->name);
    add(e->dtype);
    std::string shape;
    for (int64_t d : e->shape) shape += std::to_string(d) + ",";
    add(shape);
  }
  return crc32c(canonical);
}

uint32_t data_crc(const SafetensorsEntry& e) { return crc32c(e.bytes.data(), e.bytes.size()); }

std::runtime_error damaged(const std::filesystem::path& path, const std::string& cause) {
  return std::runtime_error(path.string() + ": " + cause +
                            "; the file is damaged (pass --no-verify to load it anyway)");
}

// The record's "tensors" object, checked for form. throws: damaged(...) when malformed.
json parse_record(const std::string& text, const std::filesystem::path& path) {
  json record;
  try {
    record = json::parse(text);
  } catch (const json::exception&) {
    throw damaged(path, "its checksum record is not valid JSON");
  }
  if (!record.is_object() || record.value("algorithm", "") != "crc32c" ||
      !record.contains("header") || !record["header"].is_string() ||
      !record.contains("tensors") || !record["tensors"].is_object()) {
    throw damaged(path, "its checksum record is malformed (expected algorithm crc32c, header, "
                        "tensors)");
  }
  return record;
}

// True when `value` looks like a checksum record (found under another key: a damaged key).
bool looks_like_record(const std::string& value) {
  return value.find("\"algorithm\":\"crc32c\"") != std::string::npos &&
         value.find("\"tensors\"") != std::string::npos;
}

}  // namespace

void add_checksums(SafetensorsFile& file) {
  json tensors = json::object();
  for (const auto& e : file.entries) tensors[e.name] = hex(data_crc(e));
  const json record = {{"algorithm", "crc32c"}, {"header", hex(header_crc(file))},
                       {"tensors", tensors}};
  file.metadata[std::string(kChecksumsKey)] = record.dump();
}

ChecksumResult verify_checksums(const SafetensorsFile& file, const std::filesystem::path& path) {
  const auto it = file.metadata.find(std::string(kChecksumsKey));
  if (it == file.metadata.end()) {
    for (const auto& [key, value] : file.metadata) {
      if (looks_like_record(value)) {
        throw damaged(path, "its checksum record is stored under the key '" + key + "' instead of '" +
                                std::string(kChecksumsKey) + "'");
      }
    }
    return ChecksumResult::Absent;
  }
  const json record = parse_record(it->second, path);
  const json& tensors = record["tensors"];
  for (const auto& e : file.entries) {
    const auto r = tensors.find(e.name);
    if (r == tensors.end() || !r->is_string()) {
      throw damaged(path, "tensor '" + e.name + "' has no checksum in the record");
    }
    const std::string actual = hex(data_crc(e));
    if (actual != r->get<std::string>()) {
      throw damaged(path, "tensor '" + e.name + "' has data with CRC-32C " + actual +
                              " but the checkpoint recorded " + r->get<std::string>());
    }
  }
  for (const auto& item : tensors.items()) {
    if (!file.find(item.key())) {
      throw damaged(path, "tensor '" + item.key() + "' is recorded but absent");
    }
  }
  const std::string header = hex(header_crc(file));
  if (header != record["header"].get<std::string>()) {
    throw damaged(path, "its header (metadata, tensor names, dtypes or shapes) has CRC-32C " +
                            header + " but the checkpoint recorded " +
                            record["header"].get<std::string>());
  }
  return ChecksumResult::Verified;
}

}  // namespace gb
