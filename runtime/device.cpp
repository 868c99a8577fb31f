// Choosing a device by name and describing it (see device.h).
#include "runtime/device.h"

#include <stdexcept>

#ifdef GB_WITH_CUDA
#include "kernels/cuda/device_api.h"
#endif

namespace gb {

Device parse_device(const std::string& name) {
  if (name == "cpu") return Device{};
  [[maybe_unused]] int index = 0;
  if (name == "cuda") {
    index = 0;
  } else if (name.rfind("cuda:", 0) == 0 && name.size() > 5 &&
             name.find_first_not_of("0123456789", 5) == std::string::npos) {
    index = std::stoi(name.substr(5));
  } else {
    throw std::invalid_argument("device '" + name + "': expected cpu, cuda or cuda:N");
  }
#ifdef GB_WITH_CUDA
  const int count = kernels::cuda::device_count();
  if (count == 0) {
    throw std::runtime_error("device '" + name + "': no CUDA GPU is visible to this process");
  }
  if (index >= count) {
    throw std::runtime_error("device '" + name + "': only " + std::to_string(count) +
                             " CUDA device(s) present");
  }
  kernels::cuda::set_device(index);
  return Device{DeviceType::Cuda, index};
#else
  throw std::runtime_error("device '" + name +
                           "': glassbox was built without CUDA (configure with "
                           "-DGLASSBOX_CUDA=ON on a machine with the CUDA toolkit)");
#endif
}

std::string describe_device(Device device) {
  if (device.type == DeviceType::Cpu) return "cpu";
#ifdef GB_WITH_CUDA
  return device.str() + ": " + kernels::cuda::device_description(device.index);
#else
  return device.str();
#endif
}

}  // namespace gb
