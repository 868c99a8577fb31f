// The transformer layers (ViT, Dosovitskiy et al. 2021, pre-norm as in timm): PatchEmbedding,
// MultiHeadSelfAttention, Mlp and TransformerBlock. Children and parameter names are timm's
// (`patch_embed.proj`, `attn.qkv`, `attn.proj`, `mlp.fc1`, `mlp.fc2`, `norm1`, `norm2`), so weights
// move between the two. Each block runs its children by name (replace_child takes effect).
// Shape letters: N batch, C image channels, H/W image size, P patch size, T tokens, D model
// width (embedding dim), Hd heads, Dh = D / Hd per-head width, F hidden width of the MLP.
#pragma once
#include <cstdint>
#include <string>

#include "runtime/module.h"

namespace gb::nn {

// Image [N,C,H,W] -> tokens [N,T,D], T = (H/P) * (W/P) in row-major patch order: child `proj`,
// a Conv2d(C, D, kernel P, stride P, bias), flattened and transposed.
// requires (forward): H and W multiples of P (throws std::invalid_argument otherwise).
class PatchEmbedding : public Module {
 public:
  PatchEmbedding(int64_t in_channels, int64_t dim, int64_t patch);
  Tensor forward(const Tensor& x) override;
  std::string type_name() const override { return "PatchEmbedding"; }
  std::string describe() const override;
  int64_t in_channels, dim, patch;
};

// Multi-head self-attention on tokens [N,T,D] -> [N,T,D]: `qkv` Linear(D, 3D) split into q, k,
// v [N,Hd,T,Dh] (the 3D outputs ordered (q|k|v, head, channel) as timm), scores q k^T / sqrt(Dh),
// child `softmax` (its output [N,Hd,T,T] is the attention: each row sums to 1 over the keys),
// the weighted sum of v with the heads concatenated back to [N,T,D], and `proj` Linear(D, D).
// requires: dim divisible by heads; forward: x [N,T,dim] (both throw std::invalid_argument).
class MultiHeadSelfAttention : public Module {
 public:
  MultiHeadSelfAttention(int64_t dim, int64_t heads);
  Tensor forward(const Tensor& x) override;
  std::string type_name() const override { return "MultiHeadSelfAttention"; }
  std::string describe() const override;
  int64_t dim, heads;
};

// [N,T,D] -> [N,T,D]: `fc1` Linear(D, F), `act` GELU (exact), `fc2` Linear(F, D).
class Mlp : public Module {
 public:
  Mlp(int64_t dim, int64_t hidden);
  Tensor forward(const Tensor& x) override;
  std::string type_name() const override { return "Mlp"; }
  std::string describe() const override;
  int64_t dim, hidden;
};

// Pre-norm block on tokens [N,T,D]: x = x + attn(norm1(x)); x = x + mlp(norm2(x)), with
// LayerNorm(D, eps 1e-6) as timm's ViT. A forward hook on the block sees its output tokens.
class TransformerBlock : public Module {
 public:
  TransformerBlock(int64_t dim, int64_t heads, int64_t mlp_hidden);
  Tensor forward(const Tensor& x) override;
  std::string type_name() const override { return "TransformerBlock"; }
  std::string describe() const override;
  int64_t dim, heads, mlp_hidden;
};

}  // namespace gb::nn
