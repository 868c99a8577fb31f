// Evaluation and its report (see evaluate.h). Shape letters: N batch, K classes.
#include "models/training/evaluate.h"

#include <fmt/format.h>

#include <algorithm>
#include <memory>

#include "data/loader.h"
#include "models/training/loop.h"
#include "models/training/progress.h"
#include "runtime/autograd.h"
#include "runtime/ops.h"

namespace gb::training {

EvalResult evaluate(Module& model, const data::Dataset& ds, const data::Normalization& norm,
                    int64_t batch_size, bool quiet, const std::string& label, bool tta) {
  NoGradGuard no_grad;
  model.eval();
  const Device device = model.device();
  EvalResult r;
  r.classes = ds.classes;
  const size_t K = ds.num_classes();
  r.confusion.assign(K, std::vector<int64_t>(K, 0));
  data::LoaderConfig lc;
  lc.batch_size = static_cast<size_t>(batch_size);
  lc.shuffle = false;
  lc.norm = norm;
  data::Loader loader(std::make_shared<const data::Dataset>(ds), lc);
  ProgressBar bar(label, static_cast<int64_t>(loader.batches_per_epoch()), quiet);
  double loss_sum = 0;
  int64_t correct = 0, step = 0;
  while (auto b = loader.next()) {
    Tensor logits = model(batch_images(*b, device));
    if (tta) {
      logits = ops::scale(ops::add(logits, model(batch_images(*b, device, true))), 0.5f);
    }
    Tensor loss = ops::cross_entropy(logits, Tensor::from_labels(b->labels).to(device));
    loss_sum += static_cast<double>(loss.item()) * static_cast<double>(b->size());
    std::vector<int64_t> pred;
    correct += count_correct(logits, b->labels, &pred);
    for (size_t i = 0; i < pred.size(); ++i) {
      ++r.confusion[static_cast<size_t>(b->labels[i])][static_cast<size_t>(pred[i])];
    }
    r.samples += static_cast<int64_t>(b->size());
    bar.update(++step, loss_sum / static_cast<double>(r.samples),
               static_cast<double>(correct) / static_cast<double>(r.samples), r.samples);
  }
  r.seconds = bar.elapsed_seconds();
  r.loss = loss_sum / static_cast<double>(std::max<int64_t>(r.samples, 1));
  r.accuracy = static_cast<double>(correct) / static_cast<double>(std::max<int64_t>(r.samples, 1));
  for (size_t k = 0; k < K; ++k) {
    int64_t total = 0;
    for (size_t j = 0; j < K; ++j) total += r.confusion[k][j];
    r.per_class_accuracy.push_back(
        total ? static_cast<double>(r.confusion[k][k]) / static_cast<double>(total) : 0.0);
  }
  bar.finish(fmt::format("loss {:.4f}  accuracy {:.2f}%  ({} images, {})", r.loss,
                         100.0 * r.accuracy, r.samples, format_duration(r.seconds)));
  return r;
}

std::string format_eval_report(const EvalResult& r) {
  std::string out = fmt::format("accuracy {:.2f}% on {} images (loss {:.4f})\n\nper class:\n",
                                100.0 * r.accuracy, r.samples, r.loss);
  size_t w = 5;
  for (const auto& c : r.classes) w = std::max(w, c.size());
  for (size_t k = 0; k < r.classes.size(); ++k) {
    out += fmt::format("  {:<{}}  {:6.2f}%\n", r.classes[k], w, 100.0 * r.per_class_accuracy[k]);
  }
  out += "\nconfusion matrix (rows: true class, columns: predicted):\n";
  out += fmt::format("  {:<{}}", "", w);
  for (size_t k = 0; k < r.classes.size(); ++k) out += fmt::format(" {:>5}", k);
  out += "\n";
  for (size_t k = 0; k < r.classes.size(); ++k) {
    out += fmt::format("  {:<{}}", fmt::format("{} {}", k, r.classes[k]).substr(0, w), w);
    for (size_t j = 0; j < r.classes.size(); ++j) out += fmt::format(" {:>5}", r.confusion[k][j]);
    out += "\n";
  }
  return out;
}

}  // namespace gb::training
