// `glassbox train`: a run set up from its configuration (or the checkpoint it resumes), then
// epochs of the training loop, each followed by a test pass and a checkpoint (see trainer.h).
// Shape letters: N batch, C channels, H/W image size, K classes.
#include "models/training/trainer.h"

#include <fmt/format.h>

#include <optional>
#include <stdexcept>

#include "data/loader.h"
#include "models/airbench.h"
#include "models/registry.h"
#include "models/training/checkpoint_meta.h"
#include "models/training/data_parallel.h"
#include "models/training/datasets.h"
#include "models/training/evaluate.h"
#include "models/training/lookahead.h"
#include "models/training/loop.h"
#include "models/training/optimizer_setup.h"
#include "models/training/param_groups.h"
#include "models/training/progress.h"
#include "models/training/throughput.h"
#include "runtime/checkpoint.h"
#include "runtime/output_path.h"
#include "runtime/rng.h"
#include "runtime/storage.h"

namespace gb::training {
namespace fs = std::filesystem;

namespace {

// The checkpoint a run resumes from.
struct Resume {
  SafetensorsFile file;
  CheckpointMeta meta;
  TrainingState state;  // state.config.epochs already holds the new total, if any
};

std::optional<Resume> read_resume(const TrainOptions& opt) {
  if (opt.resume.empty()) return std::nullopt;
  Resume r;
  r.file = read_checkpoint(opt.resume);
  r.meta = read_checkpoint_meta(r.file, opt.resume);
  r.state = read_training_state(r.meta, opt.resume);
  if (opt.epochs_override > 0) r.state.config.epochs = opt.epochs_override;
  if (r.state.epoch >= r.state.config.epochs) {
    throw std::runtime_error(
        opt.resume.string() + ": already trained for " + std::to_string(r.state.epoch) + " of " +
        std::to_string(r.state.config.epochs) + " epochs; pass --epochs to train longer");
  }
  return r;
}

// The checkpoint a fine-tuning run starts from (--init).
struct Init {
  fs::path path;
  SafetensorsFile file;
  CheckpointMeta meta;
};

std::optional<Init> read_init(const TrainOptions& opt) {
  if (opt.init.empty()) return std::nullopt;
  Init i;
  i.path = opt.init;
  i.file = read_checkpoint(opt.init);
  i.meta = read_checkpoint_meta(i.file, opt.init);
  return i;
}

bool same_file(const fs::path& a, const fs::path& b) {
  return !a.empty() && !b.empty() && fs::exists(a) && fs::exists(b) && fs::equivalent(a, b);
}

// The checkpoint and --json paths, before any work: nothing is replaced without --overwrite
// (resuming into its own checkpoint and metrics file is allowed).
void check_outputs(const TrainOptions& opt) {
  if (opt.out.empty()) throw std::runtime_error("train: no output checkpoint path given");
  check_output_file(opt.out, opt.overwrite || same_file(opt.out, opt.resume), "--out");
  if (opt.json.empty()) return;
  if (same_file(opt.json, opt.out) || same_file(opt.json, opt.resume) || opt.json == opt.out ||
      opt.json == opt.resume) {
    throw std::runtime_error(opt.json.string() + ": --json must not name the checkpoint");
  }
  check_output_file(opt.json, opt.overwrite || !opt.resume.empty(), "--json");
}

struct RunData {
  std::shared_ptr<const data::Dataset> train;
  data::Dataset test;
  data::Normalization norm;  // from the training images, or the resumed run's
};

RunData load_run_data(const TrainConfig& cfg, const Resume* resume, const Init* init) {
  RunData d;
  d.train = std::make_shared<const data::Dataset>(
      load_split(cfg.data, data::Split::Train, cfg.limit_train));
  d.test = load_split(cfg.data, data::Split::Test, cfg.limit_test);
  const data::Dataset& tr = *d.train;
  if (tr.height != tr.width) {
    throw std::runtime_error(tr.source + ": images must be square, got " +
                             std::to_string(tr.height) + "x" + std::to_string(tr.width));
  }
  if (d.test.channels != tr.channels || d.test.height != tr.height || d.test.width != tr.width) {
    throw std::runtime_error(d.test.source + ": test images differ in size from training images");
  }
  d.norm = resume ? resume->meta.norm : init ? init->meta.norm : data::channel_stats(tr);
  return d;
}

// The model config of a run: the checkpoint's when it continues one (resume, init), which must
// fit the data set; else from the recipe and the data set.
models::ModelConfig model_config_for(const TrainConfig& c, const data::Dataset& ds,
                                     const CheckpointMeta* source, const fs::path& source_path) {
  if (source) {
    const models::ModelConfig& mc = source->model_config;
    if (mc.num_classes != static_cast<int64_t>(ds.num_classes()) || mc.in_channels != ds.channels ||
        mc.image_size != ds.height || ds.height != ds.width) {
      throw std::runtime_error(fmt::format(
          "{}: the model takes {} classes of {}x{}x{} images; {} has {} classes of {}x{}x{}",
          source_path.string(), mc.num_classes, mc.in_channels, mc.image_size, mc.image_size,
          ds.source, ds.num_classes(), ds.channels, ds.height, ds.width));
    }
    return mc;
  }
  models::ModelConfig mc;
  mc.num_classes = static_cast<int64_t>(ds.num_classes());
  mc.in_channels = ds.channels;
  mc.image_size = ds.height;
  mc.width = c.width;
  return mc;
}

// The model, initialised from the seed (a fresh airbench also gets its whitened stem), on the
// run's device.
std::shared_ptr<Module> build_run_model(const TrainConfig& cfg, const models::ModelConfig& mc,
                                        const RunData& d, Device device, bool fresh,
                                        const Init* init) {
  manual_seed(cfg.seed);
  std::shared_ptr<Module> model = models::build_model(cfg.model, mc);
  if (init) load_model_state(init->file, *model, init->path);
  if (cfg.model == "airbench" && fresh && !init) {
    models::init_patch_whitening(*model, *d.train, d.norm);
  }
  model->to(device);  // before the optimizer, whose state lives beside the parameters
  if (cfg.bn_l1 > 0 && device.type != DeviceType::Cpu) {
    throw std::runtime_error("train: --bn-l1 runs on the CPU only");
  }
  return model;
}

// The training loader of a run: shuffled and augmented from the seed, from the resumed epoch,
// giving this rank's shard of every batch.
data::LoaderConfig run_loader_config(const TrainConfig& cfg, const data::Normalization& norm,
                                     const Resume* resume, const ProcessGroup& group) {
  data::LoaderConfig lc =
      training_loader_config(cfg.batch_size, cfg.seed, norm, cfg.augment, cfg.crop_pad, cfg.cutout,
                             static_cast<uint64_t>(resume ? resume->state.epoch : 0));
  lc.shard = static_cast<size_t>(group.rank());
  lc.shards = static_cast<size_t>(group.size());
  return lc;
}

// The options as this rank runs them: ranks other than 0 print, check and write nothing.
TrainOptions rank_options(const TrainOptions& opt) {
  TrainOptions o = opt;
  if (!o.group) o.group = &world();
  if (!o.group->is_root()) {
    o.quiet = true;
    o.json.clear();
    o.tensorboard.dir.clear();
  }
  return o;
}

OptimizerSettings optimizer_settings(const TrainConfig& c) {
  return {c.optimizer, c.lr, c.momentum, c.nesterov, c.weight_decay};
}

// A run from its first (or resumed) epoch to its last: owns the model, optimizer, schedule and
// loader, and writes the checkpoint and metrics after every epoch.
class TrainingRun {
 public:
  // requires: opt.group set.
  TrainingRun(const TrainConfig& cfg, const TrainOptions& opt, const Resume* resume,
              const Init* init, TrainingLog* log)
      : cfg_(cfg),
        opt_(opt),
        log_(log),
        data_(load_run_data(cfg, resume, init)),
        model_config_(model_config_for(cfg, *data_.train,
                                       resume ? &resume->meta
                                       : init ? &init->meta
                                              : nullptr,
                                       resume ? opt.resume : opt.init)),
        model_(build_run_model(cfg, model_config_, data_, opt.device, resume == nullptr, init)),
        optimizer_(make_optimizer(optimizer_settings(cfg), *model_)),
        parallel_{opt.group, opt.sync_bn},
        loader_(data_.train, run_loader_config(cfg, data_.norm, resume, *opt.group)),
        steps_per_epoch_(static_cast<int64_t>(loader_.batches_per_epoch())),
        schedule_(make_schedule(cfg.schedule, cfg.lr, steps_per_epoch_ * cfg.epochs,
                                cfg.warmup_fraction)) {
    state_.config = cfg;
    apply_param_groups(cfg, *model_, *optimizer_);
    if (cfg.lookahead) {
      if (resume) {
        throw std::runtime_error(opt.resume.string() +
                                 ": a run with --lookahead cannot be resumed yet (its slow weights "
                                 "are not in the checkpoint); train it again from the start");
      }
      lookahead_.emplace(*model_);
    }
    check_same_on_all_ranks(
        *opt.group,
        dataset_fingerprint(*data_.train) + "; test: " + dataset_fingerprint(data_.test),
        "the data");
    if (resume) restore(*resume);
  }

