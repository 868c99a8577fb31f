// The precision of the CPU forward kernels' multiplications, for the layers above the kernels:
// the setting of kernels/precision.h (per calling thread; Bf16 makes Winograd convolutions
// multiply bfloat16 operands into float32 accumulators, on CPUs with AVX512-BF16; backward passes
// and CUDA kernels ignore it). The explanation methods set it around their no-grad perturbation
// batches (interp/batch.h, BatchOptions::precision).
#pragma once
#include "kernels/precision.h"

namespace gb {

using kernels::bf16_supported;
using kernels::forward_precision;
using kernels::forward_precision_name;
using kernels::ForwardPrecision;
using kernels::ForwardPrecisionScope;

}  // namespace gb
