// The job behind `glassbox train`: data loading, the model from the zoo, the optimizer and
// schedule, epochs through the one training loop (loop.h), a test pass and an atomic checkpoint
// after every epoch, per-epoch metrics as JSON, and bit-exact resume from any checkpoint it wrote.
// Shape letters: N batch, C channels, H/W image size, K classes.
#pragma once
#include <cstdint>
#include <filesystem>
#include <memory>
#include <vector>

#include "models/training/loop.h"
#include "models/training/tensorboard.h"
#include "models/training/train_config.h"
#include "runtime/device.h"
#include "runtime/module.h"
#include "runtime/process_group.h"

namespace gb::training {

struct TrainOptions {
  std::filesystem::path out;     // checkpoint written after every epoch (atomically)
  std::filesystem::path resume;  // continue from this checkpoint
  // Fine-tune: start from this checkpoint's model (any: zoo, pruned, imported), its weights and
  // its input normalisation, with the run's own recipe; the data set must match its classes and
  // input size. Not with resume.
  std::filesystem::path init;
  std::filesystem::path json;    // per-epoch metrics (optional)
  bool overwrite = false;        // allow replacing an existing `out`
  int64_t stop_after_epoch = 0;  // stop once this epoch is done (as if interrupted); 0: never
  int64_t epochs_override = 0;   // with resume: a new total epoch count (0: keep)
  bool quiet = false;
  Device device;  // where the model trains (parse_device("cuda") for the GPU)
  // TensorBoard event files (tensorboard.dir empty: none): the graph at the start, per-step and
  // per-epoch scalars, histograms after every epoch, the views every image_every epochs.
  TensorBoardSettings tensorboard;
  // The anomaly guard: the first steps by default, every step with --detect-anomaly.
  AnomalySettings anomaly;
  // Data-parallel over this group when it has several ranks (`mpirun -np N`; null: the process's
  // world, runtime/process_group.h): each global batch of cfg.batch_size images is split over
  // the ranks (data_parallel.h), the test pass is sharded, and only rank 0 prints, writes the
  // checkpoint, the metrics and the TensorBoard files. The ranks must agree on the binary, the
  // configuration and the data (checked before training).
  ProcessGroup* group = nullptr;
  bool sync_bn = false;  // batch-norm statistics over the global batch (several ranks only)
};

struct TrainResult {
  std::vector<EpochMetrics> epochs;
  std::shared_ptr<Module> model;
};

// Runs training. With opt.resume, `cfg` is ignored: the configuration comes from the checkpoint
// (only the epoch count may change, through opt.epochs_override), and the run continues with the
// same weights, optimizer state, data order and dropout stream as if never interrupted.
// throws: std::runtime_error / std::invalid_argument naming the file or cause on bad input
// (unreadable data, existing output without overwrite, an unwritable TensorBoard directory,
// checkpoint mismatch) or a NaN/infinite loss or gradient (a gb::AnomalyError naming the step,
// op and module: loop.h); the output checkpoint is never left half-written, nor written after a
// non-finite step.
TrainResult train(TrainConfig cfg, const TrainOptions& opt);

}  // namespace gb::training
