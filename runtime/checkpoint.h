// Checkpoints: a model's parameters and buffers, optional optimizer state ("optim.<param>.<slot>")
// and string metadata, in one safetensors file written atomically, with a CRC-32C of every tensor
// and of the header (checkpoint_checksums.h) that loading verifies. Loading checks every tensor's
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

// Writes model state (+ optimizer state when `opt` is given), metadata and the checksum record to
// `path` atomically.
void save_checkpoint(const std::filesystem::path& path, const Module& model,
                     const optim::Optimizer* opt, const Metadata& metadata);

// Whether read_checkpoint verifies checksums. One setting for the process: the CLI's --no-verify
// (for forensics on a damaged file) sets Skip. Default: Verify.
enum class ChecksumPolicy { Verify, Skip };
void set_checksum_policy(ChecksumPolicy policy);
ChecksumPolicy checksum_policy();

// Reads a checkpoint file (validated by read_safetensors) and, under ChecksumPolicy::Verify,
// checks its checksums. A file without checksums (written by an older glassbox) loads with a note
// on stderr; so does any file under ChecksumPolicy::Skip.
// throws: std::runtime_error "<path>: ..." from read_safetensors or verify_checksums.
SafetensorsFile read_checkpoint(const std::filesystem::path& path);

// Copies weights and buffers from `file` into `model`. requires: every model tensor is present
// with the same shape; throws std::runtime_error("<path>: ...") naming the first mismatch.
void load_model_state(const SafetensorsFile& file, Module& model, const std::filesystem::path& path);

// The optimizer state stored in `file` (names without the "optim." prefix).
optim::NamedTensors optimizer_state(const SafetensorsFile& file);

}  // namespace gb
