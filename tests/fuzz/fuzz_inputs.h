// One function per fuzz target: what a single input is fed through (the parser of one kind of
// outside data, with the checks a successful parse must pass). The libFuzzer executables
// (fuzz_main.cpp) and the regression suite (tests/test_fuzz_regressions.cpp) share them.
// The rule for every parser: a refusal is a std::runtime_error whose message names the input;
// any other exception (std::logic_error, std::bad_alloc, an unwrapped nlohmann::json error)
// escapes and is a finding, like a sanitizer report, a leak or a timeout.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace gb::fuzz {

using InputFn = void (*)(const uint8_t* data, size_t size);

// safetensors: the input is a whole file (runtime/safetensors.h, parse_safetensors).
void safetensors_input(const uint8_t* data, size_t size);
// CIFAR-10 and CIFAR-100 batches, gzipped or not, each kind whole and with a balanced limit.
void cifar_input(const uint8_t* data, size_t size);
// IDX and gzip: a 2-byte big-endian length L, L bytes of the labels file, then the images file.
void idx_input(const uint8_t* data, size_t size);
// PNG / JPEG decoding; the channel request (0, 1, 3, with or without conversion) comes from size.
void image_input(const uint8_t* data, size_t size);
// An image-tree archive in memory (tar / zip, compressed or not), split train decoded.
void archive_input(const uint8_t* data, size_t size);
// The text of a checkpoint's "glassbox" metadata entry: the meta and the resume state.
void checkpoint_meta_input(const uint8_t* data, size_t size);
// An .onnx file imported (its nodes converted and run on a dummy input).
void onnx_input(const uint8_t* data, size_t size);

// The function of target `name` ("safetensors", ... or "fuzz_safetensors"), or nullptr.
InputFn input_fn(std::string_view name);

}  // namespace gb::fuzz
