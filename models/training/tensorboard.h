// TensorBoard logging of training runs (`--tensorboard DIR`), written by glassbox itself
// (tfevents.h): a TensorBoardWriter owning one new event file in a directory (scalars,
// histograms, PNG images, the model graph as a GraphDef), and the TrainingLog the training
// drivers (trainer.h, finetune.h) feed: per optimizer step the batch loss, accuracy and learning
// rate; per epoch the epoch's metrics, a histogram of every parameter and of its gradient (the
// epoch's last step), and pictures drawn by a caller above this library (EpochViews: Grad-CAM,
// activations, interp/explain/training_views.h) every `image_every` epochs; the graph once.
// Shape letters: C channels, H/W image size.
#pragma once
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "data/dataset.h"
#include "data/normalize.h"
#include "models/training/loop.h"
#include "models/training/tfevents.h"
#include "models/training/train_config.h"
#include "runtime/module.h"

namespace gb::models {
struct ModelGraph;  // models/model_graph.h
}

namespace gb::training {

// The histogram TensorBoard gets of n values: `bins` equal-width buckets over [min, max] of the
// finite values (non-finite ones are left out of every field), bucket i holding the values in
// (limit[i-1], limit[i]] and the first also min itself; all values equal: one bucket at max.
// No finite values: num 0 and no buckets. requires: bins >= 1.
tfevents::Histogram make_histogram(const float* values, size_t n, int64_t bins = 30);

// The GraphDef (tensorflow/core/framework/graph.proto) of a traced model graph, serialized: one
// NodeDef per node named by its slash-scoped GraphNode::name (so TensorBoard folds modules), op
// the op-table name, inputs by producer name, attrs `_output_shapes` (a list of one
// TensorShapeProto: TensorBoard labels edges with it), `params` (the parameters and buffers
// read, comma-separated) and the node's own attributes as strings. The image is a node `input`
// (op Placeholder), each constant input a node `<consumer>_const<i>` (op Const), and the model's
// output a node `output` (op Identity).
std::string graph_def_bytes(const models::ModelGraph& g);

// One new event file in a directory (tfevents::EventFile names it, never replacing a file).
class TensorBoardWriter {
 public:
  // throws: std::runtime_error "<dir>: cannot write TensorBoard event files (<cause>)".
  explicit TensorBoardWriter(const std::filesystem::path& dir);
  const std::filesystem::path& file() const { return file_.path(); }

  // Writes one event. Every writer throws std::runtime_error naming the file when a write fails.
  void scalar(const std::string& tag, int64_t step, double value);  // stored as float32
  void histogram(const std::string& tag, int64_t step, const std::vector<float>& values);
  // An encoded PNG of width x height pixels with `channels` (1, 3 or 4) per pixel.
  void image(const std::string& tag, int64_t step, int64_t width, int64_t height, int channels,
             const std::vector<uint8_t>& png);
  void graph(const models::ModelGraph& g);
  void flush();

 private:
  tfevents::EventFile file_;
};

// Pictures of the model at the end of an epoch, drawn by a caller above the training library:
// `test` (normalised with `norm`) is the run's test split. Written at step `epoch`.
using EpochViews = std::function<void(TensorBoardWriter& tb, int64_t epoch, Module& model,
                                      const data::Dataset& test, const data::Normalization& norm)>;

struct TensorBoardSettings {
  std::filesystem::path dir;  // empty: no TensorBoard logging
  int64_t image_every = 1;    // views every this many epochs (and after the last one)
  EpochViews views;           // may be empty
};

// What a training run logs (see the file comment). Steps: per-step tags (train/*) at the
// optimizer step counted from 1; per-epoch tags (epoch/*, weights/*, gradients/*, views) at the
// 1-based epoch number.
class TrainingLog {
 public:
  // Opens the event file: construct it before any long work so that a bad directory stops the
  // run at once. requires: settings.image_every >= 1 (throws std::invalid_argument otherwise).
  // throws: what TensorBoardWriter throws.
  explicit TrainingLog(TensorBoardSettings settings);

  TensorBoardWriter& writer() { return writer_; }
  // The test split the views draw from (none: no views). Kept by pointer: it must outlive the
  // log's use.
  void set_test_data(const data::Dataset* test, const data::Normalization& norm);
  // The optimizer steps and epochs already done (a resumed run continues its axes).
  void set_progress(int64_t steps, int64_t epochs);
  int64_t epochs_logged() const { return epochs_; }

  // Traces `model` on a zero image of chw = [C,H,W] (models::trace_model_graph, which leaves
  // the model in eval mode) and writes its graph, the first time only.
  // throws: what the trace throws.
  void graph_once(Module& model, const Shape& chw);
  // After an optimizer step: train/loss, train/accuracy (of that batch), train/lr.
  void step(const RunningMetrics& running, double lr);
  // After epoch m.epoch (1-based): epoch/* scalars of m (test ones when evaluated),
  // weights/<param> and gradients/<param> histograms, the views when due (`last`: the run's
  // final epoch, always due). Flushes the file.
  void epoch(const EpochMetrics& m, Module& model, bool last);

 private:
  void parameter_histograms(int64_t epoch, Module& model);

  TensorBoardSettings settings_;
  TensorBoardWriter writer_;
  const data::Dataset* test_ = nullptr;
  data::Normalization norm_;
  int64_t steps_ = 0, epochs_ = 0;
  bool graph_written_ = false;
};

}  // namespace gb::training
