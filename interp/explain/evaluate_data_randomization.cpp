// Training on permuted labels for the data-randomisation test (see
// evaluate_data_randomization.h). Shape letters: N images, K classes.
#include "interp/explain/evaluate_data_randomization.h"

#include <fmt/format.h>

#include <algorithm>
#include <numeric>
#include <stdexcept>
#include <vector>

#include "interp/batch.h"
#include "models/registry.h"
#include "models/training/checkpoint_meta.h"
#include "models/training/datasets.h"
#include "models/training/finetune.h"
#include "runtime/rng.h"

namespace gb::interp {
namespace {

constexpr uint64_t kPermutationStream = 0x5045524d;  // "PERM"

// Accuracy of `model` on every image of ds against ds.labels (eval mode, batched).
double accuracy_on(Module& model, const data::Dataset& ds, const data::Normalization& norm,
                   const BatchOptions& batch) {
  const int64_t N = static_cast<int64_t>(ds.size()), CHW = static_cast<int64_t>(ds.image_size());
  int64_t right = 0;
  forward_streamed(
      model, N, {ds.channels, ds.height, ds.width},
      [&](int64_t begin, int64_t count) {
        Tensor b = Tensor::empty({count, ds.channels, ds.height, ds.width});
        for (int64_t i = 0; i < count; ++i) {
          data::normalize_image(ds.image(static_cast<size_t>(begin + i)), ds.channels, ds.height,
                                ds.width, norm, b.f32() + i * CHW);
        }
        return b;
      },
      [&](int64_t begin, const Tensor& logits) {
        const int64_t K = logits.size(1);
        const std::vector<float> v = logits.to_vector();
        for (int64_t i = 0; i < logits.size(0); ++i) {
          const auto row = v.begin() + i * K;
          const int64_t pred = std::max_element(row, row + K) - row;
          right += pred == ds.labels[static_cast<size_t>(begin + i)];
        }
      },
      batch);
  return N > 0 ? static_cast<double>(right) / static_cast<double>(N) : 0.0;
}

}  // namespace

PermutedModel train_on_permuted_labels(const training::CheckpointMeta& meta,
                                       const std::string& data,
                                       const eval::DataRandomizationParams& o, uint64_t seed,
                                       const std::function<double(Module&)>& test_accuracy_of,
                                       bool quiet) {
  auto train = std::make_shared<data::Dataset>(
      training::load_split(data, data::Split::Train, o.train_limit));
  // Fisher-Yates over the labels with Philox(seed, "PERM").
  const Philox rng(seed, kPermutationStream);
  for (size_t i = train->labels.size(); i > 1; --i) {
    std::swap(train->labels[i - 1], train->labels[rng.below(i, i)]);
  }
  PermutedModel pm;
  manual_seed(seed);
  pm.model = models::build_model(meta.model_name, meta.model_config);
  training::FinetuneConfig fc;
  fc.batch_size = o.batch_size;
  fc.lr = static_cast<float>(o.lr);
  fc.schedule = "constant";
  fc.augment = false;
  fc.weight_decay = 0;  // memorisation is the aim (Zhang et al., ICLR 2017 fit random labels so)
  int64_t round = 0;
  while (pm.epochs < o.max_epochs) {
    const int64_t epochs = std::min(o.check_every, o.max_epochs - pm.epochs);
    fc.epochs = static_cast<double>(epochs);
    fc.seed = seed + static_cast<uint64_t>(++round);  // a new loader order every round
    training::finetune(*pm.model, train, meta.norm, fc);
    pm.epochs += epochs;
    pm.memorisation_accuracy = accuracy_on(*pm.model, *train, meta.norm, {});
    if (!quiet) {
      fmt::print(stderr, "  data randomisation: epoch {} memorised {:.1f}%\n", pm.epochs,
                 100.0 * pm.memorisation_accuracy);
    }
    if (pm.memorisation_accuracy >= o.min_accuracy) break;
  }
  pm.model->eval();
  pm.test_accuracy = test_accuracy_of(*pm.model);
  pm.compared = pm.memorisation_accuracy >= o.min_accuracy || o.allow_underfit;
  pm.info = {
      {"train_images", static_cast<int64_t>(train->size())},
      {"labels", "permuted, Philox(seed)"},
      {"max_epochs", o.max_epochs},
      {"epochs", pm.epochs},
      {"min_accuracy", o.min_accuracy},
      {"memorisation_accuracy", pm.memorisation_accuracy},
      {"test_accuracy", pm.test_accuracy},
      {"allow_underfit", o.allow_underfit},
      {"optimiser",
       fmt::format("SGD nesterov, lr {} constant, batch {}, no augmentation, no weight decay", o.lr,
                   o.batch_size)},
      {"init", "the zoo's initialisation, manual_seed(seed)"},
      {"compared", pm.compared}};
  if (!pm.compared) {
    pm.info["withheld"] = fmt::format(
        "memorisation accuracy {:.3f} < {:.3f}: no comparison reported (--dr-allow-underfit "
        "reports it anyway)",
        pm.memorisation_accuracy, o.min_accuracy);
  }
  return pm;
}

}  // namespace gb::interp
