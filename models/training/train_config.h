// The recipe of a `glassbox train` run (model, data, optimizer, schedule, augmentation, seed), as
// the command line sets it and as a checkpoint records it for resume (checkpoint_meta.h), and
// the per-epoch figures the run reports.
#pragma once
#include <cstdint>
#include <string>

namespace gb::training {

struct TrainConfig {
  std::string model = "resnet20";
  float width = 1.0f;
  std::string data;  // empty: Fashion-MNIST from Debian's package
  int64_t epochs = 10;
  int64_t batch_size = 128;
  std::string optimizer = "sgd";  // sgd | adamw
  float lr = 0.2f;                // peak learning rate
  float momentum = 0.9f;
  bool nesterov = true;
  float weight_decay = 5e-4f;
  std::string schedule = "onecycle";  // onecycle | cosine | step | constant
  float warmup_fraction = 0.15f;
  float label_smoothing = 0.0f;
  float clip_grad_norm = 0.0f;  // 0: off
  float bn_l1 = 0.0f;           // network slimming: L1 penalty on BN scales (0: off)
  // Parameter groups (param_groups.h): batch-norm biases at this multiple of the learning rate
  // (their weight decay divided by it); batch-norm scales frozen; the whitening stem's bias
  // trained for this many epochs, its weight frozen in every run (-1: off; a fresh airbench's
  // weight is frozen by its initialisation all the same).
  float bn_bias_lr_scale = 1.0f;
  bool freeze_bn_weight = false;
  int64_t whiten_bias_epochs = -1;
  bool lookahead = false;       // airbench's lookahead weights (lookahead.h)
  bool augment = true;          // random crop (pad crop_pad) + horizontal flip
  int64_t crop_pad = 4;         // translation range of the random crop, pixels per side
  // Test-time augmentation of the test passes (evaluate.h): 0 none, 1 the mean of x's and its
  // mirror's logits, 2 that and one-pixel translates.
  int64_t tta_level = 0;
  int64_t cutout = 0;
  uint64_t seed = 0;
  int64_t limit_train = 0;  // 0: whole split
  int64_t limit_test = 0;
  bool eval_each_epoch = true;
};

struct EpochMetrics {
  int64_t epoch = 0;  // 1-based
  double train_loss = 0, train_accuracy = 0;
  double test_loss = 0, test_accuracy = -1;  // -1: not evaluated
  double seconds = 0, images_per_second = 0;
  double lr_end = 0;
  double rss_mb = 0;  // the process's resident memory after the epoch and its evaluation (MB)
};

// `glassbox train --recipe fast`: the airbench-style fast CIFAR-10 recipe (model airbench with
// its whitened stem, batch 1024, 10 epochs, one-cycle Nesterov SGD, label smoothing 0.2, flip and
// 2-pixel translate, test-time augmentation level 2: flips and one-pixel translates). The CLI
// restores the options given explicitly.
void apply_fast_recipe(TrainConfig& cfg);

}  // namespace gb::training