  TrainResult run() {
    if (!opt_.quiet) print_start();
    if (log_) start_log();
    TrainResult result;
    result.model = model_;
    for (int64_t epoch = state_.epoch; epoch < cfg_.epochs; ++epoch) {
      result.epochs.push_back(run_epoch(epoch));
      save(result.epochs.back());
      const bool stop = opt_.stop_after_epoch > 0 && epoch + 1 >= opt_.stop_after_epoch;
      if (log_) log_->epoch(result.epochs.back(), *model_, stop || epoch + 1 == cfg_.epochs);
      if (stop) break;
    }
    return result;
  }

 private:
  void restore(const Resume& r) {
    load_model_state(r.file, *model_, opt_.resume);
    optimizer_->load_state(optimizer_state(r.file), r.state.optimizer_steps);
    dropout_generator().set_counter(r.state.dropout_counter);
    state_.epoch = r.state.epoch;
    state_.history = r.state.history;
  }

  void print_start() const {
    const data::Dataset& tr = *data_.train;
    fmt::print(
        "training {} ({} parameters) on {} ({} train / {} test images, {}x{}x{}), "
        "{} epochs of {} steps, batch {}, seed {}, device {}{}\n",
        cfg_.model, model_->parameter_count(), tr.source, tr.size(), data_.test.size(), tr.channels,
        tr.height, tr.width, cfg_.epochs, steps_per_epoch_, cfg_.batch_size, cfg_.seed,
        describe_device(opt_.device), parallel_description());
  }

