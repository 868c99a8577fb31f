// AllocationLimit: a cap on the host tensor memory of a job run on untrusted input (ONNX import
// runs the model once to learn its shapes), enforced by Storage (runtime/storage.cpp).
#pragma once
#include <cstddef>

namespace gb {

// While one is alive on a thread, a CPU Storage allocated on that thread that would bring
// Storage::live_bytes() above `max_live_bytes` throws std::runtime_error naming the sizes, before
// anything is allocated. Nested limits: the innermost one applies until it ends.
class AllocationLimit {
 public:
  explicit AllocationLimit(size_t max_live_bytes);
  ~AllocationLimit();
  AllocationLimit(const AllocationLimit&) = delete;
  AllocationLimit& operator=(const AllocationLimit&) = delete;

 private:
  size_t previous_;
};

}  // namespace gb
