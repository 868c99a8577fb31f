// Channel slots over the recorded graph, united with a union-find; tied channels, groups,
// protection of the first and last layers, and MAC counts.
// Shape letters: N batch, C channels, K output channels, P/Q output size, R/S kernel size.
#include "interp/prune/channel_graph.h"

#include <algorithm>
#include <numeric>
#include <set>
#include <stdexcept>
#include <unordered_map>

#include "runtime/autograd.h"
#include "runtime/layers.h"

namespace gb::prune {
namespace {

class UnionFind {
 public:
  int make() {
    parent_.push_back(static_cast<int>(parent_.size()));
    return parent_.back();
  }
  int find(int a) {
    while (parent_[static_cast<size_t>(a)] != a) {
      parent_[static_cast<size_t>(a)] =
          parent_[static_cast<size_t>(parent_[static_cast<size_t>(a)])];
      a = parent_[static_cast<size_t>(a)];
    }
    return a;
  }
  void unite(int a, int b) {
    a = find(a);
    b = find(b);
    if (a != b) parent_[static_cast<size_t>(std::max(a, b))] = std::min(a, b);
  }
  size_t size() const { return parent_.size(); }

 private:
  std::vector<int> parent_;
};

using Slots = std::vector<int>;

// Ops whose output channel c is a function of input channel c only. Every op is named (no
// default), so a new op of the table is a compiler warning here until someone decides.
bool channelwise(std::optional<OpId> op) {
  if (!op) return false;
  switch (*op) {
    case OpId::Relu:
    case OpId::Gelu:
    case OpId::Clamp:
    case OpId::LeakyRelu:
    case OpId::Sigmoid:
    case OpId::Tanh:
    case OpId::HardSigmoid:
    case OpId::HardSwish:
    case OpId::Dropout:
    case OpId::MaxPool2d:
    case OpId::AvgPool2d:
    case OpId::GlobalAvgPool:
    case OpId::Copy:
    case OpId::Cast:
    case OpId::Scale:
    case OpId::BilinearResize:
    case OpId::Pad2d:
      return true;
    case OpId::PRelu:   // channelwise, but its per-channel slope is a parameter pruning keeps whole
    case OpId::Conv2d:  // layers, norms, residual adds, views, concat: visited on their own
    case OpId::Conv2dFused:
    case OpId::Linear:
    case OpId::MatMul:     // mixes rows and columns; transformer layers are not pruned
    case OpId::LayerNorm:  // normalises over the last dimension (all channels of a token)
    case OpId::BatchNorm2d:
    case OpId::BatchNormAct:
    case OpId::Add:
    case OpId::Sub:
    case OpId::Mul:
    case OpId::Div:
    case OpId::Concat:
    case OpId::Reshape:
    case OpId::Permute:
    case OpId::Slice:
    case OpId::ConvTranspose2d:  // mixes channels; its weight is not pruned
    case OpId::Softmax:          // mixes channels (over the last dimension)
    case OpId::LogSoftmax:
    case OpId::CrossEntropy:
    case OpId::Sum:
    case OpId::Mean:
    case OpId::SgdUpdate:  // not graph ops
    case OpId::AdamWUpdate:
    case OpId::ClipGradNorm:
    case OpId::Count:
      return false;
  }
  return false;
}

bool elementwise_binary(std::optional<OpId> op) {
  return op == OpId::Add || op == OpId::Sub || op == OpId::Mul || op == OpId::Div;
}

// Conv and linear layers as analysed, with their slots before ids are assigned.
struct RawLayer {
  LayerInfo info;
  Slots out, in;
};
struct RawNorm {
  std::string path;
  Slots slots;
};

class Analyzer {
 public:
  explicit Analyzer(Module& model) : model_(model) {}

  void run(const Tensor& root) {
    const auto nodes = walk_graph(root);
    for (const auto& n : nodes) {
      if (!n->is_accumulator()) visit(*n);
    }
    // The output's channels (logits) are never removed.
    auto it = slots_.find(root.grad_fn().get());
    if (it != slots_.end()) fix(it->second);
    mark_output_layer(root.grad_fn().get());
  }

  ChannelGraph finish(const AnalyzeOptions& opt);

