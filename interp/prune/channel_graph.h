// Channel dependency analysis from the recorded autograd graph. One forward pass of a single
// image is walked (gb::walk_graph: op, producing module, inputs) and every channel of every
// tensor gets a slot; ops that keep channels (BN, ReLU, pooling, ...) pass slots on, a residual
// add unites the slots of its two inputs position by position, a channel concatenation lays its
// inputs' slots side by side, and conv2d / linear start new ones. After the walk each set of
// united slots is one *tied channel* (an id): removing it removes one filter from every conv that
// produces it, the matching BN entries and the matching input channel of every conv or linear
// that reads it. Convs whose tied channels overlap form a *group* (a ResNet stage's stem,
// conv2s and shortcut; a plain conv alone). Nothing is written per architecture: any model
// built from Conv2d / BatchNorm2d / Linear modules and the runtime's ops is analysed the same way.
// Channels that cannot be removed safely are fixed (id kFixed): the input image, the logits,
// grouped convs, and anything that reaches an op the analysis does not understand (reshape that
// mixes channels, slice, softmax, ...).
// Shape letters: N batch (1 here), C input channels, H/W image size, K output channels,
// P/Q output size, R/S kernel size, I/O linear input/output features.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "runtime/module.h"

namespace gb::prune {

constexpr int kFixed = -1;

// A Conv2d or Linear module as the graph shows it.
struct LayerInfo {
  std::string path;            // module path ("layer1.0.conv1", "fc")
  bool is_conv = true;         // Conv2d (else Linear)
  int64_t out_channels = 0;    // K (O)
  int64_t in_channels = 0;     // C (I)
  int64_t macs = 0;            // per image, as built (conv: P*Q*K*C/groups*R*S; linear: O*I)
  int64_t macs_per_pair = 0;   // per image and (kept out, kept in) pair: P*Q*R*S, 1 (linear)
  bool prunable_shape = true;  // false for grouped convs and ops run outside their module
  std::vector<int> out_ids;    // tied-channel id of each output channel, or kFixed
  std::vector<int> in_ids;     // tied-channel id of each input channel, or kFixed
  bool reads_input = false;    // its input is the network input (the first layer)
  bool is_output = false;      // it produces the network output (the last layer)
  std::string measure_path;    // module whose output carries this conv's channels after
                               // normalisation: the BN reading it, else the conv itself
};

// A BatchNorm2d module: the tied channel of each of its entries.
struct NormInfo {
  std::string path;
  std::vector<int> ids;
};

struct ChannelGroup {
  std::string name;                    // producers.front(), "+N tied" when there are more
  std::vector<std::string> producers;  // convs whose output channels are this group's channels
  std::vector<int> ids;                // its tied channels, in the first producer's order
  bool prunable = true;
  std::string reason;  // why not, when !prunable
};

struct ChannelGraph {
  Shape input_shape;                 // [C,H,W]
  std::vector<LayerInfo> layers;     // conv and linear layers in execution order
  std::vector<NormInfo> norms;       // BN layers in execution order
  std::vector<ChannelGroup> groups;  // groups with at least one tied channel
  int num_ids = 0;                   // tied channels are 0 .. num_ids-1
  std::vector<int> group_of;         // group index of each tied channel
  int64_t macs = 0;                  // conv + linear MACs per image

  // The layer at module path `path`, or nullptr.
  const LayerInfo* layer(const std::string& path) const;
};

struct AnalyzeOptions {
  bool protect_first = true;  // groups produced by a layer that reads the input stay whole
  bool protect_last = true;   // groups read by the layer that produces the output stay whole
};

// Analyses `model` on one image of shape chw = [C,H,W] (zeros, eval mode, mode restored).
// requires: grad mode on and the model's parameters require grad (so the graph is recorded).
// throws: std::invalid_argument on a bad shape or when no graph was recorded.
ChannelGraph analyze_channels(Module& model, const Shape& chw, const AnalyzeOptions& opt = {});

// MACs per image of the model pruned to `keep` (one flag per tied channel; fixed channels are
// always kept). requires: keep.size() == g.num_ids.
int64_t plan_macs(const ChannelGraph& g, const std::vector<char>& keep);

// Conv2d, transposed conv and linear multiply-accumulates per image of shape chw, from one
// recorded forward: total and per module path (summed over calls).
struct MacCount {
  int64_t total = 0;
  std::map<std::string, int64_t> per_module;
};
MacCount count_macs(Module& model, const Shape& chw);

}  // namespace gb::prune
