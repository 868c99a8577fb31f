// The bfloat16 GEMMs of the Winograd forward (conv_winograd.cpp) under ForwardPrecision::Bf16
// (kernels/precision.h): the 36 products M[xi] = V[xi] * U[xi] with both operands rounded to
// bfloat16 (nearest even) and AVX512-BF16 pair dot products accumulating in float32.
// Shape letters as in conv_winograd.cpp: xi in [0, 36), t a tile row of V (T rounded up to 6),
// Cp input channels (a multiple of 8), Kp output channels (a multiple of 16).
// Layouts: ub [36][Cp/2][Kp][2] (channel pairs interleaved per output channel, so one 256-bit
// load holds 8 output channels x 2 input channels); vb [rows][Cp] per xi (a channel pair is one
// 32-bit broadcast).
// Numerics: each product of two bf16 values is exact in float32; the dot-product instruction
// adds pairs into the accumulator in channel order, so the result is deterministic and
// independent of the thread count, but not equal to the fp32 path (relative error of the inputs
// 2^-9 each).
// requires (all functions): bf16_supported().
#pragma once
#include <cstdint>

namespace gb::kernels::cpu::winograd_bf16 {

// Elements of ub for Cp x Kp filters (all 36 points).
inline int64_t filter_elements(int64_t Cp, int64_t Kp) { return 36 * Cp * Kp; }

// ub <- u [36][Cp][Kp] (float32) rounded to bf16, in ub's layout.
void pack_filters(const float* u, int64_t Cp, int64_t Kp, uint16_t* ub);

// For each xi: m[xi * m_stride + t * Kp + k] = sum over c of bf16(v[xi * v_stride + t * Cp + c]) *
// ub[xi][c][k], for t < rows (a multiple of 6) and k < Kp; m is overwritten. vb: scratch of
// rows * Cp elements, 64-byte aligned.
void multiply(const float* v, int64_t v_stride, const uint16_t* ub, int64_t Cp, int64_t Kp,
              int64_t rows, float* m, int64_t m_stride, uint16_t* vb);

}  // namespace gb::kernels::cpu::winograd_bf16
