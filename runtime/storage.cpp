// Aligned host allocation for tensor storage, with live/peak byte accounting and a cache of
// freed large blocks. Training allocates the same activation and gradient sizes every step; a
// block of 64 KiB or more goes back to the cache when freed and is handed out again for the next
// request of the same rounded size, so steady-state steps take no page faults and no mmap/munmap.
// Small blocks go straight to the C allocator (its own free lists already reuse them).
// A job that changes phase (training to evaluation, training steps to inference batches) calls
// Storage::release_cache() at the boundary: the old phase's sizes would not be asked for again
// soon, and kept they add to the new phase's (ResNet-18 trained at batch 128 and then run at 256
// held 1,368 MB resident where 736 MB of tensors had been live). Evicting on misses instead
// (keeping live + cached under a ceiling) churned within a phase: 6x the page faults in inference.
#include "runtime/storage.h"

#include "runtime/allocation_limit.h"

#ifdef GB_WITH_CUDA
#include "kernels/cuda/device_api.h"
#endif

#include <sys/mman.h>

#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <new>
#include <stdexcept>
#include <string>
#include <unordered_map>
#include <vector>

namespace gb {
namespace {
std::atomic<size_t> g_live{0};
std::atomic<size_t> g_peak{0};
thread_local size_t t_live_limit = SIZE_MAX;  // AllocationLimit of this thread
constexpr size_t kAlign = 64;
constexpr size_t kCachedMin = 64 * 1024;     // blocks at least this large are cached...
constexpr size_t kCacheGranule = 16 * 1024;  // ...with sizes rounded up to this granule
// Bytes the cache may hold while unused. Under AddressSanitizer nothing is cached, so every
// use-after-free of tensor memory stays detectable.
#if defined(__SANITIZE_ADDRESS__)
constexpr size_t kCacheLimit = 0;
#else
constexpr size_t kCacheLimit = size_t{2} << 30;
#endif

// Cached-size blocks come straight from mmap and go back with munmap: freed to the C allocator,
// blocks of one phase's sizes left holes that the next phase's sizes did not fit, and resident
// memory crept up by a few MB per train/eval round. Under AddressSanitizer they come from the C
// allocator, whose use-after-free checks then cover them.
void* map_block(size_t rounded) {
#if defined(__SANITIZE_ADDRESS__)
  return std::aligned_alloc(kAlign, rounded);
#else
  void* p = mmap(nullptr, rounded, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  return p == MAP_FAILED ? nullptr : p;
#endif
}

void unmap_block(void* p, size_t rounded) {
#if defined(__SANITIZE_ADDRESS__)
  (void)rounded;
  std::free(p);
#else
  munmap(p, rounded);
#endif
}

struct BlockCache {
  std::mutex mutex;
  std::unordered_map<size_t, std::vector<void*>> free_blocks;  // rounded size -> blocks
  size_t cached_bytes = 0;
  ~BlockCache() { release(); }
  void release() {
    std::lock_guard<std::mutex> lock(mutex);
    for (auto& [size, blocks] : free_blocks)
      for (void* p : blocks) unmap_block(p, size);
    free_blocks.clear();
    cached_bytes = 0;
  }
};

BlockCache& cache() {
  static BlockCache* c = new BlockCache();  // never destroyed: storages may outlive statics
  return *c;
}

size_t rounded_size(size_t bytes) {
  const size_t r = ((bytes + kAlign - 1) / kAlign) * kAlign;
  if (r == 0) return kAlign;
  if (r < kCachedMin) return r;
  return (r + kCacheGranule - 1) / kCacheGranule * kCacheGranule;
}

void* allocate(size_t rounded) {
  if (rounded >= kCachedMin) {
    BlockCache& c = cache();
    std::lock_guard<std::mutex> lock(c.mutex);
    auto it = c.free_blocks.find(rounded);
    if (it != c.free_blocks.end() && !it->second.empty()) {
      void* p = it->second.back();
      it->second.pop_back();
      c.cached_bytes -= rounded;
      return p;
    }
  }
  const auto get = [rounded] {
    return rounded >= kCachedMin ? map_block(rounded) : std::aligned_alloc(kAlign, rounded);
  };
  void* p = get();
  if (!p) {
    Storage::release_cache();  // retry once without the cache's blocks
    p = get();
    if (!p) throw std::bad_alloc();
  }
  return p;
}

void deallocate(void* p, size_t rounded) {
  if (rounded >= kCachedMin) {
    BlockCache& c = cache();
    std::lock_guard<std::mutex> lock(c.mutex);
    if (c.cached_bytes + rounded <= kCacheLimit) {
      c.free_blocks[rounded].push_back(p);
      c.cached_bytes += rounded;
      return;
    }
    unmap_block(p, rounded);
    return;
  }
  std::free(p);
}

#ifdef GB_WITH_CUDA
// Device memory: cudaMalloc and cudaFree synchronise the whole device, so every freed CUDA block
// is kept (by rounded size) and handed out again. All kernels run on one stream in order, so a
// block freed by the host while queued kernels still read it is only reused by later work.
struct DeviceCache {
  std::mutex mutex;
  std::unordered_map<size_t, std::vector<void*>> free_blocks;
  size_t cached_bytes = 0;
  void release() {
    std::lock_guard<std::mutex> lock(mutex);
    kernels::cuda::synchronize();
    for (auto& [size, blocks] : free_blocks)
      for (void* p : blocks) kernels::cuda::free_device(p);
    free_blocks.clear();
    cached_bytes = 0;
  }
};

DeviceCache& device_cache() {
  static DeviceCache* c = new DeviceCache();  // never destroyed: storages may outlive statics
  return *c;
}

std::atomic<size_t> g_device_live{0};
std::atomic<size_t> g_device_peak{0};

void* allocate_device(size_t rounded) {
  DeviceCache& c = device_cache();
  {
    std::lock_guard<std::mutex> lock(c.mutex);
    auto it = c.free_blocks.find(rounded);
    if (it != c.free_blocks.end() && !it->second.empty()) {
      void* p = it->second.back();
      it->second.pop_back();
      c.cached_bytes -= rounded;
      return p;
    }
  }
  try {
    return kernels::cuda::malloc_device(rounded);
  } catch (const std::runtime_error&) {
    c.release();  // retry once without the cached blocks
    return kernels::cuda::malloc_device(rounded);
  }
}

void deallocate_device(void* p, size_t rounded) {
  DeviceCache& c = device_cache();
  std::lock_guard<std::mutex> lock(c.mutex);
  c.free_blocks[rounded].push_back(p);
  c.cached_bytes += rounded;
}
#endif
}  // namespace

Storage::Storage(size_t bytes, Device device, bool zero) : bytes_(bytes), device_(device) {
  if (device.type == DeviceType::Cuda) {
#ifdef GB_WITH_CUDA
    const size_t rounded = rounded_size(bytes);
    data_ = allocate_device(rounded);
    if (zero) kernels::cuda::fill_zero(data_, rounded);
    const size_t now = g_device_live.fetch_add(bytes) + bytes;
    size_t peak = g_device_peak.load();
    while (now > peak && !g_device_peak.compare_exchange_weak(peak, now)) {
    }
    return;
#else
    throw std::runtime_error("storage: device " + device.str() +
                             " is not available: glassbox was built without CUDA "
                             "(configure with -DGLASSBOX_CUDA=ON)");
#endif
  }
  if (device.type != DeviceType::Cpu) {
    throw std::runtime_error("storage: device " + device.str() + " is not available in this build");
  }
  if (bytes > t_live_limit || g_live.load() > t_live_limit - bytes) {
    throw std::runtime_error("storage: a tensor of " + std::to_string(bytes) +
                             " bytes would take " +
                             "the live tensor memory past this job's limit of " +
                             std::to_string(t_live_limit) + " bytes");
  }
  const size_t rounded = rounded_size(bytes);
  data_ = allocate(rounded);
  if (zero) std::memset(data_, 0, rounded);
  const size_t now = g_live.fetch_add(bytes) + bytes;
  size_t peak = g_peak.load();
  while (now > peak && !g_peak.compare_exchange_weak(peak, now)) {
  }
}

Storage::~Storage() {
#ifdef GB_WITH_CUDA
  if (device_.type == DeviceType::Cuda) {
    deallocate_device(data_, rounded_size(bytes_));
    g_device_live.fetch_sub(bytes_);
    return;
  }
#endif
  deallocate(data_, rounded_size(bytes_));
  g_live.fetch_sub(bytes_);
}

size_t Storage::live_bytes() { return g_live.load(); }

AllocationLimit::AllocationLimit(size_t max_live_bytes) : previous_(t_live_limit) {
  t_live_limit = max_live_bytes;
}
AllocationLimit::~AllocationLimit() { t_live_limit = previous_; }
size_t Storage::peak_bytes() { return g_peak.load(); }
void Storage::reset_peak() { g_peak.store(g_live.load()); }

size_t Storage::cached_bytes() {
  BlockCache& c = cache();
  std::lock_guard<std::mutex> lock(c.mutex);
  return c.cached_bytes;
}

void Storage::release_cache() {
  cache().release();
#ifdef GB_WITH_CUDA
  device_cache().release();
#endif
}

#ifdef GB_WITH_CUDA
size_t Storage::device_live_bytes() { return g_device_live.load(); }
size_t Storage::device_peak_bytes() { return g_device_peak.load(); }
void Storage::reset_device_peak() { g_device_peak.store(g_device_live.load()); }
#else
size_t Storage::device_live_bytes() { return 0; }
size_t Storage::device_peak_bytes() { return 0; }
void Storage::reset_device_peak() {}
#endif

}  // namespace gb
