// The libFuzzer entry point of one fuzz target; GB_FUZZ_INPUT names its function in
// fuzz_inputs.h (set per executable by tests/fuzz/CMakeLists.txt).
#include "tests/fuzz/fuzz_inputs.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  gb::fuzz::GB_FUZZ_INPUT(data, size);
  return 0;
}
