// Throughput timing: warm-up, timed repetitions, median and spread.
#include "models/training/throughput.h"

#include <algorithm>
#include <chrono>
#include <stdexcept>
#include <vector>

#include "runtime/autograd.h"
#include "runtime/ops.h"
#include "runtime/optim.h"
#include "runtime/rng.h"

namespace gb::training {
namespace {

template <class Fn>
std::pair<double, double> time_reps(const ThroughputOptions& opt, int64_t batch, Fn&& step) {
  for (int64_t i = 0; i < opt.warmup; ++i) step();
  std::vector<double> s;
  for (int64_t i = 0; i < std::max<int64_t>(opt.reps, 1); ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    step();
    s.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  std::sort(s.begin(), s.end());
  const double med = s[s.size() / 2];
  return {static_cast<double>(batch) / med, (s.back() - s.front()) / med};
}

}  // namespace

Throughput measure_throughput(Module& model, const Shape& chw, int64_t classes,
                              const ThroughputOptions& opt) {
  if (chw.size() != 3) {
    throw std::invalid_argument("measure_throughput: input shape must be [C,H,W], got " +
                                shape_str(chw));
  }
  Throughput t;
  Generator gen(1, 0);
  if (opt.inference) {
    Tensor x = Tensor::randn({opt.infer_batch, chw[0], chw[1], chw[2]}, gen);
    EvalModeScope eval(model);
    auto [ips, spread] = time_reps(opt, opt.infer_batch, [&] {
      NoGradGuard ng;
      Tensor y = model(x);
    });
    t.inference_ips = ips;
    t.inference_spread = spread;
  }
  if (opt.train) {
    Tensor x = Tensor::randn({opt.train_batch, chw[0], chw[1], chw[2]}, gen);
    std::vector<int64_t> labels(static_cast<size_t>(opt.train_batch));
    for (size_t i = 0; i < labels.size(); ++i) {
      labels[i] = static_cast<int64_t>(i) % std::max<int64_t>(classes, 1);
    }
    Tensor y = Tensor::from_labels(labels);
    optim::SgdOptions so;
    so.lr = 0.01f;
    so.momentum = 0.9f;
    so.nesterov = true;
    so.weight_decay = 5e-4f;
    optim::SGD sgd(model.named_parameters(), so);
    const bool was_training = model.is_training();
    model.train();
    auto [ips, spread] = time_reps(opt, opt.train_batch, [&] {
      Tensor loss = ops::cross_entropy(model(x), y);
      sgd.zero_grad();
      loss.backward();
      sgd.step();
    });
    model.train(was_training);
    t.train_ips = ips;
    t.train_spread = spread;
  }
  return t;
}

}  // namespace gb::training
