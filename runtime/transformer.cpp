// The transformer layers (transformer.h): patch embedding, multi-head self-attention, the MLP and
// the pre-norm block, all on the op API (linear on [N,T,D], matmul, softmax, layer_norm, views).
// Shape letters: N batch, T tokens, D width, Hd heads, Dh per-head width, F MLP hidden width.
#include "runtime/transformer.h"

#include <cmath>
#include <memory>
#include <stdexcept>

#include "runtime/layers.h"
#include "runtime/ops.h"

namespace gb::nn {
namespace {
// Runs child `name` of `parent` (looked up at call time, so replace_child takes effect).
Tensor run_child(Module& parent, const std::string& name, const Tensor& x) {
  for (const auto& [child_name, child] : parent.children()) {
    if (child_name == name) return (*child)(x);
  }
  throw std::logic_error(parent.type_name() + " '" + parent.path() + "' has no child " + name);
}

// "192, 3 heads" style descriptions, built by appending.
std::string describe_pair(int64_t a, const char* sep, int64_t b, const char* tail = "") {
  std::string s = std::to_string(a);
  s += sep;
  s += std::to_string(b);
  s += tail;
  return s;
}
}  // namespace

PatchEmbedding::PatchEmbedding(int64_t in_channels, int64_t dim, int64_t patch)
    : in_channels(in_channels), dim(dim), patch(patch) {
  register_module("proj", std::make_shared<Conv2d>(in_channels, dim, patch, patch, 0, 1, true));
}

Tensor PatchEmbedding::forward(const Tensor& x) {
  if (x.dim() != 4 || x.size(2) % patch != 0 || x.size(3) % patch != 0) {
    throw std::invalid_argument("PatchEmbedding: input " + shape_str(x.shape()) +
                                " is not [N,C,H,W] with H and W multiples of the patch " +
                                std::to_string(patch));
  }
  const Tensor y = run_child(*this, "proj", x);  // [N,D,H/P,W/P]
  const Tensor flat = ops::reshape(y, {y.size(0), y.size(1), y.size(2) * y.size(3)});
  return ops::transpose(flat, 1, 2);  // [N,T,D] (a view; the next op copies what it needs)
}

std::string PatchEmbedding::describe() const {
  return describe_pair(in_channels, "->", dim, (", patch " + std::to_string(patch)).c_str());
}

MultiHeadSelfAttention::MultiHeadSelfAttention(int64_t dim, int64_t heads)
    : dim(dim), heads(heads) {
  if (heads < 1 || dim % heads != 0) {
    throw std::invalid_argument("MultiHeadSelfAttention: width " + std::to_string(dim) +
                                " is not divisible by " + std::to_string(heads) + " heads");
  }
  register_module("qkv", std::make_shared<Linear>(dim, 3 * dim));
  register_module("softmax", std::make_shared<Softmax>());
  register_module("proj", std::make_shared<Linear>(dim, dim));
}

Tensor MultiHeadSelfAttention::forward(const Tensor& x) {
  if (x.dim() != 3 || x.size(2) != dim) {
    throw std::invalid_argument("MultiHeadSelfAttention: input " + shape_str(x.shape()) +
                                " is not tokens [N,T," + std::to_string(dim) + "]");
  }
  const int64_t N = x.size(0), T = x.size(1), Dh = dim / heads;
  const Tensor qkv = run_child(*this, "qkv", x);  // [N,T,3D]
  // [N,T,3,Hd,Dh] -> [N,3,Hd,T,Dh], one copy; q, k, v are contiguous slices of it.
  const Tensor split =
      ops::contiguous(ops::permute(ops::reshape(qkv, {N, T, 3, heads, Dh}), {0, 2, 3, 1, 4}));
  const auto part = [&](int64_t i) {
    return ops::reshape(ops::slice(split, 1, i, i + 1), {N, heads, T, Dh});
  };
  const Tensor q = part(0), k = part(1), v = part(2);
  const float scale = 1.0f / std::sqrt(static_cast<float>(Dh));
  const Tensor scores = ops::scale(ops::matmul(q, ops::transpose(k, -2, -1)), scale);
  const Tensor attn = run_child(*this, "softmax", scores);  // [N,Hd,T,T]
  const Tensor out = ops::matmul(attn, v);                  // [N,Hd,T,Dh]
  const Tensor merged = ops::reshape(ops::permute(out, {0, 2, 1, 3}), {N, T, dim});
  return run_child(*this, "proj", merged);
}

std::string MultiHeadSelfAttention::describe() const {
  return describe_pair(dim, ", ", heads, " heads");
}

Mlp::Mlp(int64_t dim, int64_t hidden) : dim(dim), hidden(hidden) {
  register_module("fc1", std::make_shared<Linear>(dim, hidden));
  register_module("act", std::make_shared<GELU>());
  register_module("fc2", std::make_shared<Linear>(hidden, dim));
}

Tensor Mlp::forward(const Tensor& x) {
  return run_child(*this, "fc2", run_child(*this, "act", run_child(*this, "fc1", x)));
}

std::string Mlp::describe() const {
  return describe_pair(dim, "->", hidden, ("->" + std::to_string(dim)).c_str());
}

TransformerBlock::TransformerBlock(int64_t dim, int64_t heads, int64_t mlp_hidden)
    : dim(dim), heads(heads), mlp_hidden(mlp_hidden) {
  register_module("norm1", std::make_shared<LayerNorm>(dim, 1e-6f));
  register_module("attn", std::make_shared<MultiHeadSelfAttention>(dim, heads));
  register_module("norm2", std::make_shared<LayerNorm>(dim, 1e-6f));
  register_module("mlp", std::make_shared<Mlp>(dim, mlp_hidden));
}

Tensor TransformerBlock::forward(const Tensor& x) {
  const Tensor h = ops::add(x, run_child(*this, "attn", run_child(*this, "norm1", x)));
  return ops::add(h, run_child(*this, "mlp", run_child(*this, "norm2", h)));
}

std::string TransformerBlock::describe() const {
  return describe_pair(dim, ", ", heads, (" heads, mlp " + std::to_string(mlp_hidden)).c_str());
}

}  // namespace gb::nn
