// Copies and fills that involve a CUDA tensor (see device_copy.h). Contiguous transfers are one
// cudaMemcpy; strided views are packed or unpacked on the device by kernels::cuda::strided_copy,
// so a non-contiguous view never goes element by element across the bus.
#include "runtime/device_copy.h"

#include <cstring>
#include <stdexcept>

#ifdef GB_WITH_CUDA
#include "kernels/copy.h"
#include "kernels/cuda/device_api.h"
#include "kernels/elementwise.h"
#endif

namespace gb {

#ifdef GB_WITH_CUDA
namespace {
// The first byte of a tensor's view (its offset counts elements).
char* first_byte(const Tensor& t) {
  return static_cast<char*>(t.storage()->data()) +
         t.offset() * static_cast<int64_t>(dtype_size(t.dtype()));
}

// dst = src elementwise, both on the same CUDA device, any strides.
void copy_on_device(const Tensor& dst, const Tensor& src) {
  const size_t es = dtype_size(dst.dtype());
  char* d = first_byte(dst);
  const char* s = first_byte(src);
  if (dst.is_contiguous() && src.is_contiguous()) {
    kernels::cuda::copy_device(d, s, static_cast<size_t>(dst.numel()) * es);
    return;
  }
  kernels::cuda::strided_copy(static_cast<int>(dst.dim()), dst.shape().data(), s,
                              src.strides().data(), d, dst.strides().data(), es);
}
}  // namespace

void copy_across_devices(const Tensor& dst, const Tensor& src) {
  const bool dst_gpu = dst.device().type == DeviceType::Cuda;
  const bool src_gpu = src.device().type == DeviceType::Cuda;
  const size_t bytes = static_cast<size_t>(dst.numel()) * dtype_size(dst.dtype());
  if (dst_gpu && src_gpu) {
    copy_on_device(dst, src);
    return;
  }
  if (dst_gpu) {  // host -> device: pack on the host, unpack on the device
    const Tensor packed = src.is_contiguous() ? src : src.clone();
    if (dst.is_contiguous()) {
      kernels::cuda::copy_to_device(first_byte(dst), first_byte(packed), bytes);
      return;
    }
    copy_on_device(dst, packed.to(dst.device()));
    return;
  }
  // device -> host: pack on the device, unpack on the host
  const Tensor packed = src.is_contiguous() ? src : src.clone();
  if (dst.is_contiguous()) {
    kernels::cuda::copy_to_host(first_byte(dst), first_byte(packed), bytes);
    return;
  }
  Tensor staged = Tensor::empty(dst.shape(), dst.dtype());
  kernels::cuda::copy_to_host(first_byte(staged), first_byte(packed), bytes);
  Tensor(dst).copy_(staged);
}

void fill_on_device(const Tensor& t, float value) {
  if (t.is_contiguous()) {
    kernels::cuda::fill(t.numel(), t.f32(), value);
    return;
  }
  Tensor dense = Tensor::empty(t.shape(), DType::F32, t.device());
  kernels::cuda::fill(dense.numel(), dense.f32(), value);
  copy_on_device(t, dense);
}

void device_to_host(void* host_dst, const void* device_src, size_t bytes) {
  kernels::cuda::copy_to_host(host_dst, device_src, bytes);
}

void copy_to_device_staged(void* device_dst, const void* host_src, size_t bytes) {
  static void* staging = nullptr;
  static size_t capacity = 0;
  if (bytes > capacity) {
    kernels::cuda::synchronize();  // the old buffer may still feed a queued copy
    kernels::cuda::free_pinned(staging);
    staging = kernels::cuda::malloc_pinned(bytes);
    capacity = bytes;
  }
  std::memcpy(staging, host_src, bytes);
  kernels::cuda::copy_to_device(device_dst, staging, bytes);  // returns once the copy is done
}

void device_synchronize() {
  if (kernels::cuda::device_count() > 0) kernels::cuda::synchronize();
}

bool cuda_available() { return kernels::cuda::device_count() > 0; }

#else

namespace {
[[noreturn]] void no_cuda(const char* what) {
  throw std::runtime_error(std::string(what) +
                           ": a tensor is on a device this build has no support for (glassbox "
                           "was built without CUDA)");
}
}  // namespace

void copy_across_devices(const Tensor&, const Tensor&) { no_cuda("copy"); }
void fill_on_device(const Tensor&, float) { no_cuda("fill"); }
void device_to_host(void*, const void*, size_t) { no_cuda("copy to host"); }
void copy_to_device_staged(void*, const void*, size_t) { no_cuda("copy to device"); }
void device_synchronize() {}
bool cuda_available() { return false; }

#endif

}  // namespace gb
