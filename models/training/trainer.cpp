// The training loop, evaluation, checkpoint metadata and resume.
#include "models/training/trainer.h"

#include <fmt/format.h>
#include <unistd.h>

#include <cmath>
#include <cstring>
#include <fstream>
#include <stdexcept>

#include "data/loader.h"
#include "models/airbench.h"
#include "models/registry.h"
#include "models/training/finetune.h"
#include "models/training/progress.h"
#include "runtime/autograd.h"
#include "runtime/checkpoint.h"
#include "runtime/device_copy.h"
#include "runtime/ops.h"
#include "runtime/optim.h"
#include "runtime/output_path.h"
#include "runtime/rng.h"

namespace gb::training {
namespace {
using nlohmann::json;
constexpr const char* kFormat = "glassbox-checkpoint/1";

json config_to_json(const TrainConfig& c) {
  return json{{"model", c.model},
              {"width", c.width},
              {"data", c.data},
              {"epochs", c.epochs},
              {"batch_size", c.batch_size},
              {"optimizer", c.optimizer},
              {"lr", c.lr},
              {"momentum", c.momentum},
              {"nesterov", c.nesterov},
              {"weight_decay", c.weight_decay},
              {"schedule", c.schedule},
              {"warmup_fraction", c.warmup_fraction},
              {"label_smoothing", c.label_smoothing},
              {"clip_grad_norm", c.clip_grad_norm},
              {"bn_l1", c.bn_l1},
              {"augment", c.augment},
              {"crop_pad", c.crop_pad},
              {"tta", c.tta},
              {"cutout", c.cutout},
              {"seed", c.seed},
              {"limit_train", c.limit_train},
              {"limit_test", c.limit_test},
              {"eval_each_epoch", c.eval_each_epoch}};
}

TrainConfig config_from_json(const json& j) {
  TrainConfig c;
  c.model = j.at("model").get<std::string>();
  c.width = j.at("width").get<float>();
  c.data = j.at("data").get<std::string>();
  c.epochs = j.at("epochs").get<int64_t>();
  c.batch_size = j.at("batch_size").get<int64_t>();
  c.optimizer = j.at("optimizer").get<std::string>();
  c.lr = j.at("lr").get<float>();
  c.momentum = j.at("momentum").get<float>();
  c.nesterov = j.at("nesterov").get<bool>();
  c.weight_decay = j.at("weight_decay").get<float>();
  c.schedule = j.at("schedule").get<std::string>();
  c.warmup_fraction = j.at("warmup_fraction").get<float>();
  c.label_smoothing = j.at("label_smoothing").get<float>();
  c.clip_grad_norm = j.at("clip_grad_norm").get<float>();
  c.bn_l1 = j.value("bn_l1", 0.0f);  // absent in checkpoints written before it existed
  c.augment = j.at("augment").get<bool>();
  c.crop_pad = j.value("crop_pad", int64_t{4});  // absent before the fast recipe existed
  c.tta = j.value("tta", false);
  c.cutout = j.at("cutout").get<int64_t>();
  c.seed = j.at("seed").get<uint64_t>();
  c.limit_train = j.at("limit_train").get<int64_t>();
  c.limit_test = j.at("limit_test").get<int64_t>();
  c.eval_each_epoch = j.at("eval_each_epoch").get<bool>();
  return c;
}

json metrics_to_json(const EpochMetrics& m) {
  json j{{"epoch", m.epoch},
         {"train_loss", m.train_loss},
         {"train_accuracy", m.train_accuracy},
         {"seconds", m.seconds},
         {"images_per_second", m.images_per_second},
         {"lr_end", m.lr_end}};
  if (m.test_accuracy >= 0) {
    j["test_loss"] = m.test_loss;
    j["test_accuracy"] = m.test_accuracy;
  }
  return j;
}

std::unique_ptr<optim::LrSchedule> make_schedule(const TrainConfig& c, int64_t total_steps) {
  if (c.schedule == "onecycle") {
    return std::make_unique<optim::OneCycleSchedule>(c.lr, total_steps, c.warmup_fraction);
  }
  if (c.schedule == "cosine") {
    return std::make_unique<optim::CosineSchedule>(
        c.lr, total_steps,
        static_cast<int64_t>(c.warmup_fraction * static_cast<float>(total_steps)));
  }
  if (c.schedule == "step") {
    return std::make_unique<optim::StepSchedule>(c.lr, std::max<int64_t>(total_steps / 3, 1), 0.1f);
  }
  if (c.schedule == "constant") return std::make_unique<optim::ConstantSchedule>(c.lr);
  throw std::runtime_error("unknown schedule '" + c.schedule +
                           "'; known: onecycle, cosine, step, constant");
}

std::unique_ptr<optim::Optimizer> make_optimizer(const TrainConfig& c, Module& model) {
  if (c.optimizer == "sgd") {
    optim::SgdOptions o;
    o.lr = c.lr;
    o.momentum = c.momentum;
    o.nesterov = c.nesterov && c.momentum > 0;
    o.weight_decay = c.weight_decay;
    return std::make_unique<optim::SGD>(model.named_parameters(), o);
  }
  if (c.optimizer == "adamw") {
    optim::AdamWOptions o;
    o.lr = c.lr;
    o.weight_decay = c.weight_decay;
    return std::make_unique<optim::AdamW>(model.named_parameters(), o);
  }
  throw std::runtime_error("unknown optimizer '" + c.optimizer + "'; known: sgd, adamw");
}

// The batch's images as [N,C,H,W] on `device`, mirrored left-right when `mirror` is set.
Tensor batch_images(const data::Batch& b, Device device, bool mirror = false) {
  const Shape shape{static_cast<int64_t>(b.size()), b.channels, b.height, b.width};
  if (!mirror && device.type != DeviceType::CPU) {  // straight to the GPU, pinned staging
    Tensor x = Tensor::empty(shape, DType::F32, device);
    copy_to_device_staged(x.f32(), b.images.data(), b.images.size() * sizeof(float));
    return x;
  }
  Tensor x = Tensor::empty(shape);
  if (!mirror) {
    std::memcpy(x.f32(), b.images.data(), b.images.size() * sizeof(float));
  } else {
    const int64_t W = b.width, rows = static_cast<int64_t>(b.images.size()) / W;
    float* dst = x.f32();
    for (int64_t r = 0; r < rows; ++r) {
      for (int64_t c = 0; c < W; ++c)
        dst[r * W + c] = b.images[static_cast<size_t>(r * W + W - 1 - c)];
    }
  }
  return x.to(device);
}

// Number of correct argmax predictions in logits [N,K].
int64_t count_correct(const Tensor& logits, const std::vector<int64_t>& labels,
                      std::vector<int64_t>* predictions = nullptr) {
  const int64_t N = logits.size(0), K = logits.size(1);
  const Tensor host = logits.to(Device{});
  const float* p = host.f32();
  int64_t correct = 0;
  for (int64_t i = 0; i < N; ++i) {
    int64_t best = 0;
    for (int64_t k = 1; k < K; ++k) {
      if (p[i * K + k] > p[i * K + best]) best = k;
    }
    if (best == labels[static_cast<size_t>(i)]) ++correct;
    if (predictions) predictions->push_back(best);
  }
  return correct;
}

json norm_to_json(const data::Normalization& n) { return json{{"mean", n.mean}, {"std", n.std}}; }

models::ModelConfig model_config_for(const TrainConfig& c, const data::Dataset& ds) {
  models::ModelConfig mc;
  mc.num_classes = static_cast<int64_t>(ds.num_classes());
  mc.in_channels = ds.channels;
  mc.image_size = ds.height;
  mc.width = c.width;
  return mc;
}

}  // namespace

data::Dataset load_split(const std::string& path, data::Split split, int64_t limit) {
  data::LoadOptions lo;
  lo.limit = static_cast<size_t>(std::max<int64_t>(limit, 0));
  lo.balanced = limit > 0;
  if (path.empty()) return data::load_fashion_mnist(split, lo);
  return data::load_dataset(path, split, lo);
}

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

LoadedModel load_model(const std::filesystem::path& checkpoint) {
  SafetensorsFile file = read_checkpoint(checkpoint);
  auto it = file.metadata.find("glassbox");
  if (it == file.metadata.end()) {
    throw std::runtime_error(checkpoint.string() +
                             ": not a glassbox checkpoint (no 'glassbox' metadata)");
  }
  LoadedModel lm;
  try {
    lm.meta = json::parse(it->second);
    if (lm.meta.at("format").get<std::string>() != kFormat) {
      throw std::runtime_error("unsupported format " + lm.meta.at("format").get<std::string>());
    }
    lm.model_name = lm.meta.at("model").get<std::string>();
    models::ModelConfig mc = lm.meta.at("model_config").get<models::ModelConfig>();
    lm.classes = lm.meta.at("classes").get<std::vector<std::string>>();
    lm.norm.mean = lm.meta.at("normalization").at("mean").get<std::vector<float>>();
    lm.norm.std = lm.meta.at("normalization").at("std").get<std::vector<float>>();
    lm.model = models::build_model(lm.model_name, mc);
  } catch (const json::exception& e) {
    throw std::runtime_error(checkpoint.string() + ": bad glassbox metadata: " + e.what());
  } catch (const std::invalid_argument& e) {
    throw std::runtime_error(checkpoint.string() + ": " + e.what());
  }
  load_model_state(file, *lm.model, checkpoint);
  lm.model->eval();
  return lm;
}

void apply_fast_recipe(TrainConfig& c) {
  c.model = "airbench";
  c.epochs = 10;
  c.batch_size = 1024;
  c.optimizer = "sgd";
  c.lr = 1.5f;  // measured on an H100: 88.8% at 1.5 / 5e-4, 87.8% at 1.0 / 5e-5
  c.momentum = 0.85f;
  c.nesterov = true;
  c.weight_decay = 5e-4f;
  c.schedule = "onecycle";
  c.warmup_fraction = 0.2f;
  c.label_smoothing = 0.2f;
  c.augment = true;
  c.crop_pad = 2;
  c.tta = true;
}

TrainResult train(TrainConfig cfg, const TrainOptions& opt) {
  // Resume: the configuration comes from the checkpoint, so the run continues exactly.
  int64_t start_epoch = 0;
  SafetensorsFile resume_file;
  json resume_meta;
  int64_t resume_steps = 0;
  uint64_t resume_dropout = 0;
  if (!opt.resume.empty()) {
    resume_file = read_checkpoint(opt.resume);
    auto it = resume_file.metadata.find("glassbox");
    if (it == resume_file.metadata.end()) {
      throw std::runtime_error(opt.resume.string() + ": not a glassbox checkpoint");
    }
    try {
      resume_meta = json::parse(it->second);
      cfg = config_from_json(resume_meta.at("train_config"));
      start_epoch = resume_meta.at("epoch").get<int64_t>();
      resume_steps = resume_meta.at("optimizer_steps").get<int64_t>();
      resume_dropout = resume_meta.at("dropout_counter").get<uint64_t>();
    } catch (const json::exception& e) {
      throw std::runtime_error(opt.resume.string() + ": bad glassbox metadata: " + e.what());
    }
    if (opt.epochs_override > 0) cfg.epochs = opt.epochs_override;
    if (start_epoch >= cfg.epochs) {
      throw std::runtime_error(opt.resume.string() + ": already trained for " +
                               std::to_string(start_epoch) + " of " + std::to_string(cfg.epochs) +
                               " epochs; pass --epochs to train longer");
    }
  }
  // The checkpoint records where its data came from; an absolute path keeps `eval` and
  // `explain` working from any directory.
  if (opt.resume.empty() && !cfg.data.empty() && std::filesystem::exists(cfg.data)) {
    cfg.data = std::filesystem::absolute(cfg.data).lexically_normal().string();
  }
  if (opt.out.empty()) throw std::runtime_error("train: no output checkpoint path given");
  const bool out_is_resume = !opt.resume.empty() && std::filesystem::exists(opt.out) &&
                             std::filesystem::equivalent(opt.out, opt.resume);
  if (!out_is_resume) refuse_existing(opt.out, opt.overwrite);
  require_parent_directory(opt.out);
  if (!opt.json.empty()) {
    for (const auto& other : {opt.out, opt.resume}) {
      if (!other.empty() && std::filesystem::exists(other) && std::filesystem::exists(opt.json) &&
          std::filesystem::equivalent(other, opt.json)) {
        throw std::runtime_error(opt.json.string() + ": --json must not name the checkpoint");
      }
    }
    if (opt.json == opt.out || opt.json == opt.resume) {
      throw std::runtime_error(opt.json.string() + ": --json must not name the checkpoint");
    }
    refuse_existing(opt.json, opt.overwrite || !opt.resume.empty());
  }
  if (cfg.batch_size < 1 || cfg.epochs < 1) {
    throw std::runtime_error("train: batch size and epochs must be positive");
  }

  auto train_ds = std::make_shared<const data::Dataset>(
      load_split(cfg.data, data::Split::kTrain, cfg.limit_train));
  const data::Dataset test_ds = load_split(cfg.data, data::Split::kTest, cfg.limit_test);
  if (train_ds->height != train_ds->width) {
    throw std::runtime_error(train_ds->source + ": images must be square, got " +
                             std::to_string(train_ds->height) + "x" +
                             std::to_string(train_ds->width));
  }
  if (test_ds.channels != train_ds->channels || test_ds.height != train_ds->height ||
      test_ds.width != train_ds->width) {
    throw std::runtime_error(test_ds.source + ": test images differ in size from training images");
  }
  // A resumed run keeps the normalisation it started with.
  data::Normalization norm = data::channel_stats(*train_ds);
  if (!opt.resume.empty()) {
    try {
      norm.mean = resume_meta.at("normalization").at("mean").get<std::vector<float>>();
      norm.std = resume_meta.at("normalization").at("std").get<std::vector<float>>();
    } catch (const json::exception& e) {
      throw std::runtime_error(opt.resume.string() + ": bad glassbox metadata: " + e.what());
    }
  }
  const models::ModelConfig mc = model_config_for(cfg, *train_ds);

  manual_seed(cfg.seed);
  std::shared_ptr<Module> model = models::build_model(cfg.model, mc);
  if (cfg.model == "airbench" && opt.resume.empty()) {
    models::init_patch_whitening(*model, *train_ds, norm);  // the frozen whitened stem
  }
  model->to(opt.device);  // before the optimizer, whose state lives beside the parameters
  if (cfg.bn_l1 > 0 && opt.device.type != DeviceType::CPU) {
    throw std::runtime_error("train: --bn-l1 runs on the CPU only");
  }
  auto optimizer = make_optimizer(cfg, *model);

  data::LoaderConfig lc;
  lc.batch_size = static_cast<size_t>(cfg.batch_size);
  lc.shuffle = true;
  lc.seed = cfg.seed;
  lc.start_epoch = static_cast<uint64_t>(start_epoch);
  lc.norm = norm;
  if (cfg.augment) {
    lc.augment.crop_pad = static_cast<int>(cfg.crop_pad);
    lc.augment.flip = true;
  }
  lc.augment.cutout = static_cast<int>(cfg.cutout);
  data::Loader loader(train_ds, lc);
  const int64_t steps_per_epoch = static_cast<int64_t>(loader.batches_per_epoch());
  auto schedule = make_schedule(cfg, steps_per_epoch * cfg.epochs);

  if (!opt.resume.empty()) {
    load_model_state(resume_file, *model, opt.resume);
    optimizer->load_state(optimizer_state(resume_file), resume_steps);
    dropout_generator().set_counter(resume_dropout);
  }

  TrainResult result;
  result.model = model;
  json history = json::array();
  if (!opt.resume.empty() && resume_meta.contains("history")) history = resume_meta["history"];
  if (!opt.quiet) {
    fmt::print(
        "training {} ({} parameters) on {} ({} train / {} test images, {}x{}x{}), "
        "{} epochs of {} steps, batch {}, seed {}, device {}\n",
        cfg.model, model->parameter_count(), train_ds->source, train_ds->size(), test_ds.size(),
        train_ds->channels, train_ds->height, train_ds->width, cfg.epochs, steps_per_epoch,
        cfg.batch_size, cfg.seed, describe_device(opt.device));
  }

  for (int64_t epoch = start_epoch; epoch < cfg.epochs; ++epoch) {
    model->train();
    ProgressBar bar(fmt::format("epoch {}/{}", epoch + 1, cfg.epochs), steps_per_epoch, opt.quiet);
    double loss_sum = 0;
    int64_t correct = 0, seen = 0, step = 0;
    while (auto b = loader.next()) {
      optimizer->set_lr(schedule->lr(optimizer->steps()));
      Tensor x = batch_images(*b, opt.device);
      Tensor logits = (*model)(x);
      Tensor loss = ops::cross_entropy(logits, Tensor::from_labels(b->labels).to(opt.device),
                                       cfg.label_smoothing);
      const float lv = loss.item();
      if (!std::isfinite(lv)) {
        throw std::runtime_error(fmt::format(
            "train: loss became {} at epoch {} step {} (learning rate {:.4g}); stopping, the last "
            "checkpoint (if any) is left as it was",
            lv, epoch + 1, step + 1, optimizer->lr()));
      }
      optimizer->zero_grad();
      loss.backward();
      if (cfg.bn_l1 > 0) add_bn_l1_subgradient(*model, cfg.bn_l1);
      if (cfg.clip_grad_norm > 0) optim::clip_grad_norm(optimizer->params(), cfg.clip_grad_norm);
      optimizer->step();
      loss_sum += static_cast<double>(lv) * static_cast<double>(b->size());
      correct += count_correct(logits, b->labels);
      seen += static_cast<int64_t>(b->size());
      bar.update(++step, loss_sum / static_cast<double>(seen),
                 static_cast<double>(correct) / static_cast<double>(seen), seen);
    }
    EpochMetrics m;
    m.epoch = epoch + 1;
    m.seconds = bar.elapsed_seconds();
    m.train_loss = loss_sum / static_cast<double>(seen);
    m.train_accuracy = static_cast<double>(correct) / static_cast<double>(seen);
    m.images_per_second = static_cast<double>(seen) / m.seconds;
    m.lr_end = optimizer->lr();
    bar.finish(fmt::format("train loss {:.4f}  acc {:.2f}%  {:.1f} img/s  {}", m.train_loss,
                           100.0 * m.train_accuracy, m.images_per_second,
                           format_duration(m.seconds)));
    if (cfg.eval_each_epoch || epoch + 1 == cfg.epochs) {
      EvalResult er = evaluate(*model, test_ds, norm, 256, opt.quiet, "  test", cfg.tta);
      m.test_loss = er.loss;
      m.test_accuracy = er.accuracy;
    }
    result.epochs.push_back(m);
    history.push_back(metrics_to_json(m));

    json meta{{"format", kFormat},
              {"model", cfg.model},
              {"model_config", mc},
              {"classes", train_ds->classes},
              {"normalization", norm_to_json(norm)},
              {"input_shape", {train_ds->channels, train_ds->height, train_ds->width}},
              {"epoch", epoch + 1},
              {"seed", cfg.seed},
              {"train_config", config_to_json(cfg)},
              {"optimizer_steps", optimizer->steps()},
              {"dropout_counter", dropout_generator().counter()},
              {"history", history}};
    save_checkpoint(opt.out, *model, optimizer.get(), {{"glassbox", meta.dump()}});
    if (!opt.json.empty()) {
      write_json_file(
          opt.json,
          json{{"model", cfg.model}, {"train_config", config_to_json(cfg)}, {"epochs", history}},
          /*overwrite=*/true);  // checked before training started
    }
    if (opt.stop_after_epoch > 0 && epoch + 1 >= opt.stop_after_epoch) break;
  }
  return result;
}

}  // namespace gb::training
