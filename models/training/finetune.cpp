// The fine-tuning loop, the BN L1 subgradient and the distillation loss (see finetune.h).
// Shape letters: N batch, C channels, H/W image size, K classes.
#include "models/training/finetune.h"

#include <chrono>
#include <cmath>
#include <cstring>
#include <stdexcept>

#include "data/loader.h"
#include "runtime/autograd.h"
#include "runtime/layers.h"
#include "runtime/ops.h"
#include "runtime/optim.h"

namespace gb::training {

FinetuneResult finetune(Module& model, std::shared_ptr<const data::Dataset> train,
                        const data::Normalization& norm, const FinetuneConfig& cfg,
                        const FinetuneHooks& hooks) {
  if (cfg.batch_size < 1) throw std::invalid_argument("fine-tune: batch size must be >= 1");
  if (!(cfg.epochs > 0)) throw std::invalid_argument("fine-tune: epochs must be > 0");
  if (!train || train->size() == 0) throw std::invalid_argument("fine-tune: no training images");
  data::LoaderConfig lc;
  lc.batch_size = static_cast<size_t>(cfg.batch_size);
  lc.shuffle = true;
  lc.seed = cfg.seed;
  lc.norm = norm;
  if (cfg.augment) {
    lc.augment.crop_pad = 4;
    lc.augment.flip = true;
  }
  data::Loader loader(train, lc);
  const auto per_epoch = static_cast<double>(loader.batches_per_epoch());
  const int64_t total = std::max<int64_t>(1, std::llround(cfg.epochs * per_epoch));

  std::unique_ptr<optim::LrSchedule> schedule;
  if (cfg.schedule == "onecycle") {
    schedule = std::make_unique<optim::OneCycleSchedule>(cfg.lr, total, cfg.warmup_fraction);
  } else if (cfg.schedule == "cosine") {
    schedule = std::make_unique<optim::CosineSchedule>(
        cfg.lr, total, static_cast<int64_t>(cfg.warmup_fraction * static_cast<float>(total)));
  } else if (cfg.schedule == "constant") {
    schedule = std::make_unique<optim::ConstantSchedule>(cfg.lr);
  } else {
    throw std::invalid_argument("fine-tune: unknown schedule '" + cfg.schedule +
                                "'; known: onecycle, cosine, constant");
  }
  optim::SgdOptions so;
  so.lr = cfg.lr;
  so.momentum = cfg.momentum;
  so.nesterov = cfg.nesterov && cfg.momentum > 0;
  so.weight_decay = cfg.weight_decay;
  optim::SGD sgd(model.named_parameters(), so);

  const auto t0 = std::chrono::steady_clock::now();
  FinetuneResult r;
  double loss_sum = 0;
  int64_t correct = 0, seen = 0;
  model.train();
  while (r.steps < total) {
    auto b = loader.next();
    if (!b) continue;  // end of an epoch: the next call starts the next one
    const auto N = static_cast<int64_t>(b->size());
    Tensor x = Tensor::empty({N, b->channels, b->height, b->width});
    std::memcpy(x.f32(), b->images.data(), b->images.size() * sizeof(float));
    sgd.set_lr(schedule->lr(sgd.steps()));
    Tensor logits = model(x);
    Tensor loss = hooks.loss ? hooks.loss(x, logits, b->labels)
                             : ops::cross_entropy(logits, Tensor::from_labels(b->labels));
    const float lv = loss.item();
    if (!std::isfinite(lv)) {
      throw std::runtime_error("fine-tune: loss became " + std::to_string(lv) + " at step " +
                               std::to_string(r.steps + 1) + " (learning rate " +
                               std::to_string(sgd.lr()) + "); try a lower --lr");
    }
    sgd.zero_grad();
    loss.backward();
    if (cfg.bn_l1 > 0) add_bn_l1_subgradient(model, cfg.bn_l1);
    sgd.step();
    if (hooks.after_step) hooks.after_step();
    ++r.steps;
    const std::vector<float> p = logits.to_vector();
    const int64_t K = logits.size(1);
    for (int64_t i = 0; i < N; ++i) {
      int64_t best = 0;
      for (int64_t k = 1; k < K; ++k) {
        if (p[static_cast<size_t>(i * K + k)] > p[static_cast<size_t>(i * K + best)]) best = k;
      }
      correct += best == b->labels[static_cast<size_t>(i)] ? 1 : 0;
    }
    loss_sum += static_cast<double>(lv) * static_cast<double>(N);
    seen += N;
    if (hooks.on_step) {
      hooks.on_step(r.steps, total, loss_sum / static_cast<double>(seen),
                    static_cast<double>(correct) / static_cast<double>(seen));
    }
  }
  model.eval();
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  r.loss = loss_sum / static_cast<double>(std::max<int64_t>(seen, 1));
  r.accuracy = static_cast<double>(correct) / static_cast<double>(std::max<int64_t>(seen, 1));
  r.images_per_second = static_cast<double>(seen) / std::max(r.seconds, 1e-9);
  return r;
}

void add_bn_l1_subgradient(Module& model, float lambda) {
  for (auto& [path, m] : model.named_modules()) {
    if (dynamic_cast<nn::BatchNorm2d*>(m) == nullptr) continue;
    Tensor gamma = m->local_tensor("weight");
    if (!gamma.defined()) continue;
    Tensor g = gamma.grad();
    if (!g.defined()) continue;
    const std::vector<float> w = gamma.to_vector();
    std::vector<float> gv = g.to_vector();
    for (size_t i = 0; i < gv.size(); ++i) {
      gv[i] += lambda * static_cast<float>((w[i] > 0.0f) - (w[i] < 0.0f));
    }
    gamma.set_grad(Tensor::from_vector(gamma.shape(), gv));
  }
}

Tensor distillation_loss(const Tensor& student, const Tensor& teacher, const Tensor& labels,
                         float temperature, float alpha) {
  if (!(temperature > 0)) {
    throw std::invalid_argument("distillation: temperature must be > 0, got " +
                                std::to_string(temperature));
  }
  if (!(alpha >= 0 && alpha <= 1)) {
    throw std::invalid_argument("distillation: alpha must be in [0,1], got " +
                                std::to_string(alpha));
  }
  if (student.shape() != teacher.shape() || student.dim() != 2) {
    throw std::invalid_argument("distillation: student logits " + shape_str(student.shape()) +
                                " and teacher logits " + shape_str(teacher.shape()) +
                                " must both be [N,K]");
  }
  const float inv_t = 1.0f / temperature;
  Tensor kl;
  if (alpha > 0) {
    Tensor p, log_p;
    {
      NoGradGuard no_grad;
      Tensor t = ops::scale(teacher.detach(), inv_t);
      p = ops::softmax(t).detach();
      log_p = ops::log_softmax(t).detach();
    }
    Tensor log_q = ops::log_softmax(ops::scale(student, inv_t));
    kl = ops::scale(ops::sum(ops::mul(p, ops::sub(log_p, log_q))),
                    1.0f / static_cast<float>(student.size(0)));
  }
  if (alpha >= 1) return ops::scale(kl, temperature * temperature);
  Tensor ce = ops::cross_entropy(student, labels);
  if (alpha <= 0) return ce;
  return ops::add(ops::scale(kl, alpha * temperature * temperature), ops::scale(ce, 1.0f - alpha));
}

}  // namespace gb::training
