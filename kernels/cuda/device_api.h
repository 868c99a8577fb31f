// The CUDA device API the runtime sees: device discovery, memory, copies and synchronisation.
// Plain C++ (no CUDA types), so runtime code compiled by the host compiler can include it; it is
// compiled only when glassbox is configured with GLASSBOX_CUDA and a toolkit is found
// (GB_WITH_CUDA is then defined for every target).
//
// Every kernel in kernels/cuda runs on one stream, glassbox's stream, in launch order; copies to
// the host wait for it. Errors throw std::runtime_error naming the call or kernel and CUDA's
// message.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

namespace gb::kernels::cuda {

// Number of usable CUDA devices (0 when there is no driver or no GPU; never throws).
int device_count();
// A line naming the device: "NVIDIA H100 80GB HBM3 (sm_90, 132 SMs, 79.1 GiB)".
std::string device_description(int device);
// requires: 0 <= device < device_count(). Makes it current for this thread.
void set_device(int device);

// Device memory. malloc_device returns nullptr for 0 bytes and throws when out of memory.
void* malloc_device(size_t bytes);
void free_device(void* p);
// Page-locked host memory for staging copies (the data loader's batches).
void* malloc_pinned(size_t bytes);
void free_pinned(void* p);

// Copies in stream order. copy_to_host returns after the data has arrived.
void copy_to_device(void* dst, const void* host_src, size_t bytes);
void copy_to_host(void* host_dst, const void* src, size_t bytes);
void copy_device(void* dst, const void* src, size_t bytes);
void fill_zero(void* p, size_t bytes);

// Waits for all work queued on glassbox's stream.
void synchronize();

// Milliseconds between two points of the stream's work, measured with CUDA events.
class EventTimer {
 public:
  EventTimer();
  ~EventTimer();
  EventTimer(const EventTimer&) = delete;
  EventTimer& operator=(const EventTimer&) = delete;
  void start();
  // Waits for the stream to reach the stop point and returns the elapsed milliseconds.
  float stop_ms();

 private:
  void* start_ = nullptr;
  void* stop_ = nullptr;
};

}  // namespace gb::kernels::cuda
