// The zoo's vision transformer for small images (`vit`, models/vit.cpp): ViT (Dosovitskiy et al.
// 2021) with timm's pre-norm blocks and names, sized for 32x32 CIFAR images on a CPU.
// Shape letters: N batch, C channels, H/W image size, P patch, T tokens, D width, Hd heads.
//
// Layout, at the defaults (32x32 input, patch 4, D = 128, depth 6, 4 heads, MLP 256):
//   patch_embed        PatchEmbedding: patch_embed.proj Conv2d(C, D, 4, stride 4, bias) ->
//                      tokens [N,64,D], patch (i, j) of the 8x8 grid at token i*8 + j
//   (root)             a zero class-token slot prepended (token 0) plus pos_embed [1,65,D]: token
//                      0 is the class token, its learned vector pos_embed[0] (timm's
//                      cls_token + pos_embed[0] as one parameter), tokens 1..64 the patches
//   blocks.0 .. 5      TransformerBlock; a forward hook on blocks.<i> sees its output tokens
//                      [N,T,D] (T = 65; token t >= 1 is patch t - 1 in row-major order)
//   blocks.<i>.attn.softmax  Softmax; its output [N,Hd,T,T] is block i's attention: row t holds
//                      query token t's weights over the key tokens, summing to 1 (rows and
//                      columns both indexed like the tokens, class token 0 first); gb::grad
//                      w.r.t. this output gives the attention gradient (attention rollout with
//                      gradients, Grad-CAM on attention)
//   norm               LayerNorm(D, eps 1e-6) over every token [N,T,D]
//   head               Linear(D, classes) on the class token: logits [N,classes]
// Grad-CAM on tokens: hook blocks.5 (or norm) for activations and gradients [N,T,D], drop token
// 0 and reshape tokens 1..64 to the 8x8 patch grid (H/P x W/P).
// `width` scales D as Hd * max(1, lround(32 * width)) (heads fixed at 4); image sizes must be
// multiples of 4 (28: 49 patches, T = 50). Parameters at the defaults: 811,018.
#pragma once
#include <cstdint>

namespace gb::models {

// The defaults of build_vit (models/vit.cpp).
struct VitShape {
  int64_t patch = 4;
  int64_t depth = 6;
  int64_t heads = 4;
  int64_t head_width = 32;  // D = heads * scaled(head_width)
  int64_t mlp_ratio = 2;    // MLP hidden width = mlp_ratio * D
};

}  // namespace gb::models
