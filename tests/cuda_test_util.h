// Helpers for the CUDA parity suites: skip without a GPU, move vectors to and from the device,
// and compare with a relative tolerance. Include only from tests built with GB_WITH_CUDA.
#pragma once
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

#include "kernels/cuda/device_api.h"

namespace gb::testing {

// Skips the current test with a message when no CUDA device is present.
#define GB_REQUIRE_GPU()                                                         \
  do {                                                                           \
    if (::gb::kernels::cuda::device_count() == 0) GTEST_SKIP() << "no CUDA GPU"; \
  } while (0)

// An owning device buffer of T, filled from (or read back to) a host vector.
template <class T>
class DeviceVector {
 public:
  explicit DeviceVector(size_t n) : n_(n) {
    p_ = static_cast<T*>(kernels::cuda::malloc_device(n * sizeof(T)));
  }
  explicit DeviceVector(const std::vector<T>& host) : DeviceVector(host.size()) {
    kernels::cuda::copy_to_device(p_, host.data(), n_ * sizeof(T));
  }
  ~DeviceVector() { kernels::cuda::free_device(p_); }
  DeviceVector(const DeviceVector&) = delete;
  DeviceVector& operator=(const DeviceVector&) = delete;
  T* get() const { return p_; }
  std::vector<T> host() const {
    std::vector<T> out(n_);
    kernels::cuda::copy_to_host(out.data(), p_, n_ * sizeof(T));
    return out;
  }
  // Fills with a NaN-like poison so unwritten outputs show up.
  void poison() {
    std::vector<T> v(n_, static_cast<T>(-12345.0));
    kernels::cuda::copy_to_device(p_, v.data(), n_ * sizeof(T));
  }

 private:
  T* p_ = nullptr;
  size_t n_ = 0;
};

inline std::vector<float> random_vector(size_t n, uint32_t seed, float lo = -1.0f,
                                        float hi = 1.0f) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> d(lo, hi);
  std::vector<float> v(n);
  for (auto& x : v) x = d(rng);
  return v;
}

// ||a - b|| / max(||b||, tiny): the figure every parity test bounds.
inline double relative_error(const std::vector<float>& a, const std::vector<float>& b) {
  double num = 0.0, den = 0.0;
  for (size_t i = 0; i < a.size() && i < b.size(); ++i) {
    if (!std::isfinite(a[i])) return INFINITY;
    const double d = static_cast<double>(a[i]) - b[i];
    num += d * d;
    den += static_cast<double>(b[i]) * b[i];
  }
  return std::sqrt(num) / std::max(std::sqrt(den), 1e-30);
}

}  // namespace gb::testing