  std::string parallel_description() const {
    if (!parallel_.active()) return "";
    return fmt::format(", data-parallel over {} processes (each batch split, {} batch norm)",
                       parallel_.group->size(), parallel_.sync_bn ? "synced" : "per-process");
  }

  // The graph, and the axes continued from a resumed run's steps and epochs.
  void start_log() {
    const data::Dataset& tr = *data_.train;
    log_->set_test_data(&data_.test, data_.norm);
    log_->set_progress(optimizer_->steps(), state_.epoch);
    log_->graph_once(*model_, {tr.channels, tr.height, tr.width});
  }

  // One epoch of the training loop, then the test pass when due.
  EpochMetrics run_epoch(int64_t epoch) {
    model_->train();
    apply_epoch_freezes(cfg_, *model_, epoch);
    ProgressBar bar(fmt::format("epoch {}/{}", epoch + 1, cfg_.epochs), steps_per_epoch_,
                    opt_.quiet);
    LoopHooks hooks;
    hooks.on_step = [this, &bar](const RunningMetrics& m) {
      if (lookahead_ && Lookahead::due(optimizer_->steps())) {
        lookahead_->update(
            *model_, Lookahead::decay_at(optimizer_->steps(), steps_per_epoch_ * cfg_.epochs));
      }
      bar.update(m.steps, m.loss(), m.accuracy(), m.seen);
      if (log_) log_->step(m, optimizer_->lr());
    };
    hooks.nonfinite_message = [](const std::string& message) {
      return "train: " + message + "; stopping, the last checkpoint (if any) is left as it was";
    };
    const StepSettings settings{cfg_.label_smoothing, cfg_.bn_l1, cfg_.clip_grad_norm,
                                opt_.anomaly};
    RunningMetrics running;
    train_steps({*model_, *optimizer_, *schedule_, opt_.device, settings, hooks, parallel_},
                loader_, running);
    if (parallel_.active() && !parallel_.sync_bn) {
      average_running_statistics(*parallel_.group, *model_);
    }
    if (lookahead_ && epoch + 1 == cfg_.epochs) lookahead_->update(*model_, 1.0f);
    EpochMetrics m;
    m.epoch = epoch + 1;
    m.seconds = bar.elapsed_seconds();
    m.train_loss = running.loss();
    m.train_accuracy = running.accuracy();
    m.images_per_second = static_cast<double>(running.seen) / m.seconds;
    m.lr_end = optimizer_->lr();
    bar.finish(fmt::format("train loss {:.4f}  acc {:.2f}%  {:.1f} img/s  {}", m.train_loss,
                           100.0 * m.train_accuracy, m.images_per_second,
                           format_duration(m.seconds)));
    if (cfg_.eval_each_epoch || epoch + 1 == cfg_.epochs) {
      Storage::release_cache();  // phase change: the test pass has other block sizes
      const EvalResult er = evaluate(*model_, data_.test, data_.norm, 256, opt_.quiet, "  test",
                                     cfg_.tta_level, parallel_.group);
      Storage::release_cache();
      m.test_loss = er.loss;
      m.test_accuracy = er.accuracy;
    }
    m.rss_mb = read_memory().rss_mb;
    return m;
  }

