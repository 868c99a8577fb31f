// Criteria, channel selection for a MAC budget, masking and the physical rebuild (see
// structured.h). Shape letters: K output channels, C input channels, R/S kernel size.
#include "interp/prune/structured.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <map>
#include <numeric>
#include <stdexcept>

#include "models/registry.h"
#include "runtime/layers.h"
#include "runtime/rng.h"

namespace gb::prune {
namespace {

Tensor module_tensor(Module& model, const std::string& path, const std::string& local) {
  Module* m = model.find(path);
  Tensor t = m != nullptr ? m->local_tensor(local) : Tensor();
  if (!t.defined()) {
    throw std::invalid_argument("prune: the model has no tensor '" + path + "." + local +
                                "' (was the channel graph analysed from another model?)");
  }
  return t;
}

// Per output channel norm of a conv weight [K, C, R, S]: L1 or L2.
std::vector<double> filter_norms(const Tensor& w, bool l2) {
  const std::vector<float> v = w.to_vector();
  const int64_t K = w.size(0);
  const int64_t per = w.numel() / std::max<int64_t>(K, 1);
  std::vector<double> out(static_cast<size_t>(K), 0.0);
  for (int64_t k = 0; k < K; ++k) {
    double s = 0;
    for (int64_t i = 0; i < per; ++i) {
      const double x = v[static_cast<size_t>(k * per + i)];
      s += l2 ? x * x : std::abs(x);
    }
    out[static_cast<size_t>(k)] = l2 ? std::sqrt(s) : s;
  }
  return out;
}

std::vector<double> norm_scores(Module& model, const ChannelGraph& g, bool l2) {
  std::vector<double> s(static_cast<size_t>(g.num_ids), 0.0);
  for (const auto& L : g.layers) {
    if (!L.is_conv || !L.prunable_shape) continue;
    const auto n = filter_norms(module_tensor(model, L.path, "weight"), l2);
    for (size_t k = 0; k < L.out_ids.size(); ++k) {
      if (L.out_ids[k] != kFixed) s[static_cast<size_t>(L.out_ids[k])] += n[k];
    }
  }
  return s;
}

std::vector<int64_t> kept_indices(const std::vector<int>& ids, const std::vector<char>& keep) {
  std::vector<int64_t> out;
  for (size_t i = 0; i < ids.size(); ++i) {
    if (ids[i] == kFixed || keep[static_cast<size_t>(ids[i])])
      out.push_back(static_cast<int64_t>(i));
  }
  return out;
}

// Copies src[sel[0][i0], sel[1][i1], ...] (an empty sel[d] keeps all of dim d) into a new
// contiguous F32 tensor.
Tensor gather(const Tensor& src, const std::vector<std::vector<int64_t>>& sel) {
  const std::vector<float> v = src.to_vector();
  const Shape& in = src.shape();
  const size_t D = in.size();
  std::vector<std::vector<int64_t>> idx(D);
  Shape out_shape(D);
  for (size_t d = 0; d < D; ++d) {
    if (sel[d].empty()) {
      idx[d].resize(static_cast<size_t>(in[d]));
      std::iota(idx[d].begin(), idx[d].end(), 0);
    } else {
      idx[d] = sel[d];
    }
    out_shape[d] = static_cast<int64_t>(idx[d].size());
  }
  const Shape strides = contiguous_strides(in);
  std::vector<float> out(static_cast<size_t>(shape_numel(out_shape)));
  std::vector<size_t> pos(D, 0);
  for (size_t o = 0; o < out.size(); ++o) {
    int64_t off = 0;
    for (size_t d = 0; d < D; ++d) off += idx[d][pos[d]] * strides[d];
    out[o] = v[static_cast<size_t>(off)];
    for (size_t d = D; d-- > 0;) {  // odometer, last dimension fastest
      if (++pos[d] < idx[d].size()) break;
      pos[d] = 0;
    }
  }
  return Tensor::from_vector(out_shape, out);
}

struct GroupPlan {
  std::vector<int> order;        // ids, lowest score first (ties: lower id first)
  std::vector<int64_t> allowed;  // allowed kept counts, ascending, the last is all
  double mean = 0;               // mean score of the group
};

std::vector<char> keep_from_counts(const ChannelGraph& g, const std::vector<GroupPlan>& plans,
                                   const std::vector<int64_t>& counts) {
  std::vector<char> keep(static_cast<size_t>(g.num_ids), 1);
  for (size_t i = 0; i < plans.size(); ++i) {
    const auto& order = plans[i].order;
    const auto drop = static_cast<int64_t>(order.size()) - counts[i];
    for (int64_t j = 0; j < drop; ++j) keep[static_cast<size_t>(order[static_cast<size_t>(j)])] = 0;
  }
  return keep;
}

}  // namespace

const char* criterion_name(Criterion c) {
  switch (c) {
    case Criterion::L1:
      return "l1";
    case Criterion::L2:
      return "l2";
    case Criterion::BnScale:
      return "bn";
    case Criterion::Taylor:
      return "taylor";
    case Criterion::Attribution:
      return "attribution";
    case Criterion::Random:
      return "random";
  }
  return "?";
}

Criterion parse_criterion(const std::string& name) {
  for (Criterion c : {Criterion::L1, Criterion::L2, Criterion::BnScale, Criterion::Taylor,
                      Criterion::Attribution, Criterion::Random}) {
    if (name == criterion_name(c)) return c;
  }
  throw std::invalid_argument("unknown pruning criterion '" + name +
                              "'; known: l1, l2, bn, taylor, attribution, random");
}

bool needs_calibration(Criterion c) {
  return c == Criterion::Taylor || c == Criterion::Attribution;
}

std::vector<double> channel_importance(Module& model, const ChannelGraph& g,
                                       const ScoreOptions& opt) {
  switch (opt.criterion) {
    case Criterion::L1:
      return norm_scores(model, g, false);
    case Criterion::L2:
      return norm_scores(model, g, true);
    case Criterion::Random: {
      Philox rng(opt.seed, 0);
      std::vector<double> s(static_cast<size_t>(g.num_ids));
      for (size_t i = 0; i < s.size(); ++i) s[i] = rng.uniform(i);
      return s;
    }
    case Criterion::BnScale: {
      std::vector<double> s(static_cast<size_t>(g.num_ids), 0.0);
      std::vector<char> has_bn(g.groups.size(), 0);
      for (const auto& N : g.norms) {
        const std::vector<float> gamma = module_tensor(model, N.path, "weight").to_vector();
        for (size_t c = 0; c < N.ids.size(); ++c) {
          const int t = N.ids[c];
          if (t == kFixed) continue;
          s[static_cast<size_t>(t)] += std::abs(static_cast<double>(gamma[c]));
          has_bn[static_cast<size_t>(g.group_of[static_cast<size_t>(t)])] = 1;
        }
      }
      const std::vector<double> l1 = norm_scores(model, g, false);
      for (size_t t = 0; t < s.size(); ++t) {
        if (!has_bn[static_cast<size_t>(g.group_of[t])]) s[t] = l1[t];
      }
      return s;
    }
    case Criterion::Taylor:
    case Criterion::Attribution: {
      if (opt.calibration == nullptr || opt.calibration->empty()) {
        throw std::invalid_argument(std::string("prune: criterion '") +
                                    criterion_name(opt.criterion) + "' needs calibration images");
      }
      std::vector<std::string> paths;
      for (const auto& L : g.layers) {
        bool any = false;
        for (int t : L.out_ids) any = any || t != kFixed;
        if (any && std::find(paths.begin(), paths.end(), L.measure_path) == paths.end()) {
          paths.push_back(L.measure_path);
        }
      }
      interp::ChannelScoreOptions so;
      so.score = opt.criterion == Criterion::Taylor ? interp::ChannelScore::Taylor
                                                    : interp::ChannelScore::GradCam;
      so.gradcam_use_labels = opt.attribution_use_labels;
      const auto scores = interp::channel_scores(model, paths, *opt.calibration, so);
      std::vector<double> s(static_cast<size_t>(g.num_ids), 0.0);
      for (const auto& L : g.layers) {
        auto it = scores.find(L.measure_path);
        if (it == scores.end()) continue;
        if (it->second.size() != L.out_ids.size()) {
          throw std::invalid_argument("prune: layer '" + L.measure_path + "' has " +
                                      std::to_string(it->second.size()) + " channels but " +
                                      L.path + " produces " + std::to_string(L.out_ids.size()));
        }
        for (size_t k = 0; k < L.out_ids.size(); ++k) {
          if (L.out_ids[k] != kFixed) s[static_cast<size_t>(L.out_ids[k])] += it->second[k];
        }
      }
      return s;
    }
  }
  return {};
}

namespace {

using MacsOf = std::function<int64_t(const std::vector<int64_t>&)>;

// Mean score of the channels a group gains going from `from` to `to` kept channels, relative to
// the group's mean (the kept ones are the last entries of its ascending order).
double chunk_value(const GroupPlan& plan, const std::vector<double>& scores, int64_t n,
                   int64_t from, int64_t to) {
  double sum = 0;
  for (int64_t j = n - to; j < n - from; ++j) {
    sum += scores[static_cast<size_t>(plan.order[static_cast<size_t>(j)])];
  }
  const double mean_chunk = sum / static_cast<double>(to - from);
  return plan.mean > 0 ? mean_chunk / plan.mean : 0.0;
}

// Per group: the largest uniform keep fraction whose counts (each the allowed count nearest
// its share, ties to the larger) fit max_macs.
std::vector<int64_t> uniform_counts(const std::vector<GroupPlan>& plans,
                                    const std::vector<int64_t>& full, const MacsOf& macs_of,
                                    int64_t max_macs) {
  const auto at = [&](double f) {
    std::vector<int64_t> c(plans.size());
    for (size_t i = 0; i < plans.size(); ++i) {
      const double want = f * static_cast<double>(full[i]);
      int64_t best = plans[i].allowed.front();
      for (int64_t a : plans[i].allowed) {
        if (std::abs(static_cast<double>(a) - want) <= std::abs(static_cast<double>(best) - want))
          best = a;
      }
      c[i] = best;
    }
    return c;
  };
  double lo = 0.0, hi = 1.0;
  for (int it = 0; it < 60; ++it) {
    const double mid = 0.5 * (lo + hi);
    (macs_of(at(mid)) <= max_macs ? lo : hi) = mid;
  }
  return at(lo);
}

// The rounding of a uniform fraction leaves MACs unused (with 8-channel steps, 0.464 of
// ResNet-20's MACs for a 0.5 target): grow groups one allowed step at a time, the step whose
// added channels score highest relative to their group first, while the model fits max_macs.
void use_remaining_budget(const std::vector<GroupPlan>& plans, const std::vector<int64_t>& full,
                          const std::vector<double>& scores, const MacsOf& macs_of,
                          int64_t max_macs, std::vector<int64_t>& counts) {
  for (;;) {
    int best = -1;
    double best_value = 0;
    int64_t best_next = 0;
    for (size_t i = 0; i < plans.size(); ++i) {
      const auto& allowed = plans[i].allowed;
      const auto it = std::upper_bound(allowed.begin(), allowed.end(), counts[i]);
      if (it == allowed.end()) continue;
      std::vector<int64_t> grown = counts;
      grown[i] = *it;
      if (macs_of(grown) > max_macs) continue;
      const double value = chunk_value(plans[i], scores, full[i], counts[i], *it);
      if (best < 0 || value > best_value) {
        best = static_cast<int>(i);
        best_value = value;
        best_next = *it;
      }
    }
    if (best < 0) return;
    counts[static_cast<size_t>(best)] = best_next;
  }
}

// Global: repeatedly drops the next allowed step of the group whose dropped chunk scores
// lowest relative to its group, until the MACs fit.
std::vector<int64_t> global_counts(const std::vector<GroupPlan>& plans,
                                   const std::vector<int64_t>& full,
                                   const std::vector<double>& scores, const MacsOf& macs_of,
                                   int64_t max_macs) {
  std::vector<int64_t> counts = full;
  std::vector<size_t> pos(plans.size());  // index of the current count in `allowed`
  for (size_t i = 0; i < plans.size(); ++i) pos[i] = plans[i].allowed.size() - 1;
  while (macs_of(counts) > max_macs) {
    double best_cost = 0;
    int best = -1;
    for (size_t i = 0; i < plans.size(); ++i) {
      if (pos[i] == 0) continue;
      const int64_t next = plans[i].allowed[pos[i] - 1];
      const double cost = chunk_value(plans[i], scores, full[i], next, counts[i]);
      if (best < 0 || cost < best_cost) {
        best = static_cast<int>(i);
        best_cost = cost;
      }
    }
    if (best < 0) break;  // cannot happen: the smallest model fits
    const auto b = static_cast<size_t>(best);
    counts[b] = plans[b].allowed[--pos[b]];
  }
  return counts;
}

// Each group's order (ascending score), allowed counts (multiples of round_to from the
// min_keep floor, and all) and mean score.
std::vector<GroupPlan> group_plans(const ChannelGraph& g, const std::vector<double>& scores,
                                   const SelectOptions& opt, int64_t r) {
  std::vector<GroupPlan> plans(g.groups.size());
  for (size_t i = 0; i < g.groups.size(); ++i) {
    const ChannelGroup& G = g.groups[i];
    GroupPlan& P = plans[i];
    P.order = G.ids;
    std::stable_sort(P.order.begin(), P.order.end(), [&](int a, int b) {
      return scores[static_cast<size_t>(a)] < scores[static_cast<size_t>(b)];
    });
    const auto n = static_cast<int64_t>(G.ids.size());
    for (int t : G.ids) P.mean += scores[static_cast<size_t>(t)];
    P.mean /= static_cast<double>(std::max<int64_t>(n, 1));
    if (G.prunable) {
      const auto lo = std::max<int64_t>(
          r, static_cast<int64_t>(std::ceil(opt.min_keep * static_cast<double>(n) - 1e-9)));
      for (int64_t k = r; k < n; k += r) {
        if (k >= lo) P.allowed.push_back(k);
      }
    }
    P.allowed.push_back(n);
  }
  return plans;
}

}  // namespace

Selection select_channels(const ChannelGraph& g, const std::vector<double>& scores,
                          const SelectOptions& opt) {
  if (static_cast<int>(scores.size()) != g.num_ids) {
    throw std::invalid_argument("select_channels: " + std::to_string(scores.size()) +
                                " scores for " + std::to_string(g.num_ids) + " tied channels");
  }
  if (opt.max_macs <= 0) throw std::invalid_argument("select_channels: max_macs must be > 0");
  if (!(opt.min_keep >= 0.0 && opt.min_keep <= 1.0)) {
    throw std::invalid_argument("select_channels: min_keep must be in [0,1]");
  }
  if (opt.round_to < 0) throw std::invalid_argument("--round-to must be >= 0 (0: auto)");
  std::vector<GroupPlan> plans;
  std::vector<int64_t> full, least;
  const MacsOf macs_of = [&](const std::vector<int64_t>& counts) {
    return plan_macs(g, keep_from_counts(g, plans, counts));
  };
  int64_t min_macs = 0, round_to = 1;
  for (int64_t r :
       opt.round_to > 0 ? std::vector<int64_t>{opt.round_to} : std::vector<int64_t>{8, 4, 2, 1}) {
    round_to = r;
    plans = group_plans(g, scores, opt, r);
    full.assign(plans.size(), 0);
    least.assign(plans.size(), 0);
    for (size_t i = 0; i < plans.size(); ++i) {
      full[i] = plans[i].allowed.back();
      least[i] = plans[i].allowed.front();
    }
    min_macs = macs_of(least);
    if (min_macs <= opt.max_macs) break;
  }
  if (min_macs > opt.max_macs) {
    throw std::invalid_argument(
        "prune: cannot reach " + std::to_string(opt.max_macs) +
        " MACs; the smallest model the options allow has " + std::to_string(min_macs) + " (" +
        std::to_string(static_cast<double>(min_macs) / static_cast<double>(g.macs)) +
        " of the original): lower --min-keep or --round-to, or unprotect the first/last layers");
  }
  std::vector<int64_t> counts = full;
  if (macs_of(full) > opt.max_macs) {
    if (opt.global) {
      counts = global_counts(plans, full, scores, macs_of, opt.max_macs);
    } else {
      counts = uniform_counts(plans, full, macs_of, opt.max_macs);
      if (macs_of(counts) > opt.max_macs) counts = least;
      use_remaining_budget(plans, full, scores, macs_of, opt.max_macs, counts);
    }
  }
  Selection sel;
  sel.keep = keep_from_counts(g, plans, counts);
  sel.macs = plan_macs(g, sel.keep);
  sel.kept_per_group = counts;
  sel.round_to = round_to;
  return sel;
}

void mask_channels(Module& model, const ChannelGraph& g, const std::vector<char>& keep) {
  if (static_cast<int>(keep.size()) != g.num_ids) {
    throw std::invalid_argument("mask_channels: keep has the wrong size");
  }
  const auto removed = [&](int t) { return t != kFixed && !keep[static_cast<size_t>(t)]; };
  for (const auto& L : g.layers) {
    if (!L.is_conv || !L.prunable_shape) continue;
    Tensor w = module_tensor(model, L.path, "weight");
    Tensor b = model.find(L.path)->local_tensor("bias");
    std::vector<float> wv = w.to_vector();
    std::vector<float> bv = b.defined() ? b.to_vector() : std::vector<float>{};
    const int64_t per = w.numel() / L.out_channels;
    for (size_t k = 0; k < L.out_ids.size(); ++k) {
      if (!removed(L.out_ids[k])) continue;
      std::fill_n(wv.begin() + static_cast<int64_t>(k) * per, per, 0.0f);
      if (!bv.empty()) bv[k] = 0.0f;
    }
    w.copy_(Tensor::from_vector(w.shape(), wv));
    if (b.defined()) b.copy_(Tensor::from_vector(b.shape(), bv));
  }
  for (const auto& N : g.norms) {
    for (const char* local : {"weight", "bias"}) {
      Tensor t = module_tensor(model, N.path, local);
      std::vector<float> v = t.to_vector();
      for (size_t c = 0; c < N.ids.size(); ++c) {
        if (removed(N.ids[c])) v[c] = 0.0f;
      }
      t.copy_(Tensor::from_vector(t.shape(), v));
    }
  }
}

PrunedModel prune_model(Module& model, const std::string& name, const models::ModelConfig& cfg,
                        const ChannelGraph& g, const std::vector<char>& keep) {
  if (static_cast<int>(keep.size()) != g.num_ids) {
    throw std::invalid_argument("prune_model: keep has the wrong size");
  }
  PrunedModel out;
  out.config = cfg;
  std::map<std::string, const LayerInfo*> layers;
  std::map<std::string, const NormInfo*> norms;
  for (const auto& L : g.layers) {
    if (L.path.empty()) continue;
    layers[L.path] = &L;
    if (L.is_conv && L.prunable_shape) {
      const auto k = static_cast<int64_t>(kept_indices(L.out_ids, keep).size());
      if (k != L.out_channels) out.config.channels[L.path] = k;
    }
  }
  for (const auto& N : g.norms) norms[N.path] = &N;
  try {
    out.model = models::build_model(name, out.config);
  } catch (const std::invalid_argument& e) {
    throw std::invalid_argument("prune: model '" + name +
                                "' cannot be rebuilt with the pruned channels: " + e.what());
  }
  std::map<std::string, Tensor> old;
  for (const auto& [n, t] : model.named_parameters()) old[n] = t;
  for (const auto& [n, t] : model.named_buffers()) old[n] = t;
  auto fresh = out.model->named_parameters();
  for (const auto& nb : out.model->named_buffers()) fresh.push_back(nb);
  for (auto& [tname, t] : fresh) {
    auto it = old.find(tname);
    if (it == old.end()) {
      throw std::invalid_argument("prune: the rebuilt model '" + name + "' has a tensor '" + tname +
                                  "' that the original does not");
    }
    const Tensor& src = it->second;
    const auto dot = tname.rfind('.');
    const std::string path = dot == std::string::npos ? "" : tname.substr(0, dot);
    const std::string local = dot == std::string::npos ? tname : tname.substr(dot + 1);
    std::vector<std::vector<int64_t>> sel(static_cast<size_t>(src.dim()));
    if (auto lt = layers.find(path); lt != layers.end()) {
      const LayerInfo& L = *lt->second;
      if (local == "weight" && src.dim() >= 2) {
        if (L.is_conv) sel[0] = kept_indices(L.out_ids, keep);
        sel[1] = kept_indices(L.in_ids, keep);
      } else if (local == "bias" && L.is_conv && src.dim() == 1) {
        sel[0] = kept_indices(L.out_ids, keep);
      }
    } else if (auto nt = norms.find(path); nt != norms.end() && src.dim() == 1) {
      sel[0] = kept_indices(nt->second->ids, keep);
    }
    Shape want = src.shape();
    bool sliced = false;
    for (size_t d = 0; d < sel.size(); ++d) {
      if (!sel[d].empty() && static_cast<int64_t>(sel[d].size()) != want[d]) {
        want[d] = static_cast<int64_t>(sel[d].size());
        sliced = true;
      }
    }
    if (want != t.shape()) {
      throw std::invalid_argument("prune: model '" + name + "' was rebuilt with " + tname + " of " +
                                  shape_str(t.shape()) + " but pruning keeps " + shape_str(want) +
                                  " (does its builder honour the channel overrides?)");
    }
    t.copy_(sliced ? gather(src, sel) : src);
  }
  out.model->eval();
  return out;
}

}  // namespace gb::prune