 private:
  Slots fresh(int64_t n, bool fixed) {
    Slots s(static_cast<size_t>(n));
    for (auto& v : s) {
      v = uf_.make();
      if (fixed) fixed_.push_back(v);
    }
    return s;
  }
  void fix(const Slots& s) { fixed_.insert(fixed_.end(), s.begin(), s.end()); }
  static int64_t channels_of(const Shape& s) { return s.size() >= 2 ? s[1] : 0; }

  bool is_data(const Node& n, size_t i) const {
    return i < n.next.size() && n.next[i] && !n.next[i]->is_accumulator();
  }
  // Slots of input i: its producer's, or new fixed ones for the network input, a constant or a
  // parameter used directly.
  Slots input(const Node& n, size_t i) {
    if (is_data(n, i)) {
      auto it = slots_.find(n.next[i].get());
      if (it != slots_.end()) return it->second;
    }
    const int64_t c = i < n.input_shapes.size() ? channels_of(n.input_shapes[i]) : 0;
    return fresh(c, true);
  }
  void set_out(const Node& n, Slots s) { slots_[&n] = std::move(s); }
  void opaque(const Node& n) {  // an op the analysis does not look through
    for (size_t i = 0; i < n.next.size(); ++i) {
      if (is_data(n, i)) fix(input(n, i));
    }
    set_out(n, fresh(channels_of(n.output_shape), true));
  }

  // The parameter tensor feeding input i of a node (via its accumulator), if any.
  static TensorImpl* param_of(const Node& n, size_t i) {
    return i < n.next.size() && n.next[i] && n.next[i]->is_accumulator() ? n.next[i]->leaf.get()
                                                                         : nullptr;
  }

  void visit(const Node& n);
  void visit_layer(const Node& n, bool conv);
  void visit_norm(const Node& n);
  void mark_output_layer(const Node* root);

