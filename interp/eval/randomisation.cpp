// MPRT (cascading, independent) and random logit (see randomisation.h).
// Shape letters: N images, H/W map size.
#include "interp/eval/randomisation.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <memory>
#include <set>
#include <stdexcept>

#include "interp/eval/map_similarity.h"
#include "interp/eval/param_restore.h"
#include "interp/metrics.h"
#include "runtime/autograd.h"
#include "runtime/rng.h"
#include "runtime/trace.h"

namespace gb::interp::eval {
namespace {

std::vector<float> absolute(const Tensor& t) {
  std::vector<float> v = t.to_vector();
  for (float& e : v) e = std::fabs(e);
  return v;
}

// The tensors each layer randomises, each tensor once (the first layer to reach it owns it).
struct LayerTensors {
  Module* module = nullptr;
  std::vector<std::pair<std::string, Tensor>> params;  // (name, tensor)
  std::vector<uint64_t> index;                         // draw index of each
};

std::vector<LayerTensors> layer_tensors(Module& model, const std::vector<std::string>& layers) {
  std::vector<LayerTensors> out;
  std::set<const TensorImpl*> seen;
  uint64_t next = 0;
  for (const std::string& name : layers) {
    Module* m = model.find(name);
    if (!m) throw std::invalid_argument("mprt: no module named '" + name + "'");
    LayerTensors& lt = out.emplace_back();
    lt.module = m;
    for (const auto& [pname, t] : m->named_parameters()) {
      if (!seen.insert(t.impl()).second) continue;
      const std::string& root = model.path();
      lt.params.emplace_back(root.empty() ? pname : pname.substr(root.size() + 1), t);
      lt.index.push_back(next++);
    }
  }
  return out;
}

// Re-draws one layer's tensors (saved in `restore` first); optionally resets BN statistics.
void randomise_layer(const LayerTensors& lt, const Reinitialise& init, bool reset_bn_stats,
                     ParameterRestorer& restore) {
  for (size_t i = 0; i < lt.params.size(); ++i) {
    restore.save(lt.params[i].second);
    init(lt.params[i].first, lt.params[i].second, lt.index[i]);
  }
  if (!reset_bn_stats) return;
  for (const auto& [path, m] : lt.module->named_modules()) {
    for (const auto& [bname, b] : m->named_buffers()) {
      const std::string leaf = bname.substr(bname.rfind('.') + 1);
      if (leaf != "running_mean" && leaf != "running_var") continue;
      restore.save(b);
      b.detach().fill_(leaf == "running_mean" ? 0.0f : 1.0f);
    }
  }
}

MprtStep compare_step(const std::string& layer, std::vector<Tensor> maps,
                      const std::vector<Tensor>& original) {
  if (maps.size() != original.size()) throw std::runtime_error("mprt: explain() map count changed");
  MprtStep s;
  s.layer = layer;
  for (size_t i = 0; i < maps.size(); ++i)
    s.comparisons.push_back(compare_maps(original[i], maps[i]));
  s.maps = std::move(maps);
  return s;
}

}  // namespace

MapComparison compare_maps(const Tensor& reference, const Tensor& other) {
  MapComparison c;
  c.spearman = spearman(reference, other);
  c.spearman_abs = spearman(absolute(reference), absolute(other));
  const Map2d a = normalise_abs_max(to_map2d(reference)), b = normalise_abs_max(to_map2d(other));
  c.ssim = ssim(a, b);
  const HogOptions hog;
  c.has_hog = a.height >= hog.cell * hog.block && a.width >= hog.cell * hog.block;
  if (c.has_hog) c.hog = hog_similarity(a, b, hog);
  return c;
}

std::vector<std::string> execution_order_layers(Module& model, const Tensor& x) {
  const std::vector<std::string> registered = randomization_layers(model);  // output side first
  std::map<const TensorImpl*, size_t> owner;
  for (size_t l = 0; l < registered.size(); ++l) {
    for (const auto& [n, t] : model.find(registered[l])->named_parameters()) {
      owner.emplace(t.impl(), l);  // children come before parents: the deepest module owns it
    }
  }
  OpTrace trace;
  {
    NoGradGuard no_grad;
    TraceScope scope(trace);
    model(x.to(model.device()));
  }
  std::vector<size_t> first_use;
  std::vector<bool> used(registered.size(), false);
  for (const TracedOp& op : trace.ops) {
    for (const Tensor& in : op.inputs) {
      if (!in.defined()) continue;
      const auto it = owner.find(in.impl());
      if (it == owner.end() || used[it->second]) continue;
      used[it->second] = true;
      first_use.push_back(it->second);
    }
  }
  std::vector<std::string> out;
  for (auto it = first_use.rbegin(); it != first_use.rend(); ++it) out.push_back(registered[*it]);
  for (size_t l = 0; l < registered.size(); ++l) {
    if (!used[l]) out.push_back(registered[l]);
  }
  return out;
}

std::vector<std::string> block_layers(Module& model, const std::vector<std::string>& layers) {
  std::vector<std::string> out;
  for (const std::string& l : layers) {
    const size_t first = l.find('.');
    std::string block = l;
    if (first != std::string::npos) {
      const size_t second = l.find('.', first + 1);
      block = second == std::string::npos ? l : l.substr(0, second);
    }
    if (!model.find(block)) throw std::invalid_argument("mprt: no module named '" + block + "'");
    if (std::find(out.begin(), out.end(), block) == out.end()) out.push_back(block);
  }
  return out;
}

Reinitialise spread_init(uint64_t seed) {
  return [seed](const std::string&, const Tensor& t, uint64_t i) {
    randomize_like(t, seed, kRandomizeStream + i);
  };
}

MprtReport mprt(Module& model, const ExplainAll& explain, const MprtOptions& opt) {
  const std::vector<std::string> layers =
      opt.layers.empty() ? randomization_layers(model) : opt.layers;
  const std::vector<LayerTensors> tensors = layer_tensors(model, layers);
  const Reinitialise init = opt.init ? opt.init : spread_init(opt.seed);
  MprtReport report;
  report.original = explain(model);
  ParameterRestorer restore_all;  // cascading: everything randomised so far
  for (size_t l = 0; l < layers.size(); ++l) {
    if (opt.mode == MprtMode::Cascading) {
      randomise_layer(tensors[l], init, opt.reset_bn_stats, restore_all);
      report.steps.push_back(compare_step(layers[l], explain(model), report.original));
    } else {
      ParameterRestorer restore_layer;  // back to trained before the next layer
      randomise_layer(tensors[l], init, opt.reset_bn_stats, restore_layer);
      report.steps.push_back(compare_step(layers[l], explain(model), report.original));
    }
  }
  return report;
}

RandomLogitResult random_logit(const std::function<Tensor(const Tensor&, int64_t)>& explain,
                               const Tensor& x, const Tensor& map, int64_t target, int64_t classes,
                               uint64_t seed, uint64_t stream) {
  if (classes < 2 || target < 0 || target >= classes) {
    throw std::invalid_argument("random_logit: needs >= 2 classes and a target among them");
  }
  RandomLogitResult r;
  const auto pick =
      static_cast<int64_t>(Philox(seed, stream).below(0, static_cast<uint64_t>(classes - 1)));
  r.other_class = pick >= target ? pick + 1 : pick;
  const Tensor other = explain(x, r.other_class);
  r.ssim = ssim(normalise_signed_max(to_map2d(map)), normalise_signed_max(to_map2d(other)));
  return r;
}

}  // namespace gb::interp::eval
