// Explanations read from a transformer's attention: the attention probabilities of every layer
// (module outputs [N,Hd,T,T] whose T tokens form a patch grid, interp/tokens.h, captured with
// forward hooks: for the zoo's vit, blocks.<i>.attn.softmax), and two maps over the image:
//   attention: the last layer's attention from the class token to each patch, averaged over
//     heads (without a class token: the attention each patch receives, averaged over queries);
//   attention rollout (Abnar & Zuidema 2020, "Quantifying Attention Flow in Transformers"):
//     per layer A' = 0.5 * mean_heads(A) + 0.5 * I with rows renormalised, R = A'_L ... A'_1,
//     the class token's row of R over the patches.
// Both are bilinearly resized from the g x g grid to H x W. Class-agnostic, like the papers.
// Shape letters: N images, C channels, H/W image size, Hd heads, T tokens, g grid side.
#pragma once
#include <string>
#include <vector>

#include "runtime/module.h"

namespace gb::interp {

struct AttentionCapture {
  std::vector<std::string> layers;  // module paths, in execution order
  std::vector<Tensor> attention;    // [N,Hd,T,T] each, on the host
};

// One no-grad forward of x [N,C,H,W] in eval mode (mode restored) capturing every attention.
// throws: std::invalid_argument when no module outputs attention probabilities.
AttentionCapture capture_attention(Module& model, const Tensor& x);

// [N,1,H,W] maps. `layer` (attention only): the attention module to read; "" = the last one.
// throws: std::invalid_argument for a model without attention or an unknown `layer`.
Tensor attention_map(Module& model, const Tensor& x, const std::string& layer = "");
Tensor attention_rollout(Module& model, const Tensor& x);

}  // namespace gb::interp