  Module& model_;
  UnionFind uf_;
  std::vector<int> fixed_;
  std::unordered_map<const Node*, Slots> slots_;
  std::vector<RawLayer> layers_;
  std::map<std::string, size_t> layer_index_;
  std::unordered_map<const Node*, size_t> layer_node_;
  std::vector<RawNorm> norms_;
  std::map<std::string, size_t> norm_index_;
};

void Analyzer::visit_layer(const Node& n, bool conv) {
  const Shape& xs = n.input_shapes.at(0);
  const Shape& ws = n.input_shapes.at(1);
  Slots x = input(n, 0);
  Module* m = model_.find(n.module);
  bool owned = false;
  int64_t groups = 1;
  if (conv) {
    auto* c = dynamic_cast<nn::Conv2d*>(m);
    owned = c != nullptr && !n.module.empty() && param_of(n, 1) == c->local_tensor("weight").impl();
    if (c != nullptr) groups = c->groups;
  } else {
    auto* l = dynamic_cast<nn::Linear*>(m);
    owned = l != nullptr && !n.module.empty() && param_of(n, 1) == l->local_tensor("weight").impl();
  }
  const int64_t K = ws[0];
  const int64_t C = conv ? xs[1] : ws[1];
  const int64_t pairs = conv ? n.output_shape[2] * n.output_shape[3] * ws[2] * ws[3] : 1;
  const int64_t macs = shape_numel(n.output_shape) / std::max<int64_t>(n.output_shape[0], 1) *
                       (conv ? ws[1] * ws[2] * ws[3] : ws[1]);
  const bool shape_ok = owned && groups == 1 && static_cast<int64_t>(x.size()) == C;
  const std::string key = owned ? n.module : "#node" + std::to_string(layers_.size());
  auto it = layer_index_.find(key);
  if (it != layer_index_.end()) {  // the same module run again: same filters, same channels
    RawLayer& L = layers_[it->second];
    L.info.macs += macs;
    L.info.macs_per_pair += pairs;
    if (x.size() == L.in.size()) {
      for (size_t i = 0; i < x.size(); ++i) uf_.unite(x[i], L.in[i]);
    } else {
      fix(x);
      fix(L.in);
    }
    layer_node_[&n] = it->second;
    set_out(n, L.out);
    return;
  }
  RawLayer L;
  L.info.path = owned ? n.module : "";
  L.info.is_conv = conv;
  L.info.out_channels = K;
  L.info.in_channels = C;
  L.info.macs = macs;
  L.info.macs_per_pair = pairs;
  L.info.prunable_shape = shape_ok;
  L.info.reads_input = !is_data(n, 0);
  L.info.measure_path = L.info.path;
  // Linear outputs (logits, hidden features) are not pruned: only convs start prunable slots.
  L.out = fresh(K, !(conv && shape_ok));
  if (!shape_ok) fix(x);
  L.in = x;
  layer_index_[key] = layers_.size();
  layer_node_[&n] = layers_.size();
  set_out(n, L.out);
  layers_.push_back(std::move(L));
}

void Analyzer::visit_norm(const Node& n) {
  Slots x = input(n, 0);
  auto* bn = dynamic_cast<nn::BatchNorm2d*>(model_.find(n.module));
  const bool owned = bn != nullptr && !n.module.empty() &&
                     param_of(n, 1) == bn->local_tensor("weight").impl() &&
                     static_cast<int64_t>(x.size()) == bn->channels;
  set_out(n, x);
  if (!owned) {
    fix(x);
    return;
  }
  auto it = norm_index_.find(n.module);
  if (it != norm_index_.end()) {
    for (size_t i = 0; i < x.size(); ++i) uf_.unite(x[i], norms_[it->second].slots[i]);
  } else {
    norm_index_[n.module] = norms_.size();
    norms_.push_back({n.module, x});
  }
  // The BN that reads a conv's output directly is where that conv's channels are measured.
  if (is_data(n, 0)) {
    auto lt = layer_node_.find(n.next[0].get());
    if (lt != layer_node_.end()) {
      LayerInfo& info = layers_[lt->second].info;
      if (info.measure_path == info.path) info.measure_path = n.module;
    }
  }
}

void Analyzer::visit(const Node& n) {
  const std::optional<OpId> op = n.op;
  if (op == OpId::Conv2d) return visit_layer(n, true);
  if (op == OpId::Linear) return visit_layer(n, false);
  if (op == OpId::BatchNorm2d) return visit_norm(n);
  if (op == OpId::BatchNormAct) {  // training-mode fusion: act(bn(x) + residual)
    visit_norm(n);
    if (n.input_shapes.size() > 3 && is_data(n, 3) && n.input_shapes[3] == n.input_shapes[0]) {
      Slots x = input(n, 0), res = input(n, 3);
      for (size_t i = 0; i < x.size(); ++i) uf_.unite(x[i], res[i]);
    }
    return;
  }
  const Shape& out = n.output_shape;
  if (channelwise(op)) {
    const Shape& in = n.input_shapes.at(0);
    if (in.size() >= 2 && out.size() >= 2 && in[1] == out[1]) return set_out(n, input(n, 0));
    return opaque(n);
  }
  if (op == OpId::Reshape) {  // only a reshape that keeps dims 0 and 1 (e.g. [N,K,1,1] -> [N,K])
    const Shape& in = n.input_shapes.at(0);
    if (in.size() >= 2 && out.size() >= 2 && in[0] == out[0] && in[1] == out[1]) {
      return set_out(n, input(n, 0));
    }
    return opaque(n);
  }
  if (elementwise_binary(op) && n.input_shapes.size() == 2) {
    const Shape &a = n.input_shapes[0], &b = n.input_shapes[1];
    const bool da = is_data(n, 0), db = is_data(n, 1);
    if (da && db && a == b && a.size() >= 2) {  // residual add: channel c ties to channel c
      Slots sa = input(n, 0), sb = input(n, 1);
      for (size_t i = 0; i < sa.size(); ++i) uf_.unite(sa[i], sb[i]);
      return set_out(n, sa);
    }
    // One data input and a constant that is the same for every channel (a scalar, or size 1
    // along the channel dimension after right-aligned broadcasting).
    for (size_t d = 0; d < 2; ++d) {
      const Shape& ds = n.input_shapes[d];
      const Shape& cs = n.input_shapes[1 - d];
      if (!is_data(n, d) || is_data(n, 1 - d) || ds != out || ds.size() < 2 ||
          cs.size() > ds.size()) {
        continue;
      }
      const auto idx = static_cast<int64_t>(cs.size()) - static_cast<int64_t>(ds.size()) + 1;
      if (idx < 0 || cs[static_cast<size_t>(idx)] == 1) return set_out(n, input(n, d));
    }
    return opaque(n);
  }
  if (op == OpId::Concat && !n.input_shapes.empty() && out.size() >= 2) {
    int64_t sum_c = 0, sum_n = 0;
    bool same_rank = true;
    for (const auto& s : n.input_shapes) {
      same_rank = same_rank && s.size() == out.size();
      if (same_rank) {
        sum_c += s[1];
        sum_n += s[0];
      }
    }
    if (same_rank && sum_c == out[1] && n.input_shapes[0][0] == out[0]) {  // along channels
      Slots s;
      for (size_t i = 0; i < n.input_shapes.size(); ++i) {
        Slots si = input(n, i);
        s.insert(s.end(), si.begin(), si.end());
      }
      return set_out(n, s);
    }
    if (same_rank && sum_n == out[0] && n.input_shapes[0][1] == out[1]) {  // along the batch
      Slots s0 = input(n, 0);
      for (size_t i = 1; i < n.input_shapes.size(); ++i) {
        Slots si = input(n, i);
        for (size_t j = 0; j < s0.size(); ++j) uf_.unite(s0[j], si[j]);
      }
      return set_out(n, s0);
    }
  }
  opaque(n);
}

void Analyzer::mark_output_layer(const Node* root) {
  // Follow single-input channel-preserving ops back from the output to the layer producing it.
  const Node* n = root;
  while (n != nullptr) {
    auto it = layer_node_.find(n);
    if (it != layer_node_.end()) {
      layers_[it->second].info.is_output = true;
      return;
    }
    if (!(channelwise(n->op) || n->op == OpId::Reshape || n->op == OpId::BatchNorm2d ||
          n->op == OpId::BatchNormAct) ||
        !is_data(*n, 0)) {
      return;
    }
    n = n->next[0].get();
  }
}

ChannelGraph Analyzer::finish(const AnalyzeOptions& opt) {
  ChannelGraph g;
  std::vector<char> root_fixed(uf_.size(), 0);
  for (int s : fixed_) root_fixed[static_cast<size_t>(uf_.find(s))] = 1;
  std::map<int, int> id_of_root;
  const auto id = [&](int slot) {
    const int r = uf_.find(slot);
    if (root_fixed[static_cast<size_t>(r)]) return kFixed;
    auto [it, inserted] = id_of_root.emplace(r, static_cast<int>(id_of_root.size()));
    return it->second;
  };
  for (auto& L : layers_) {
    for (int s : L.out) L.info.out_ids.push_back(id(s));
    for (int s : L.in) L.info.in_ids.push_back(id(s));
    g.macs += L.info.macs;
    g.layers.push_back(L.info);
  }
  for (auto& N : norms_) {
    NormInfo ni{N.path, {}};
    for (int s : N.slots) ni.ids.push_back(id(s));
    g.norms.push_back(ni);
  }
  g.num_ids = static_cast<int>(id_of_root.size());

  // Groups: producers that share a tied channel, united.
  UnionFind lg;
  for (size_t i = 0; i < g.layers.size(); ++i) lg.make();
  std::vector<int> first_producer(static_cast<size_t>(g.num_ids), -1);
  for (size_t i = 0; i < g.layers.size(); ++i) {
    for (int t : g.layers[i].out_ids) {
      if (t == kFixed) continue;
      int& fp = first_producer[static_cast<size_t>(t)];
      if (fp < 0) {
        fp = static_cast<int>(i);
      } else {
        lg.unite(fp, static_cast<int>(i));
      }
    }
  }
  std::map<int, size_t> group_of_root;
  g.group_of.assign(static_cast<size_t>(g.num_ids), -1);
  for (size_t i = 0; i < g.layers.size(); ++i) {
    const auto& L = g.layers[i];
    bool has = false;
    for (int t : L.out_ids) has = has || t != kFixed;
    if (!has) continue;
    const int r = lg.find(static_cast<int>(i));
    auto [it, inserted] = group_of_root.emplace(r, g.groups.size());
    if (inserted) g.groups.push_back({});
    ChannelGroup& G = g.groups[it->second];
    G.producers.push_back(L.path);
    for (int t : L.out_ids) {
      if (t != kFixed && g.group_of[static_cast<size_t>(t)] < 0) {
        g.group_of[static_cast<size_t>(t)] = static_cast<int>(it->second);
        G.ids.push_back(t);
      }
    }
  }
  for (auto& G : g.groups) {
    G.name = G.producers.front();
    if (G.producers.size() > 1) G.name += " +" + std::to_string(G.producers.size() - 1) + " tied";
  }
  // Protection of the first and last layers.
  for (const auto& L : g.layers) {
    if (opt.protect_first && L.reads_input) {
      for (int t : L.out_ids) {
        if (t == kFixed) continue;
        auto& G = g.groups[static_cast<size_t>(g.group_of[static_cast<size_t>(t)])];
        if (G.prunable) G.reason = "first layer " + L.path + " (reads the input)";
        G.prunable = false;
      }
    }
    if (opt.protect_last && L.is_output) {
      for (int t : L.in_ids) {
        if (t == kFixed) continue;
        auto& G = g.groups[static_cast<size_t>(g.group_of[static_cast<size_t>(t)])];
        if (G.prunable) G.reason = "feeds the last layer " + L.path;
        G.prunable = false;
      }
    }
  }
  return g;
}

}  // namespace

const LayerInfo* ChannelGraph::layer(const std::string& path) const {
  for (const auto& L : layers) {
    if (L.path == path) return &L;
  }
  return nullptr;
}

ChannelGraph analyze_channels(Module& model, const Shape& chw, const AnalyzeOptions& opt) {
  if (chw.size() != 3 || chw[0] < 1 || chw[1] < 1 || chw[2] < 1) {
    throw std::invalid_argument("analyze_channels: input shape must be [C,H,W], got " +
                                shape_str(chw));
  }
  if (!grad_mode_enabled()) {
    throw std::invalid_argument(
        "analyze_channels: needs the autograd graph; called under a "
        "NoGradGuard");
  }
  EvalModeScope eval(model);
  Tensor y = model(Tensor::zeros({1, chw[0], chw[1], chw[2]}));
  if (!y.grad_fn()) {
    throw std::invalid_argument(
        "analyze_channels: no graph was recorded (do the model's "
        "parameters require grad?)");
  }
  Analyzer a(model);
  a.run(y);
  ChannelGraph g = a.finish(opt);
  g.input_shape = chw;
  return g;
}

int64_t plan_macs(const ChannelGraph& g, const std::vector<char>& keep) {
  if (static_cast<int>(keep.size()) != g.num_ids) {
    throw std::invalid_argument("plan_macs: " + std::to_string(keep.size()) + " keep flags for " +
                                std::to_string(g.num_ids) + " tied channels");
  }
  const auto kept = [&](const std::vector<int>& ids) {
    int64_t k = 0;
    for (int t : ids) k += (t == kFixed || keep[static_cast<size_t>(t)]) ? 1 : 0;
    return k;
  };
  int64_t total = 0;
  for (const auto& L : g.layers) {
    total += L.prunable_shape ? L.macs_per_pair * kept(L.out_ids) * kept(L.in_ids) : L.macs;
  }
  return total;
}

MacCount count_macs(Module& model, const Shape& chw) {
  if (chw.size() != 3) {
    throw std::invalid_argument("count_macs: input shape must be [C,H,W], got " + shape_str(chw));
  }
  if (!grad_mode_enabled()) {
    throw std::invalid_argument("count_macs: needs the autograd graph; called under a NoGradGuard");
  }
  EvalModeScope eval(model);
  Tensor y = model(Tensor::zeros({1, chw[0], chw[1], chw[2]}));
  MacCount mc;
  if (!y.grad_fn()) return mc;
  for (const auto& n : walk_graph(y)) {
    int64_t m = 0;
    if (n->op == OpId::Conv2d && n->input_shapes.size() >= 2) {
      const Shape& w = n->input_shapes[1];  // [K, C/groups, R, S]
      m = shape_numel(n->output_shape) * w[1] * w[2] * w[3];
    } else if (n->op == OpId::ConvTranspose2d && n->input_shapes.size() >= 2) {
      const Shape& w = n->input_shapes[1];  // [C, K/groups, R, S]: each input reaches K/G*R*S
      m = shape_numel(n->input_shapes[0]) * w[1] * w[2] * w[3];
    } else if (n->op == OpId::Linear && n->input_shapes.size() >= 2) {
      m = shape_numel(n->output_shape) * n->input_shapes[1][1];
    }
    if (m == 0) continue;
    mc.total += m;
    mc.per_module[n->module] += m;
  }
  return mc;
}

}  // namespace gb::prune
