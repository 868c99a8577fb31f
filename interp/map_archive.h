// Raw attribution maps out, for users who take them further in numpy or PyTorch: float32 arrays
// with what produced them (method, target, options) written as a safetensors file (metadata
// "glassbox.maps": a JSON object per array; "glassbox.info": the run's settings) or as a
// directory of .npy files (NPY 1.0, little-endian, C order) with maps.json beside them.
// Shape letters: N images, H/W map size.
#pragma once
#include <cstdint>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "runtime/safetensors.h"

namespace gb::interp {

enum class MapFormat { Safetensors, Npy, Both };
// "safetensors", "npy", "both". throws: std::invalid_argument listing them.
MapFormat parse_map_format(const std::string& name);

struct SavedArray {
  std::string name;            // a file-name-safe name: [A-Za-z0-9_.+-]
  std::string dtype;           // "F32" or "I64"
  std::vector<int64_t> shape;  // [H,W], [N,H,W], [N], ...
  std::vector<uint8_t> bytes;  // little-endian, numel(shape) * 4 or 8
  nlohmann::json meta;         // method, target, options, ... (an object)
};

class MapArchive {
 public:
  explicit MapArchive(nlohmann::json info = nlohmann::json::object()) : info_(std::move(info)) {}
  // requires: values.size() == numel(shape). throws: std::invalid_argument for a bad or
  // repeated name or a size mismatch.
  void add_f32(const std::string& name, std::vector<int64_t> shape,
               const std::vector<float>& values, nlohmann::json meta = nlohmann::json::object());
  void add_i64(const std::string& name, std::vector<int64_t> shape,
               const std::vector<int64_t>& values, nlohmann::json meta = nlohmann::json::object());
  const std::vector<SavedArray>& arrays() const { return arrays_; }

  SafetensorsFile to_safetensors() const;
  // One safetensors file, atomically. throws: std::runtime_error naming the file.
  void write_safetensors_file(const std::filesystem::path& path) const;
  // <name>.npy per array and maps.json (npy_sidecar) into the existing directory `dir`.
  // throws: std::runtime_error naming the file.
  void write_npy_files(const std::filesystem::path& dir) const;
  // Only the <name>.npy files; returns their names.
  std::vector<std::string> write_npy_arrays(const std::filesystem::path& dir) const;
  // What maps.json holds: {"info": ..., "arrays": {name: meta + "shape" + "dtype"}}.
  nlohmann::json npy_sidecar() const;
  // The file names write_npy_files writes.
  std::vector<std::string> npy_file_names() const;

 private:
  void add(SavedArray a);
  nlohmann::json info_;
  std::vector<SavedArray> arrays_;
};

// The bytes of an NPY 1.0 file of `shape` with descr "<f4" (F32) or "<i8" (I64).
std::string npy_bytes(const SavedArray& a);

}  // namespace gb::interp
