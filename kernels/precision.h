// The precision of the multiplications inside the fast CPU forward kernels (not an op of the
// table: a setting the kernels read, like gemm.h's ISA choice).
// Fp32 (the default): every kernel multiplies in float32.
// Bf16: forward convolutions that run on Winograd round their GEMM operands (the transformed
// input and the transformed filters) to bfloat16 (round to nearest even) and multiply them with
// AVX512-BF16 dot products into float32 accumulators; inputs, outputs, the transforms and every
// other op stay float32. Backward kernels ignore the setting. It is meant for no-grad forwards
// whose outputs only rank or average (the perturbation batches of the explanation methods), where
// the relative error of about 2^-9 per product is below what the method resolves.
// The setting is per calling thread (the thread that calls the kernel; the kernel's own OpenMP
// workers follow it), so one thread's batches never change another's numerics.
#pragma once

namespace gb::kernels {

enum class ForwardPrecision { Fp32, Bf16 };

// True if this CPU has AVX512-BF16 (with AVX512-VL), checked once at run time.
bool bf16_supported();
// requires: p == Fp32 or bf16_supported() (throws std::runtime_error naming the CPU feature).
void set_forward_precision(ForwardPrecision p);
ForwardPrecision forward_precision();                    // this thread's setting
const char* forward_precision_name(ForwardPrecision p);  // "fp32", "bf16"

// Sets p on this thread for the scope's lifetime and restores the previous setting after.
class ForwardPrecisionScope {
 public:
  explicit ForwardPrecisionScope(ForwardPrecision p) : previous_(forward_precision()) {
    set_forward_precision(p);
  }
  ~ForwardPrecisionScope() { set_forward_precision(previous_); }
  ForwardPrecisionScope(const ForwardPrecisionScope&) = delete;
  ForwardPrecisionScope& operator=(const ForwardPrecisionScope&) = delete;

 private:
  ForwardPrecision previous_;
};

}  // namespace gb::kernels
