// Depthwise convolution on the CPU: groups == C == K (one filter per channel, channel multiplier
// 1), any kernel size, stride and padding. Shape letters: N batch, C channels (= K = G), H/W input
// size, R/S kernel size, P/Q output size, sh/sw strides, ph/pw paddings.
//   forward          y[n, c, p, q] = ep(sum over (r, s) of w[c, r, s] * x[n, c, ih, iw]),
//                    ih = p*sh - ph + r, iw = q*sw - pw + s (zero outside the input)
//   backward_input   dx[n, c, ih, iw] = sum over the (r, s, p, q) that read it of
//                    w[c, r, s] * dy[n, c, p, q]
//   backward_weight  dw[c, r, s] = sum over (n, p, q) of dy[n, c, p, q] * x[n, c, ih, iw],
//                    db[c] = sum over (n, p, q) of dy[n, c, p, q]
// Each (n, c) plane is copied once into a zero-padded buffer whose rows are split into sw column
// phases (column v = m*sw + phase), so every tap (r, s) of a stride-sw convolution reads a
// unit-stride run at a fixed offset from the output row's base: a plane is a correlation
// out[i, j] = sum over taps t of wt[t] * base[i*rstep + off[t] + j], 32 outputs (4 ymm
// accumulators) at a time with AVX2 FMAs, the weights held in registers for 3x3 and 5x5.
// Backward-input is the same correlation on the padded dy plane, once per phase
// (h % sh, v % sw) of dx with the taps that reach it; the column phases are then interleaved.
// Backward-weight keeps one ymm accumulator per tap over a plane's rows (moved to double every
// 128 vectors), planes summed in double.
// Threading (kernels/cpu/parallel.h threads_for): forward and backward-input give each (n, c)
// plane to one thread; backward-weight splits the work into (block of images, block of channels)
// items fixed by the shape and sums each channel's per-image-block double partials in block
// order. So all three passes are bit-identical for any thread count.
// Rounding: float FMAs over the R*S taps (the weight gradient: over at most 128 vectors per lane
// before a double sum); within the conformance harness's conv tolerance, |fast - ref| <= 1e-6 +
// 1e-4 * (|ref| + rms(ref)) (tests/conformance/cases_nn.cpp), and test_kernels.cpp's
// 1e-6 + 1e-5 * (the sum of |terms|).
#pragma once
#include "kernels/conv2d.h"

namespace gb::kernels::cpu {

// True when s is depthwise: groups == C == K (C = K = 1 ungrouped included), without dilation
// (dilated depthwise layers run im2col + GEMM).
bool conv2d_depthwise_applicable(const Conv2dShape& s);

// requires: conv2d_depthwise_applicable(s); layouts as in kernels/conv2d.h (w [C, 1, R, S]).
// forward: y [N, C, P, Q] overwritten with the epilogue applied (a plain bias is ep.shift).
void conv2d_depthwise_forward(const Conv2dShape& s, const float* x, const float* w,
                              const ConvEpilogue& ep, float* y);
// dx [N, C, H, W] overwritten.
void conv2d_depthwise_backward_input(const Conv2dShape& s, const float* dy, const float* w,
                                     float* dx);
// dw [C, 1, R, S] overwritten; db [C] overwritten when not nullptr.
void conv2d_depthwise_backward_weight(const Conv2dShape& s, const float* x, const float* dy,
                                      float* dw, float* db);

}  // namespace gb::kernels::cpu
