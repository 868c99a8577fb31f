// Copies and fills that involve a CUDA tensor (runtime-internal; Tensor::copy_, to_vector and
// fill_ route here whenever one side is not on the CPU). Without CUDA in the build, each throws
// an error naming the device.
#pragma once
#include <cstddef>

#include "runtime/tensor.h"

namespace gb {

// requires: dst and src have the same shape and dtype; either may be strided, either device.
void copy_across_devices(const Tensor& dst, const Tensor& src);
// requires: t is F32 on a CUDA device (any strides).
void fill_on_device(const Tensor& t, float value);
// Raw bytes from device memory to host memory (waits for queued work).
void device_to_host(void* host_dst, const void* device_src, size_t bytes);
// Copies `bytes` of pageable host memory to device memory through a page-locked staging buffer
// (kept and grown as needed), the data loader's path to the GPU.
void copy_to_device_staged(void* device_dst, const void* host_src, size_t bytes);
// Waits for all queued device work (no-op without CUDA).
void device_synchronize();
// True when this build has CUDA and a GPU is present.
bool cuda_available();

}  // namespace gb
