// Token layouts of transformer models, for the methods that draw maps over an image: a sequence
// of T tokens is a square grid of patches, optionally after one leading class token (ViT:
// T = 1 + g*g). Used by the CAM family (Grad-CAM on tokens) and the attention methods.
// Shape letters: N images, T tokens, D token width, g the patch grid's side, Hd heads.
#pragma once
#include <cstdint>

#include "runtime/tensor.h"

namespace gb::interp {

struct TokenGrid {
  int64_t side = 0;         // g; 0 when T tokens do not form a grid
  int64_t first_patch = 0;  // 1 when token 0 is a class token, else 0
  bool valid() const { return side > 0; }
};

// The grid of T tokens: T - 1 = g*g (class token first) is preferred over T = g*g.
TokenGrid token_grid(int64_t T);

// True for [N,T,D] outputs whose T tokens form a grid.
bool is_token_output(const Tensor& t);

// True for [N,Hd,T,T] outputs whose T tokens form a grid and whose rows are probabilities
// (non-negative, summing to 1 within 1e-3): attention. Reads the values.
bool is_attention_output(const Tensor& t);

// Tokens [N,T,D] (any device) -> [N,D,g,g] on the host: the class token dropped, patch tokens
// laid out row-major on the grid, as CAM methods read channel maps.
// requires: is_token_output(t). throws: std::invalid_argument otherwise.
Tensor tokens_to_grid(const Tensor& t);

}  // namespace gb::interp
