// Data-parallel training over a process group (runtime/process_group.h; `mpirun -np N glassbox
// train`): every rank builds the same model from the seed and takes its contiguous shard of each
// global batch (the batches a single process would draw for that seed, data/loader.h); a step sums
// the ranks' losses, counts and gradients, each weighted by the rank's share of the global batch
// (w = its images / the global batch's images), in rank order, so every rank applies the same
// update and a fixed N gives bit-identical weights run after run. The result equals one process
// on the global batch up to float rounding (the sums are grouped differently). With `sync_bn` the
// batch norms take their statistics over the global batch (ops::batch_norm_synced); without it,
// each rank normalises its own shard, and the running statistics are averaged over the ranks
// before each test pass and checkpoint. Shape letters: N batch, K classes.
#pragma once
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

#include "data/dataset.h"
#include "runtime/module.h"
#include "runtime/optim.h"
#include "runtime/process_group.h"

namespace gb::training {

struct DataParallel {
  ProcessGroup* group = nullptr;  // null: one process
  bool sync_bn = false;
  bool active() const { return group && group->size() > 1; }
};

// One step's figures over the global batch: the loss (each rank's batch-mean loss weighted by w,
// summed), the correct predictions and the images.
struct GlobalStepFigures {
  double loss = 0;
  int64_t correct = 0, images = 0;
};
// Collective. requires: the same call on every rank of the group.
GlobalStepFigures sum_step_figures(ProcessGroup& group, double local_loss, int64_t local_correct,
                                   int64_t local_images, double local_weight);

// Every parameter gradient replaced by the rank-order sum over the ranks of w * gradient (an
// undefined gradient counts as zeros). Collective; GPU gradients travel through the host.
void sum_gradients(ProcessGroup& group, const optim::NamedTensors& params, float local_weight);

// Every float buffer named running_mean or running_var replaced by its mean over the ranks, so
// that the test pass and the checkpoint see one set of statistics. Collective.
void average_running_statistics(ProcessGroup& group, Module& model);

// Throws std::runtime_error when the ranks' `config` objects differ, naming each differing key
// with rank 0's value and the first differing rank's ("seed: rank 0 has 1, rank 1 has 2").
// Collective.
void check_same_config_on_all_ranks(ProcessGroup& group, const nlohmann::json& config,
                                    const std::string& what);

// A fingerprint of a data set's content (sizes, classes, labels and pixels), for
// check_same_on_all_ranks.
std::string dataset_fingerprint(const data::Dataset& ds);

// While alive: the batch norms sync over `parallel`'s group with this rank's weight when
// parallel.sync_bn and the group has several ranks (else nothing changes); then turns it off.
class BatchNormSyncScope {
 public:
  BatchNormSyncScope(const DataParallel& parallel, float local_weight);
  ~BatchNormSyncScope();
  BatchNormSyncScope(const BatchNormSyncScope&) = delete;
  BatchNormSyncScope& operator=(const BatchNormSyncScope&) = delete;

 private:
  bool active_ = false;
};

}  // namespace gb::training
