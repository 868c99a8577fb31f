// Checkpoint save/load on top of the safetensors reader and writer.
#include "runtime/checkpoint.h"

#include <fmt/format.h>

#include <atomic>
#include <cstring>
#include <stdexcept>

#include "runtime/checkpoint_checksums.h"

namespace gb {
namespace {
const char* kOptimPrefix = "optim.";
std::atomic<ChecksumPolicy> g_checksum_policy{ChecksumPolicy::Verify};

DType parse_dtype(const std::string& s) {
  for (DType t : {DType::F32, DType::F16, DType::BF16, DType::I64, DType::I32, DType::U8}) {
    if (s == dtype_name(t)) return t;
  }
  throw std::runtime_error("unsupported dtype " + s);
}
}  // namespace

SafetensorsEntry to_entry(const std::string& name, const Tensor& t) {
  Tensor c = t.to(Device{});  // device tensors are read back to the host
  if (!c.is_contiguous()) c = c.clone();
  SafetensorsEntry e;
  e.name = name;
  e.dtype = dtype_name(t.dtype());
  e.shape = t.shape();
  const size_t bytes = static_cast<size_t>(t.numel()) * dtype_size(t.dtype());
  e.bytes.resize(bytes);
  if (bytes) {
    std::memcpy(e.bytes.data(),
                static_cast<const char*>(c.storage()->data()) + c.offset() * dtype_size(t.dtype()),
                bytes);
  }
  return e;
}

Tensor from_entry(const SafetensorsEntry& e) {
  Tensor t = Tensor::empty(e.shape, parse_dtype(e.dtype));
  if (!e.bytes.empty()) std::memcpy(t.storage()->data(), e.bytes.data(), e.bytes.size());
  return t;
}

void save_checkpoint(const std::filesystem::path& path, const Module& model,
                     const optim::Optimizer* opt, const Metadata& metadata) {
  SafetensorsFile file;
  file.metadata = metadata;
  for (const auto& [n, t] : model.named_parameters()) file.entries.push_back(to_entry(n, t));
  for (const auto& [n, t] : model.named_buffers()) file.entries.push_back(to_entry(n, t));
  if (opt) {
    for (const auto& [n, t] : opt->state()) file.entries.push_back(to_entry(kOptimPrefix + n, t));
    file.metadata["optimizer"] = opt->name();
    file.metadata["optimizer_steps"] = std::to_string(opt->steps());
  }
  add_checksums(file);
  write_safetensors(path, file);
}

void set_checksum_policy(ChecksumPolicy policy) { g_checksum_policy = policy; }
ChecksumPolicy checksum_policy() { return g_checksum_policy; }

SafetensorsFile read_checkpoint(const std::filesystem::path& path) {
  SafetensorsFile file = read_safetensors(path);
  if (checksum_policy() == ChecksumPolicy::Skip) {
    fmt::print(stderr, "glassbox: note: {}: checksums not verified (--no-verify)\n", path.string());
  } else if (verify_checksums(file, path) == ChecksumResult::Absent) {
    fmt::print(stderr,
               "glassbox: note: {}: has no checksums (written by an older glassbox or another "
               "tool); its tensor data cannot be verified\n",
               path.string());
  }
  return file;
}

void load_model_state(const SafetensorsFile& file, Module& model, const std::filesystem::path& path) {
  // The entry for `dst`, checked for presence, shape and dtype; throws naming file and tensor.
  auto checked_entry = [&](const std::string& name, const Tensor& dst) {
    const SafetensorsEntry* e = file.find(name);
    if (!e) {
      throw std::runtime_error(path.string() + ": tensor '" + name +
                               "' missing (is this a checkpoint of another architecture?)");
    }
    if (e->shape != dst.shape()) {
      throw std::runtime_error(path.string() + ": tensor '" + name + "' has shape " +
                               shape_str(e->shape) + " but the model expects " +
                               shape_str(dst.shape()) + " (checkpoint of another architecture?)");
    }
    if (e->dtype != dtype_name(dst.dtype())) {
      throw std::runtime_error(path.string() + ": tensor '" + name + "' has dtype " + e->dtype +
                               ", expected " + dtype_name(dst.dtype()));
    }
    if (!dst.is_contiguous()) throw std::logic_error("model tensor " + name + " is not contiguous");
    return e;
  };
  // Validate everything before writing anything, so a failed load leaves the model intact.
  auto tensors = model.named_parameters();
  auto buffers = model.named_buffers();
  tensors.insert(tensors.end(), buffers.begin(), buffers.end());
  std::vector<const SafetensorsEntry*> entries;
  for (const auto& [n, t] : tensors) entries.push_back(checked_entry(n, t));
  for (size_t i = 0; i < tensors.size(); ++i) {
    const Tensor& t = tensors[i].second;
    if (t.device().type != DeviceType::Cpu) {  // a model already moved to a GPU
      if (!entries[i]->bytes.empty()) Tensor(t).copy_(from_entry(*entries[i]));
      continue;
    }
    char* dst = static_cast<char*>(t.storage()->data()) +
                static_cast<size_t>(t.offset()) * dtype_size(t.dtype());
    if (!entries[i]->bytes.empty()) std::memcpy(dst, entries[i]->bytes.data(), entries[i]->bytes.size());
  }
}

optim::NamedTensors optimizer_state(const SafetensorsFile& file) {
  optim::NamedTensors out;
  const size_t plen = std::strlen(kOptimPrefix);
  for (const auto& e : file.entries) {
    if (e.name.rfind(kOptimPrefix, 0) == 0) out.emplace_back(e.name.substr(plen), from_entry(e));
  }
  return out;
}

}  // namespace gb