  // What a failed save left on disk, for its error message.
  std::string previous_checkpoint_state() const {
    if (!fs::exists(opt_.out)) return "and no checkpoint exists at " + opt_.out.string();
    return "and " + opt_.out.string() + " still holds the checkpoint written before";
  }

  // The checkpoint (atomically) and the metrics file after epoch m.epoch.
  void save(const EpochMetrics& m) {
    state_.epoch = m.epoch;
    state_.optimizer_steps = optimizer_->steps();
    state_.dropout_counter = dropout_generator().counter();
    state_.history.push_back(epoch_metrics_json(m));
    const data::Dataset& tr = *data_.train;
    if (!opt_.group->is_root()) return;  // rank 0 writes for the job
    const nlohmann::json meta = trained_meta(model_config_, tr.classes, data_.norm,
                                             {tr.channels, tr.height, tr.width}, state_);
    try {
      save_trained_checkpoint(opt_.out, *model_, *optimizer_, meta);
    } catch (const std::runtime_error& e) {
      throw std::runtime_error(std::string(e.what()) + "; epoch " + std::to_string(m.epoch) +
                               " was not saved, " + previous_checkpoint_state());
    }
    if (!opt_.json.empty()) {
      const nlohmann::json metrics{{"model", cfg_.model},
                                   {"train_config", train_config_json(cfg_)},
                                   {"epochs", state_.history}};
      write_json_file(opt_.json, metrics, /*overwrite=*/true);  // checked before training started
    }
  }

  const TrainConfig& cfg_;
  const TrainOptions& opt_;
  TrainingLog* log_;  // null: no TensorBoard logging
  RunData data_;
  models::ModelConfig model_config_;
  std::shared_ptr<Module> model_;
  std::unique_ptr<optim::Optimizer> optimizer_;
  std::optional<Lookahead> lookahead_;  // with cfg.lookahead
  DataParallel parallel_;
  data::Loader loader_;
  int64_t steps_per_epoch_;
  std::unique_ptr<optim::LrSchedule> schedule_;
  TrainingState state_;
};

}  // namespace

TrainResult train(TrainConfig cfg, const TrainOptions& given) {
  const TrainOptions opt = rank_options(given);
  if (!opt.init.empty() && !opt.resume.empty()) {
    throw std::runtime_error("train: --init cannot go with --resume");
  }
  const std::optional<Resume> resume = read_resume(opt);
  const std::optional<Init> init = read_init(opt);
  if (resume) {
    cfg = resume->state.config;
  }
  if (init) {
    cfg.model = init->meta.model_name;
    cfg.width = init->meta.model_config.width;
  }
  if (!resume && !cfg.data.empty() && fs::exists(cfg.data)) {
    // The checkpoint records where its data came from; an absolute path keeps `eval` and
    // `explain` working from any directory.
    cfg.data = fs::absolute(cfg.data).lexically_normal().string();
  }
  if (opt.group->is_root()) check_outputs(opt);
  nlohmann::json recipe = train_config_json(cfg);
  recipe.erase("data");  // the path may differ between machines; the content is checked
  recipe["sync_bn"] = opt.sync_bn;
  check_same_config_on_all_ranks(*opt.group, recipe, "the training configuration");
  if (cfg.batch_size < 1 || cfg.epochs < 1) {
    throw std::runtime_error("train: batch size and epochs must be positive");
  }
  // Opened before the data is read, so that a bad --tensorboard directory stops the run at once.
  std::unique_ptr<TrainingLog> log;
  if (!opt.tensorboard.dir.empty()) log = std::make_unique<TrainingLog>(opt.tensorboard);
  TrainingRun run(cfg, opt, resume ? &*resume : nullptr, init ? &*init : nullptr, log.get());
  return run.run();
}

}  // namespace gb::training
