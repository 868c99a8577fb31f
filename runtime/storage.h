// Storage: one 64-byte aligned allocation on a device (host memory, or CUDA device memory from a
// caching allocator when built with CUDA), shared by every tensor that views it.
#pragma once
#include <cstddef>
#include <memory>

#include "runtime/device.h"

namespace gb {

class Storage {
 public:
  // ensures: data() is 64-byte aligned, zero-filled when `zero` is set; nbytes() == bytes.
  Storage(size_t bytes, Device device, bool zero = false);
  ~Storage();
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;

  void* data() const { return data_; }
  size_t nbytes() const { return bytes_; }
  Device device() const { return device_; }

  // Bytes currently held by all live storages on the CPU, and the peak since the last reset.
  static size_t live_bytes();
  static size_t peak_bytes();
  static void reset_peak();
  // Bytes of freed blocks kept for reuse (see storage.cpp), and a way to give them back to the
  // system (also done automatically when an allocation fails). Jobs call release_cache() where
  // they change phase (training <-> evaluation), so one phase's sizes do not stay resident
  // beside the next one's.
  static size_t cached_bytes();
  static void release_cache();
  // The same accounting for CUDA device memory (0 without CUDA).
  static size_t device_live_bytes();
  static size_t device_peak_bytes();
  static void reset_device_peak();

 private:
  void* data_ = nullptr;
  size_t bytes_ = 0;
  Device device_;
};

}  // namespace gb
