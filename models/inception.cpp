// "inception": GoogLeNet scaled to 32x32 (kuangliu/pytorch-cifar): pre_layers (3x3 conv 192, BN,
// ReLU), inception blocks a3, b3, maxpool1 (3x3 s2 p1), a4, b4, c4, d4, e4, maxpool2 (3x3 s2 p1),
// a5, b5, avgpool (global), linear 1024 -> num_classes. kuangliu calls one `maxpool` twice; here
// the two pools are separate children so a hook on each fires once. Every nominal width is
// multiplied by cfg.width. Parameters at the defaults: 6,166,250. Heavy on a CPU (about 1.5
// GMAC per 32x32 image); use width 0.25-0.5 for quick experiments.
// Shape letters: N batch, C channels, H/W height/width, K output channels.
#include "models/inception.h"

#include <memory>
#include <vector>

#include "models/builders.h"
#include "models/chain.h"
#include "runtime/layers.h"
#include "runtime/ops.h"

namespace gb::models {
namespace {

void conv_bn_relu(nn::Sequential& seq, int64_t c, int64_t k, int64_t kernel) {
  seq.push_back(std::make_shared<nn::Conv2d>(c, k, kernel, 1, kernel / 2, 1, /*bias=*/true));
  seq.push_back(std::make_shared<nn::BatchNorm2d>(k));
  seq.push_back(std::make_shared<nn::ReLU>());
}

}  // namespace

InceptionBlock::InceptionBlock(int64_t in_channels, const InceptionWidths& w)
    : in_channels(in_channels), widths(w) {
  auto b1 = std::make_shared<nn::Sequential>();
  conv_bn_relu(*b1, in_channels, w.b1, 1);
  auto b2 = std::make_shared<nn::Sequential>();
  conv_bn_relu(*b2, in_channels, w.b2_red, 1);
  conv_bn_relu(*b2, w.b2_red, w.b2, 3);
  auto b3 = std::make_shared<nn::Sequential>();
  conv_bn_relu(*b3, in_channels, w.b3_red, 1);
  conv_bn_relu(*b3, w.b3_red, w.b3_mid, 3);
  conv_bn_relu(*b3, w.b3_mid, w.b3, 3);
  auto b4 = std::make_shared<nn::Sequential>();
  b4->push_back(std::make_shared<nn::MaxPool2d>(3, 1, 1));
  conv_bn_relu(*b4, in_channels, w.b4, 1);
  register_module("b1", b1);
  register_module("b2", b2);
  register_module("b3", b3);
  register_module("b4", b4);
}

Tensor InceptionBlock::forward(const Tensor& x) {
  return ops::concat({call_child(*this, "b1", x), call_child(*this, "b2", x),
                      call_child(*this, "b3", x), call_child(*this, "b4", x)},
                     1);
}

std::string InceptionBlock::describe() const {
  return std::to_string(in_channels) + "->" + std::to_string(widths.b1) + "+" +
         std::to_string(widths.b2) + "+" + std::to_string(widths.b3) + "+" +
         std::to_string(widths.b4);
}

ModulePtr build_inception(const ModelConfig& cfg) {
  cfg.validate();
  ChannelPlan plan(cfg);
  auto net = std::make_shared<Chain>("GoogLeNet");
  auto pre = std::make_shared<nn::Sequential>();
  int64_t c = plan.out("pre_layers.0", 192);
  conv_bn_relu(*pre, cfg.in_channels, c, 3);
  net->add("pre_layers", pre);

  // Nominal widths (GoogLeNet table 1): 1x1, 3x3 reduce, 3x3, "5x5" reduce, "5x5" (both of its
  // 3x3 convs), pool proj. An empty entry is a max-pool.
  struct Stage {
    const char* name;
    InceptionWidths w;
  };
  const std::vector<Stage> stages = {
      {"a3", {64, 96, 128, 16, 32, 32, 32}},
      {"b3", {128, 128, 192, 32, 96, 96, 64}},
      {"maxpool1", {}},
      {"a4", {192, 96, 208, 16, 48, 48, 64}},
      {"b4", {160, 112, 224, 24, 64, 64, 64}},
      {"c4", {128, 128, 256, 24, 64, 64, 64}},
      {"d4", {112, 144, 288, 32, 64, 64, 64}},
      {"e4", {256, 160, 320, 32, 128, 128, 128}},
      {"maxpool2", {}},
      {"a5", {256, 160, 320, 32, 128, 128, 128}},
      {"b5", {384, 192, 384, 48, 128, 128, 128}},
  };
  for (const auto& [name, nominal] : stages) {
    const std::string p = name;
    if (p.starts_with("maxpool")) {
      net->add(p, std::make_shared<nn::MaxPool2d>(3, 2, 1));
      continue;
    }
    InceptionWidths w{};
    w.b1 = plan.out(p + ".b1.0", nominal.b1);
    w.b2_red = plan.out(p + ".b2.0", nominal.b2_red);
    w.b2 = plan.out(p + ".b2.3", nominal.b2);
    w.b3_red = plan.out(p + ".b3.0", nominal.b3_red);
    w.b3_mid = plan.out(p + ".b3.3", nominal.b3_mid);
    w.b3 = plan.out(p + ".b3.6", nominal.b3);
    w.b4 = plan.out(p + ".b4.1", nominal.b4);
    net->add(p, std::make_shared<InceptionBlock>(c, w));
    c = w.out();
  }
  net->add("avgpool", std::make_shared<nn::GlobalAvgPool>());
  net->add("linear", std::make_shared<nn::Linear>(c, cfg.num_classes));
  plan.check_all_used("inception");
  return net;
}

}  // namespace gb::models
