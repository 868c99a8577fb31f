// Structured channel pruning on a ChannelGraph: score every tied channel with a criterion,
// choose which to keep for a MAC budget (per-group or global ranking, counts rounded to a
// multiple the kernels like), then either zero the removed channels in place (the masked
// original) or build the smaller dense model: the registry rebuilds the architecture from a
// ModelConfig whose `channels` overrides give each conv's surviving width, and the kept slices of
// every weight, bias and BN entry are copied in. Both give the same outputs in eval mode (a test).
// Shape letters: K output channels, C input channels, R/S kernel size, I linear input features.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "interp/prune/channel_graph.h"
#include "interp/prune/channel_importance.h"
#include "models/model_config.h"
#include "runtime/module.h"

namespace gb::prune {

enum class Criterion { L1, L2, BnScale, Taylor, Attribution, Random };

// "l1", "l2", "bn", "taylor", "attribution", "random".
const char* criterion_name(Criterion c);
// throws: std::invalid_argument listing the names.
Criterion parse_criterion(const std::string& name);
// True for the criteria that need calibration batches (taylor, attribution).
bool needs_calibration(Criterion c);

struct ScoreOptions {
  Criterion criterion = Criterion::L1;
  uint64_t seed = 0;  // random
  // taylor / attribution: images and labels, normalised as the model expects.
  const std::vector<interp::CalibrationBatch>* calibration = nullptr;
  bool attribution_use_labels = false;  // attribution: explain the label, not the prediction
};

// Importance of each tied channel (size g.num_ids, >= 0): the sum over the convs producing it of
//   l1 / l2:      the filter's L1 / L2 norm (weights only);
//   bn:           |gamma| of every BN entry of the channel (network slimming); a group with no BN
//                 falls back to l1;
//   taylor:       interp::ChannelScore::Taylor at the conv's measure_path (its BN output);
//   attribution:  interp::ChannelScore::GradCam there (|Grad-CAM channel term|, predicted class);
//   random:       a seeded uniform draw (Philox(seed), one per id).
// requires: g was analysed from `model`; calibration set for taylor / attribution.
std::vector<double> channel_importance(Module& model, const ChannelGraph& g,
                                       const ScoreOptions& opt);

struct SelectOptions {
  int64_t max_macs = 0;  // keep at most this many MACs per image (> 0)
  bool global = false;   // one ranking of group-normalised scores over all groups; else every
                         // prunable group keeps the same fraction of its channels
  // Kept channels per group: a multiple of this, or all of them. 0 (auto): 8 (one AVX2 vector of
  // floats, so the convolutions' channel blocks stay full) where the smallest model it allows
  // fits max_macs, else 4, 2 or 1. ResNet-20 at 0.5x MACs ran 1.73x faster than the original
  // with 8 and 1.37x with 4, which leaves the blocks part empty (measured in session 13).
  int64_t round_to = 0;
  double min_keep = 0.1;  // never keep fewer than this fraction of a group (nor < round_to)
};

struct Selection {
  std::vector<char> keep;               // per tied channel
  int64_t macs = 0;                     // plan_macs(g, keep)
  std::vector<int64_t> kept_per_group;  // per g.groups entry
  int64_t round_to = 1;                 // the rounding used (auto's choice)
};

// The channels to keep: in each group the highest-scored ones. Per-group: the largest uniform
// keep fraction whose rounded counts fit max_macs, then groups grown one round_to step at a
// time (the highest chunk mean score / group mean first) while the MACs still fit, so the
// rounding wastes no budget. Global: repeatedly drops the next round_to lowest channels of the
// group whose chunk has the lowest mean score / group mean, until the MACs fit. throws:
// std::invalid_argument when even the smallest allowed model exceeds max_macs (the message gives
// that minimum), or on bad options.
Selection select_channels(const ChannelGraph& g, const std::vector<double>& scores,
                          const SelectOptions& opt);

// Zeroes the removed channels of `model` in place: their filters and biases in every producing
// conv and their scale and shift in every BN (so they are exactly zero after BN).
void mask_channels(Module& model, const ChannelGraph& g, const std::vector<char>& keep);

struct PrunedModel {
  std::shared_ptr<Module> model;  // eval mode
  models::ModelConfig config;     // cfg with channel overrides for every conv that shrank
};

// Builds registry model `name` with `cfg` plus channel overrides and copies the kept slices of
// `model`'s parameters and buffers into it. requires: `model` was built as build_model(name, cfg)
// (possibly with earlier overrides) and g analysed from it. throws: std::invalid_argument when
// the builder rejects the overrides or rebuilds a tensor with another shape than pruning gives
// (the message names the tensor).
PrunedModel prune_model(Module& model, const std::string& name, const models::ModelConfig& cfg,
                        const ChannelGraph& g, const std::vector<char>& keep);

}  // namespace gb::prune
