// The airbench-style fast CIFAR network and its patch-whitening initialisation (airbench.h).
// Children: whiten, act0, block1, block2, block3, pool, flatten, fc, scale.
#include "models/airbench.h"

#include <Eigen/Dense>
#include <algorithm>
#include <memory>
#include <stdexcept>

#include "models/builders.h"
#include "models/chain.h"
#include "runtime/layers.h"
#include "runtime/ops.h"

namespace gb::models {
namespace {

// Multiplies its input by a constant (the head's 1/9 logit scale).
class Scale : public Module {
 public:
  explicit Scale(float factor) : factor(factor) {}
  Tensor forward(const Tensor& x) override { return ops::scale(x, factor); }
  std::string type_name() const override { return "Scale"; }
  std::string describe() const override { return std::to_string(factor); }
  float factor;
};

}  // namespace

ModulePtr build_airbench(const ModelConfig& cfg) {
  cfg.validate();
  ChannelPlan plan(cfg);
  const int64_t stem = 2 * cfg.in_channels * 4;  // whitening filters and their negatives
  auto net = std::make_shared<Chain>("AirBench");
  net->add("whiten", std::make_shared<nn::Conv2d>(cfg.in_channels, stem, 2, 1, 0, 1, true));
  net->add("act0", std::make_shared<nn::GELU>());
  int64_t c = stem;
  int64_t hw = cfg.image_size - 1;
  const int64_t widths[3] = {64, 256, 256};
  for (int b = 0; b < 3; ++b) {
    const std::string name = "block" + std::to_string(b + 1);
    auto block = std::make_shared<nn::Sequential>();
    const int64_t k1 = plan.out(name + ".0", widths[b]);
    block->push_back(std::make_shared<nn::Conv2d>(c, k1, 3, 1, 1));
    if (hw >= 2) {
      block->push_back(std::make_shared<nn::MaxPool2d>(2, 2));
      hw /= 2;
    } else {
      block->push_back(std::make_shared<nn::Identity>());
    }
    block->push_back(std::make_shared<nn::BatchNorm2d>(k1));
    block->push_back(std::make_shared<nn::GELU>());
    const int64_t k2 = plan.out(name + ".4", widths[b]);
    block->push_back(std::make_shared<nn::Conv2d>(k1, k2, 3, 1, 1));
    block->push_back(std::make_shared<nn::BatchNorm2d>(k2));
    block->push_back(std::make_shared<nn::GELU>());
    net->add(name, block);
    c = k2;
  }
  net->add("pool", std::make_shared<nn::MaxPool2d>(hw, hw));  // 3x3 -> 1x1 at 28 and 32 pixels
  net->add("flatten", std::make_shared<nn::Flatten>());
  net->add("fc", std::make_shared<nn::Linear>(c, cfg.num_classes, false));
  net->add("scale", std::make_shared<Scale>(1.0f / 9.0f));
  plan.check_all_used("airbench");
  // Partial identity ("dirac") initialisation of every 3x3 conv, as in the record runs: the first
  // min(C, K) filters pass their input channel through, the rest keep their random init, so
  // the deep path starts close to an identity and trains fast.
  for (auto& [path, m] : net->named_modules()) {
    auto* conv = dynamic_cast<nn::Conv2d*>(m);
    if (!conv || conv->kernel != 3 || conv->groups != 1) continue;
    Tensor w = conv->local_tensor("weight");
    std::vector<float> v = w.to_vector();
    const int64_t C = conv->in_channels, K = conv->out_channels;
    for (int64_t k = 0; k < std::min(C, K); ++k) {
      for (int64_t i = 0; i < C * 9; ++i) v[static_cast<size_t>(k * C * 9 + i)] = 0.0f;
      v[static_cast<size_t>(k * C * 9 + k * 9 + 4)] = 1.0f;  // centre tap of channel k
    }
    w.copy_(Tensor::from_vector(w.shape(), v));
  }
  return net;
}

void init_patch_whitening(Module& model, const data::Dataset& ds, const data::Normalization& norm,
                          int64_t max_images, double eps) {
  Module* stem = model.find("whiten");
  auto* conv = dynamic_cast<nn::Conv2d*>(stem);
  if (!conv || conv->kernel != 2 || conv->in_channels != ds.channels ||
      conv->out_channels != 2 * ds.channels * 4) {
    throw std::invalid_argument("init_patch_whitening: the model has no 2x2 'whiten' stem for " +
                                std::to_string(ds.channels) + "-channel images");
  }
  const int64_t C = ds.channels, H = ds.height, W = ds.width, D = C * 4;
  const int64_t n = std::min<int64_t>(max_images, static_cast<int64_t>(ds.size()));
  if (n < 1) throw std::invalid_argument("init_patch_whitening: no images");
  // Covariance of the normalised 2x2 patches (feature order c, r, s as the weight [K, C, 2, 2]).
  Eigen::MatrixXd sum = Eigen::MatrixXd::Zero(D, D);
  Eigen::VectorXd mean = Eigen::VectorXd::Zero(D);
  Eigen::VectorXd patch(D);
  double count = 0;
  for (int64_t i = 0; i < n; ++i) {
    const uint8_t* img = ds.image(static_cast<size_t>(i));
    for (int64_t y = 0; y + 1 < H; ++y) {
      for (int64_t x = 0; x + 1 < W; ++x) {
        for (int64_t c = 0; c < C; ++c) {
          for (int64_t r = 0; r < 2; ++r) {
            for (int64_t s = 0; s < 2; ++s) {
              const double v = img[(c * H + y + r) * W + x + s] / 255.0;
              patch[c * 4 + r * 2 + s] =
                  (v - norm.mean[static_cast<size_t>(c)]) / norm.std[static_cast<size_t>(c)];
            }
          }
        }
        sum.noalias() += patch * patch.transpose();
        mean += patch;
        count += 1;
      }
    }
  }
  mean /= count;
  const Eigen::MatrixXd cov = sum / count - mean * mean.transpose();
  Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> eig(cov);
  std::vector<float> w(static_cast<size_t>(2 * D * D));
  for (int64_t k = 0; k < D; ++k) {
    const double scale = 1.0 / std::sqrt(std::max(eig.eigenvalues()[k], 0.0) + eps);
    for (int64_t j = 0; j < D; ++j) {
      const auto v = static_cast<float>(eig.eigenvectors()(j, k) * scale);
      w[static_cast<size_t>(k * D + j)] = v;
      w[static_cast<size_t>((k + D) * D + j)] = -v;
    }
  }
  Tensor weight = stem->local_tensor("weight");
  weight.copy_(Tensor::from_vector(weight.shape(), w));
  weight.set_requires_grad(false);
  Tensor bias = stem->local_tensor("bias");
  if (bias.defined()) bias.copy_(Tensor::zeros(bias.shape()));
}

}  // namespace gb::models
