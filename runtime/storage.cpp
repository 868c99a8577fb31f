// Aligned host allocation for tensor storage, with live/peak byte accounting.
#include "runtime/storage.h"

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <new>
#include <stdexcept>

namespace gb {
namespace {
std::atomic<size_t> g_live{0};
std::atomic<size_t> g_peak{0};
constexpr size_t kAlign = 64;
}  // namespace

Storage::Storage(size_t bytes, Device device, bool zero) : bytes_(bytes), device_(device) {
  if (device.type != DeviceType::CPU) {
    throw std::runtime_error("storage: device " + device.str() + " is not available in this build");
  }
  const size_t rounded = ((bytes + kAlign - 1) / kAlign) * kAlign;
  data_ = std::aligned_alloc(kAlign, rounded == 0 ? kAlign : rounded);
  if (!data_) throw std::bad_alloc();
  if (zero) std::memset(data_, 0, rounded == 0 ? kAlign : rounded);
  const size_t now = g_live.fetch_add(bytes) + bytes;
  size_t peak = g_peak.load();
  while (now > peak && !g_peak.compare_exchange_weak(peak, now)) {
  }
}

Storage::~Storage() {
  std::free(data_);
  g_live.fetch_sub(bytes_);
}

size_t Storage::live_bytes() { return g_live.load(); }
size_t Storage::peak_bytes() { return g_peak.load(); }
void Storage::reset_peak() { g_peak.store(g_live.load()); }

}  // namespace gb
