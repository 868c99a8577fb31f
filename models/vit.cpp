// The zoo's vision transformer `vit` (layout, token order and module paths in models/vit.h):
// patch embedding, a class-token slot plus position embedding, pre-norm transformer blocks, a
// final LayerNorm and a linear head on the class token.
// Shape letters: N batch, C channels, H/W image size, P patch, T tokens, D width.
#include "models/vit.h"

#include <memory>
#include <stdexcept>

#include "models/builders.h"
#include "runtime/layers.h"
#include "runtime/ops.h"
#include "runtime/rng.h"
#include "runtime/transformer.h"

namespace gb::models {
namespace {

class VisionTransformer : public Module {
 public:
  VisionTransformer(const ModelConfig& cfg, const VitShape& v, int64_t dim) : dim_(dim) {
    const int64_t grid = cfg.image_size / v.patch;
    tokens_ = grid * grid + 1;
    register_module("patch_embed",
                    std::make_shared<nn::PatchEmbedding>(cfg.in_channels, dim, v.patch));
    register_parameter("pos_embed", Tensor::randn({1, tokens_, dim}, init_generator(), 0.02f));
    auto blocks = std::make_shared<nn::Sequential>();
    for (int64_t i = 0; i < v.depth; ++i) {
      blocks->push_back(std::make_shared<nn::TransformerBlock>(dim, v.heads, v.mlp_ratio * dim));
    }
    register_module("blocks", blocks);
    register_module("norm", std::make_shared<nn::LayerNorm>(dim, 1e-6f));
    register_module("head", std::make_shared<nn::Linear>(dim, cfg.num_classes));
  }

  Tensor forward(const Tensor& x) override {
    const Tensor patches = child("patch_embed")(x);  // [N,T-1,D]
    const int64_t N = patches.size(0);
    if (patches.size(1) + 1 != tokens_) {
      throw std::invalid_argument("vit: input " + shape_str(x.shape()) + " gives " +
                                  std::to_string(patches.size(1)) + " patches, the model was " +
                                  "built for " + std::to_string(tokens_ - 1));
    }
    // A zero slot for the class token at position 0, then the position embedding.
    const Tensor slotted =
        ops::reshape(ops::pad2d(ops::reshape(patches, {N, 1, tokens_ - 1, dim_}), 1, 0, 0, 0),
                     {N, tokens_, dim_});
    Tensor h = ops::add(slotted, local_tensor("pos_embed"));
    h = child("norm")(child("blocks")(h));
    const Tensor cls = ops::reshape(ops::slice(h, 1, 0, 1), {N, dim_});
    return child("head")(cls);
  }
  std::string type_name() const override { return "VisionTransformer"; }
  std::string describe() const override {
    return std::to_string(tokens_) + " tokens, width " + std::to_string(dim_);
  }

 private:
  Module& child(const std::string& name) {
    Module* m = find(name);
    if (m == nullptr) throw std::logic_error("vit: no child " + name);
    return *m;
  }
  int64_t dim_, tokens_ = 0;
};

}  // namespace

ModulePtr build_vit(const ModelConfig& cfg) {
  cfg.validate();
  const VitShape v;
  if (cfg.image_size % v.patch != 0) {
    throw std::invalid_argument("vit: image_size " + std::to_string(cfg.image_size) +
                                " is not a multiple of the patch size " + std::to_string(v.patch));
  }
  ChannelPlan plan(cfg);
  const int64_t dim = v.heads * plan.scaled(v.head_width);
  auto net = std::make_shared<VisionTransformer>(cfg, v, dim);
  plan.check_all_used("vit");
  return net;
}

}  // namespace gb::models
