// The bfloat16 GEMMs of the Winograd forward (conv_winograd.cpp) under ForwardPrecision::Bf16
// (kernels/precision.h): the 36 products M[xi] = V[xi] * U[xi] with both operands rounded to
// bfloat16 (nearest even) and AVX512-BF16 pair dot products accumulating in float32.
// Shape letters as in conv_winograd.cpp: xi in [0, 36), t a tile row of V (T rounded up to 6),
// Cp input channels (a multiple of 8), Kp output channels (a multiple of 8).
// Layouts: ub [36][Cp/2][Kp][2] (channel pairs interleaved per output channel, so one 256-bit
// load holds 8 output channels x 2 input channels); vb [36][rows][Cp], written by the input
// transform directly in bf16 (a channel pair is one 32-bit broadcast).
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

// The tiles of one work item of conv_winograd.cpp: tile rows [ty0, ty1) of `images` images of
// the channel-blocked copy xb [images][blocks][plane] (blocks = Cp / 8; a block's plane is
// Hb rows of `row` floats, Hb = 4 * TH + 2), TW tiles per tile row; tile t is (image, ty - ty0,
// tx) in row-major order.
struct TileGrid {
  const float* xb;
  int64_t images, blocks, plane, row, ty0, ty1, TW;
  int64_t tiles() const { return images * (ty1 - ty0) * TW; }
};

// vb[xi * vb_stride + t * Cp + c] <- bf16((B^T d_t B)[xi][c]) for every tile t of the grid (the
// fp32 transform of conv_winograd_transforms.h, rounded once), and zeros for the rows t in
// [tiles, rows) that the GEMM's last register tile reads. vb_stride >= rows * Cp.
void input_transform(const TileGrid& grid, int64_t rows, uint16_t* vb, int64_t vb_stride);

// For each xi: m[xi * m_stride + t * Kp + k] = sum over c of vb[xi * vb_stride + t * Cp + c] *
// ub[xi][c][k], for t < rows (a multiple of 6) and k < Kp; m is overwritten.
void multiply(const uint16_t* vb, int64_t vb_stride, const uint16_t* ub, int64_t Cp, int64_t Kp,
              int64_t rows, float* m, int64_t m_stride);

}  // namespace gb::kernels::cpu::winograd_bf16
