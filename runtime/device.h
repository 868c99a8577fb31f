// Devices and element types carried by every tensor, and choosing a device by name.
// CUDA has kernels when glassbox is built with GLASSBOX_CUDA (the op table names them); in a
// CPU-only build a CUDA tensor is refused with an error naming the op and the device.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

namespace gb {

enum class DeviceType : uint8_t { Cpu = 0, Cuda = 1 };
inline constexpr int kDeviceTypeCount = 2;

struct Device {
  DeviceType type = DeviceType::Cpu;
  int index = 0;
  bool operator==(const Device&) const = default;
  std::string str() const { return type == DeviceType::Cpu ? "cpu" : "cuda:" + std::to_string(index); }
};

inline const char* device_type_name(DeviceType t) { return t == DeviceType::Cpu ? "cpu" : "cuda"; }

// "cpu", "cuda" or "cuda:N". throws std::invalid_argument for another name, and
// std::runtime_error naming the cause when CUDA is asked for but this build has no CUDA or
// no GPU is present (never a silent fallback to the CPU). Makes a CUDA device current.
Device parse_device(const std::string& name);
// A line describing the device ("cpu", or the GPU's name, compute capability and memory).
std::string describe_device(Device device);

// Element types. Kernels exist for F32; F16/BF16 are carried so mixed precision can come later.
enum class DType : uint8_t { F32, F16, BF16, I64, I32, U8 };

inline size_t dtype_size(DType t) {
  switch (t) {
    case DType::F32: return 4;
    case DType::F16: return 2;
    case DType::BF16: return 2;
    case DType::I64: return 8;
    case DType::I32: return 4;
    case DType::U8: return 1;
  }
  return 0;
}

// The safetensors spelling of each dtype ("F32", "I64", ...).
inline const char* dtype_name(DType t) {
  switch (t) {
    case DType::F32: return "F32";
    case DType::F16: return "F16";
    case DType::BF16: return "BF16";
    case DType::I64: return "I64";
    case DType::I32: return "I32";
    case DType::U8: return "U8";
  }
  return "?";
}

}  // namespace gb
