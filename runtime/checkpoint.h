// Checkpoints: a model's parameters and buffers, optional optimizer state ("optim.<param>.<slot>")
// and string metadata, in one safetensors file written atomically. Loading checks every tensor's
// presence and shape and names the file and the tensor on any mismatch.
#pragma once
#include <filesystem>
#include <map>
#include <string>

#include "runtime/module.h"
#include "runtime/optim.h"
#include "runtime/safetensors.h"

namespace gb {

using Metadata = std::map<std::string, std::string>;

// Converts between tensors and safetensors entries (any dtype the runtime carries).
SafetensorsEntry to_entry(const std::string& name, const Tensor& t);
Tensor from_entry(const SafetensorsEntry& e);

// Writes model state (+ optimizer state when `opt` is given) and metadata to `path` atomically.
void save_checkpoint(const std::filesystem::path& path, const Module& model,
                     const optim::Optimizer* opt, const Metadata& metadata);

// Reads a checkpoint file (validated by read_safetensors).
SafetensorsFile read_checkpoint(const std::filesystem::path& path);

// Copies weights and buffers from `file` into `model`. requires: every model tensor is present
// with the same shape; throws std::runtime_error("<path>: ...") naming the first mismatch.
void load_model_state(const SafetensorsFile& file, Module& model, const std::filesystem::path& path);

// The optimizer state stored in `file` (names without the "optim." prefix).
optim::NamedTensors optimizer_state(const SafetensorsFile& file);

}  // namespace gb
