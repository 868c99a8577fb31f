// Evaluation and its report (see evaluate.h). Shape letters: N batch, K classes.
#include "models/training/evaluate.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <stdexcept>

#include "data/loader.h"
#include "models/training/loop.h"
#include "models/training/progress.h"
#include "runtime/autograd.h"
#include "runtime/ops.h"

namespace gb::training {

namespace {

// What a run over some batches found: each batch's summed loss (batch mean x its images), in
// batch order, and the confusion counts [true][predicted].
struct BatchTotals {
  std::vector<double> batch_losses;
  std::vector<std::vector<int64_t>> confusion;
  double seconds = 0;
};

// b's images shifted by (d, d) pixels, the uncovered border reflected (PyTorch's "reflect"
// padding: row -1 reads row 1, row H reads row H - 2). requires: |d| <= 1, H and W >= 2.
data::Batch translated(const data::Batch& b, int d) {
  data::Batch t = b;
  const int H = b.height, W = b.width;
  auto reflect = [](int i, int n) { return i < 0 ? -i : (i >= n ? 2 * n - 2 - i : i); };
  const size_t planes = b.images.size() / static_cast<size_t>(H * W);
  for (size_t p = 0; p < planes; ++p) {
    const float* src = b.images.data() + p * static_cast<size_t>(H * W);
    float* dst = t.images.data() + p * static_cast<size_t>(H * W);
    for (int y = 0; y < H; ++y)
      for (int x = 0; x < W; ++x) dst[y * W + x] = src[reflect(y - d, H) * W + reflect(x - d, W)];
  }
  return t;
}

// The logits of b at TTA level `level`: 0 the images; 1 the mean with their mirrors; 2 half of
// that plus half the level-1 mean of the images translated by one pixel both ways (up-left and
// down-right), as airbench's test-time augmentation.
Tensor tta_logits(Module& model, const data::Batch& b, Device device, int64_t level) {
  auto mirrored = [&](const data::Batch& x) {
    Tensor logits = model(batch_images(x, device));
    if (level == 0) return logits;
    return ops::scale(ops::add(logits, model(batch_images(x, device, true))), 0.5f);
  };
  Tensor logits = mirrored(b);
  if (level < 2 || b.height < 2 || b.width < 2) return logits;
  const Tensor shifted = ops::add(mirrored(translated(b, 1)), mirrored(translated(b, -1)));
  return ops::add(ops::scale(logits, 0.5f), ops::scale(shifted, 0.25f));
}

BatchTotals run_batches(Module& model, const data::Dataset& ds, const data::Normalization& norm,
                        int64_t batch_size, int64_t tta_level, ProgressBar& bar) {
  const Device device = model.device();
  const size_t K = ds.num_classes();
  BatchTotals t;
  t.confusion.assign(K, std::vector<int64_t>(K, 0));
  if (ds.size() == 0) return t;
  data::LoaderConfig lc;
  lc.batch_size = static_cast<size_t>(batch_size);
  lc.shuffle = false;
  lc.norm = norm;
  data::Loader loader(std::make_shared<const data::Dataset>(ds), lc);
  double loss_sum = 0;
  int64_t correct = 0, step = 0, samples = 0;
  while (auto b = loader.next()) {
    Tensor logits = tta_logits(model, *b, device, tta_level);
    Tensor loss = ops::cross_entropy(logits, Tensor::from_labels(b->labels).to(device));
    t.batch_losses.push_back(static_cast<double>(loss.item()) * static_cast<double>(b->size()));
    loss_sum += t.batch_losses.back();
    std::vector<int64_t> pred;
    correct += count_correct(logits, b->labels, &pred);
    for (size_t i = 0; i < pred.size(); ++i) {
      ++t.confusion[static_cast<size_t>(b->labels[i])][static_cast<size_t>(pred[i])];
    }
    samples += static_cast<int64_t>(b->size());
    bar.update(++step, loss_sum / static_cast<double>(samples),
               static_cast<double>(correct) / static_cast<double>(samples), samples);
  }
  t.seconds = bar.elapsed_seconds();
  return t;
}

int64_t batch_count(const data::Dataset& ds, int64_t batch_size) {
  return (static_cast<int64_t>(ds.size()) + batch_size - 1) / batch_size;
}

// The images of batches [batches.begin, batches.end) of `ds` cut in batches of `batch_size`.
data::Dataset batch_run(const data::Dataset& ds, int64_t batch_size, const ShardRange& batches) {
  const size_t begin = static_cast<size_t>(batches.begin * batch_size);
  const size_t end = std::min(ds.size(), static_cast<size_t>(batches.end * batch_size));
  std::vector<size_t> indices;
  for (size_t i = begin; i < end; ++i) indices.push_back(i);
  return data::subset(ds, indices);
}

// Every rank's totals, in rank order (= batch order).
BatchTotals gather_totals(ProcessGroup& group, const BatchTotals& mine) {
  std::vector<double> flat{static_cast<double>(mine.batch_losses.size()), mine.seconds};
  flat.insert(flat.end(), mine.batch_losses.begin(), mine.batch_losses.end());
  for (const auto& row : mine.confusion) flat.insert(flat.end(), row.begin(), row.end());
  const std::string bytes(reinterpret_cast<const char*>(flat.data()), flat.size() * sizeof(double));
  BatchTotals all;
  all.confusion.assign(mine.confusion.size(), std::vector<int64_t>(mine.confusion.size(), 0));
  for (const std::string& part : group.all_gather_strings(bytes)) {
    std::vector<double> v(part.size() / sizeof(double));
    std::memcpy(v.data(), part.data(), part.size());
    const size_t batches = static_cast<size_t>(v[0]);
    all.seconds = std::max(all.seconds, v[1]);
    all.batch_losses.insert(all.batch_losses.end(), v.begin() + 2,
                            v.begin() + 2 + static_cast<std::ptrdiff_t>(batches));
    size_t at = 2 + batches;
    for (auto& row : all.confusion) {
      for (int64_t& count : row) count += static_cast<int64_t>(v[at++]);
    }
  }
  return all;
}

}  // namespace

EvalResult evaluate(Module& model, const data::Dataset& ds, const data::Normalization& norm,
                    int64_t batch_size, bool quiet, const std::string& label, int64_t tta_level,
                    ProcessGroup* group) {
  NoGradGuard no_grad;
  model.eval();
  if (batch_size < 1) throw std::invalid_argument("evaluate: batch size must be positive");
  if (tta_level < 0 || tta_level > 2) {
    throw std::invalid_argument("evaluate: TTA level must be 0, 1 or 2, got " +
                                std::to_string(tta_level));
  }
  const bool sharded = group && group->size() > 1;
  const ShardRange mine =
      sharded ? shard_range(batch_count(ds, batch_size), group->rank(), group->size())
              : ShardRange{0, batch_count(ds, batch_size)};
  ProgressBar bar(label, mine.size(), quiet || (sharded && !group->is_root()));
  BatchTotals t;
  if (sharded) {
    t = gather_totals(*group, run_batches(model, batch_run(ds, batch_size, mine), norm, batch_size,
                                          tta_level, bar));
  } else {
    t = run_batches(model, ds, norm, batch_size, tta_level, bar);
  }
  EvalResult r;
  r.classes = ds.classes;
  r.confusion = t.confusion;
  r.seconds = t.seconds;
  double loss_sum = 0;
  for (double l : t.batch_losses) loss_sum += l;
  int64_t correct = 0;
  for (size_t k = 0; k < r.confusion.size(); ++k) {
    int64_t total = 0;
    for (int64_t count : r.confusion[k]) total += count;
    r.samples += total;
    correct += r.confusion[k][k];
    r.per_class_accuracy.push_back(
        total ? static_cast<double>(r.confusion[k][k]) / static_cast<double>(total) : 0.0);
  }
  r.loss = loss_sum / static_cast<double>(std::max<int64_t>(r.samples, 1));
  r.accuracy = static_cast<double>(correct) / static_cast<double>(std::max<int64_t>(r.samples, 1));
  bar.finish(fmt::format(
      "loss {:.4f}  accuracy {:.2f}%  ({} images{}, {})", r.loss, 100.0 * r.accuracy, r.samples,
      sharded ? fmt::format(" on {} processes", group->size()) : "", format_duration(r.seconds)));
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
