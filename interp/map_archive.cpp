// MapArchive: arrays with their metadata, written as safetensors or NPY files.
// Shape letters: N images, H/W map size.
#include "interp/map_archive.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <stdexcept>

namespace gb::interp {
using json = nlohmann::json;

MapFormat parse_map_format(const std::string& name) {
  if (name == "safetensors") return MapFormat::Safetensors;
  if (name == "npy") return MapFormat::Npy;
  if (name == "both") return MapFormat::Both;
  throw std::invalid_argument("--maps-format '" + name + "': expected safetensors, npy or both");
}

namespace {

bool safe_name(const std::string& name) {
  if (name.empty() || name == "maps" || name.front() == '.') return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' || c == '+' ||
           c == '-';
  });
}

template <typename T>
std::vector<uint8_t> raw_bytes(const std::vector<T>& v) {
  std::vector<uint8_t> out(v.size() * sizeof(T));
  if (!v.empty()) std::memcpy(out.data(), v.data(), out.size());
  return out;
}

}  // namespace

void MapArchive::add(SavedArray a) {
  if (!safe_name(a.name)) {
    throw std::invalid_argument("map archive: '" + a.name + "' is not a usable array name");
  }
  for (const auto& b : arrays_) {
    if (b.name == a.name) throw std::invalid_argument("map archive: '" + a.name + "' twice");
  }
  const uint64_t n = safetensors_numel(a.shape);
  if (n * safetensors_dtype_size(a.dtype) != a.bytes.size()) {
    throw std::invalid_argument(
        fmt::format("map archive: '{}' has {} bytes for {} elements", a.name, a.bytes.size(), n));
  }
  if (!a.meta.is_object()) a.meta = json::object();
  arrays_.push_back(std::move(a));
}

void MapArchive::add_f32(const std::string& name, std::vector<int64_t> shape,
                         const std::vector<float>& values, json meta) {
  add({name, "F32", std::move(shape), raw_bytes(values), std::move(meta)});
}

void MapArchive::add_i64(const std::string& name, std::vector<int64_t> shape,
                         const std::vector<int64_t>& values, json meta) {
  add({name, "I64", std::move(shape), raw_bytes(values), std::move(meta)});
}

SafetensorsFile MapArchive::to_safetensors() const {
  SafetensorsFile f;
  json maps = json::object();
  for (const auto& a : arrays_) {
    f.entries.push_back({a.name, a.dtype, a.shape, a.bytes});
    maps[a.name] = a.meta;
  }
  f.metadata["glassbox.maps"] = maps.dump();
  f.metadata["glassbox.info"] = info_.dump();
  return f;
}

void MapArchive::write_safetensors_file(const std::filesystem::path& path) const {
  write_safetensors(path, to_safetensors());
}

std::string npy_bytes(const SavedArray& a) {
  std::string shape = "(";
  for (size_t i = 0; i < a.shape.size(); ++i) shape += fmt::format("{}, ", a.shape[i]);
  if (a.shape.size() > 1) shape.resize(shape.size() - 2);
  if (a.shape.size() == 1) shape.pop_back();  // "(5,)"
  shape += ")";
  std::string header = fmt::format("{{'descr': '{}', 'fortran_order': False, 'shape': {}, }}",
                                   a.dtype == "F32" ? "<f4" : "<i8", shape);
  // Magic (6) + version (2) + length (2) + header + '\n' padded to a multiple of 64.
  const size_t total = 10 + header.size() + 1;
  header.append((64 - total % 64) % 64, ' ');
  header += '\n';
  std::string out("\x93NUMPY\x01\x00", 8);
  out += static_cast<char>(header.size() & 0xff);
  out += static_cast<char>(header.size() >> 8);
  out += header;
  out.append(reinterpret_cast<const char*>(a.bytes.data()), a.bytes.size());
  return out;
}

std::vector<std::string> MapArchive::npy_file_names() const {
  std::vector<std::string> names;
  for (const auto& a : arrays_) names.push_back(a.name + ".npy");
  names.push_back("maps.json");
  return names;
}

namespace {
void write_bytes(const std::filesystem::path& path, const std::string& bytes) {
  std::ofstream f(path, std::ios::binary);
  f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  f.close();
  if (!f) throw std::runtime_error(path.string() + ": write failed");
}
}  // namespace

std::vector<std::string> MapArchive::write_npy_arrays(const std::filesystem::path& dir) const {
  std::vector<std::string> names;
  for (const auto& a : arrays_) {
    write_bytes(dir / (a.name + ".npy"), npy_bytes(a));
    names.push_back(a.name + ".npy");
  }
  return names;
}

json MapArchive::npy_sidecar() const {
  json arrays = json::object();
  for (const auto& a : arrays_) {
    json m = a.meta;
    m["shape"] = a.shape;
    m["dtype"] = a.dtype == "F32" ? "float32" : "int64";
    arrays[a.name] = m;
  }
  return {{"info", info_}, {"arrays", arrays}};
}

void MapArchive::write_npy_files(const std::filesystem::path& dir) const {
  write_npy_arrays(dir);
  write_bytes(dir / "maps.json", npy_sidecar().dump(2) + "\n");
}

}  // namespace gb::interp
