// A 64-byte aligned float scratch buffer that only grows; kernels keep one per thread per purpose
// (thread_local) so that steady-state calls allocate nothing.
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <new>

namespace gb::kernels::cpu {

class AlignedBuffer {
 public:
  AlignedBuffer() = default;
  AlignedBuffer(const AlignedBuffer&) = delete;
  AlignedBuffer& operator=(const AlignedBuffer&) = delete;
  ~AlignedBuffer() { std::free(data_); }
  // At least `count` floats; contents are unspecified after growth.
  float* get(int64_t count) {
    if (count > capacity_) {
      std::free(data_);
      data_ = nullptr;
      const size_t bytes = (static_cast<size_t>(count) * sizeof(float) + 63) / 64 * 64;
      data_ = static_cast<float*>(std::aligned_alloc(64, bytes));
      if (!data_) throw std::bad_alloc();
      capacity_ = count;
    }
    return data_;
  }

 private:
  float* data_ = nullptr;
  int64_t capacity_ = 0;
};

}  // namespace gb::kernels::cpu
