// The LRP walk (lrp.h): reverse trace order, relevance keyed by the tensor it sits on, fan-outs
// summed, and the conservation ledger. Shape letters: N batch, K classes.
#include "interp/relevance/lrp.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <stdexcept>
#include <unordered_map>

#include "interp/relevance/lrp_rules.h"
#include "interp/relevance/relevance_graph.h"

namespace gb::interp::relevance {
namespace {

ParamRule rule_for(const std::string& composite, const GraphOp& op, RuleParams& p,
                   const LrpOptions& opt) {
  const bool conv = op.op != OpId::Linear;
  p.alpha = opt.alpha;
  p.beta = opt.beta;
  if (composite == "epsilon" || !conv) return ParamRule::Epsilon;
  if (composite == "gamma") return ParamRule::Gamma;
  if (composite == "alpha2beta1" || composite == "epsilon-alpha2beta1") return ParamRule::AlphaBeta;
  if (composite == "epsilon-plus") {
    p.alpha = 1.0;
    p.beta = 0.0;
    return ParamRule::AlphaBeta;
  }
  return op.first_layer ? ParamRule::ZBox : ParamRule::Gamma;  // epsilon-gamma-box
}

// alpha2beta1 puts alpha-beta on linear layers too.
ParamRule composite_rule(const LrpOptions& opt, const GraphOp& op, RuleParams& p) {
  if (opt.composite == "alpha2beta1") {
    p.alpha = opt.alpha;
    p.beta = opt.beta;
    return ParamRule::AlphaBeta;
  }
  return rule_for(opt.composite, op, p, opt);
}

// The z-box bound images: per channel (v - mean_c) / std_c for v = 0 (low) or 1 (high).
Tensor bound_image(const Tensor& x, const LrpOptions& opt, float v) {
  const int64_t C = x.size(1), per = x.numel() / (x.size(0) * C);
  const bool have =
      static_cast<int64_t>(opt.mean.size()) == C && static_cast<int64_t>(opt.std.size()) == C;
  std::vector<float> out(static_cast<size_t>(x.numel()));
  for (size_t i = 0; i < out.size(); ++i) {
    const size_t c = static_cast<size_t>((static_cast<int64_t>(i) / per) % C);
    out[i] = have ? (v - opt.mean[c]) / opt.std[c] : v;
  }
  return Tensor::from_vector(x.shape(), out);
}

// The relevance of each activation input of `op` from its output relevance.
std::vector<Tensor> op_relevance(const RelevanceGraph& g, const GraphOp& op, const Tensor& R,
                                 const LrpOptions& opt, const RuleParams& base) {
  const TracedOp& t = traced(g, op);
  switch (op.family) {
    case OpFamily::Parameter: {
      RuleParams p = base;
      const ParamRule rule = composite_rule(opt, op, p);
      if (rule == ParamRule::ZBox) {
        p.low = bound_image(t.inputs[0], opt, 0.0f);
        p.high = bound_image(t.inputs[0], opt, 1.0f);
      }
      return {parameter_relevance(t, op, R, rule, p)};
    }
    case OpFamily::Norm:
      return norm_relevance(t, op, R, base);
    case OpFamily::Map:
      return map_relevance(t, op, R);
    case OpFamily::Pass:
      if (t.inputs[op.act_inputs[0]].shape() != R.shape()) {
        throw std::invalid_argument(
            fmt::format("lrp: op '{}' in module '{}' broadcasts its activation; no pass rule",
                        t.label, t.module));
      }
      return {R};
  }
  return {};
}

Tensor accumulate(const Tensor& a, const Tensor& b) {
  std::vector<float> v = a.to_vector();
  const std::vector<float> w = b.to_vector();
  for (size_t i = 0; i < v.size(); ++i) v[i] += w[i];
  return Tensor::from_vector(a.shape(), v);
}

}  // namespace

const std::vector<std::string>& lrp_composite_names() {
  static const std::vector<std::string> names = {
      "epsilon",          "gamma", "alpha2beta1", "epsilon-plus", "epsilon-alpha2beta1",
      "epsilon-gamma-box"};
  return names;
}

void check_lrp_options(const LrpOptions& opt) {
  const auto& n = lrp_composite_names();
  if (std::find(n.begin(), n.end(), opt.composite) == n.end()) {
    std::string known;
    for (const auto& s : n) known += (known.empty() ? "" : ", ") + s;
    throw std::invalid_argument("--lrp-composite: unknown composite '" + opt.composite +
                                "' (known: " + known + ")");
  }
  if (!(opt.epsilon > 0)) throw std::invalid_argument("--lrp-epsilon must be > 0");
  if (!(opt.gamma >= 0)) throw std::invalid_argument("--lrp-gamma must be >= 0");
  if (!(opt.beta >= 0) || std::fabs(opt.alpha - opt.beta - 1.0) > 1e-9) {
    throw std::invalid_argument(fmt::format(
        "--lrp-alpha/--lrp-beta: need alpha - beta = 1 and beta >= 0, got alpha {} beta {}",
        opt.alpha, opt.beta));
  }
}

double LrpResult::max_relative_error() const {
  double m = 0;
  for (size_t n = 0; n < explained.size(); ++n) {
    m = std::max(m, std::fabs(input_sum[n] - explained[n]) / std::fabs(explained[n]));
  }
  return m;
}

double LrpResult::max_error_besides_dead() const {
  double m = 0;
  for (size_t n = 0; n < explained.size(); ++n) {
    m = std::max(m,
                 std::fabs(input_sum[n] + dead_loss[n] - explained[n]) / std::fabs(explained[n]));
  }
  return m;
}

double LrpResult::max_ledger_error() const {
  double m = 0;
  for (size_t n = 0; n < explained.size(); ++n) {
    m = std::max(m, std::fabs(input_sum[n] + leak[n] - explained[n]) / std::fabs(explained[n]));
  }
  return m;
}

LrpResult lrp(Module& model, const Tensor& x, const Target& target, const LrpOptions& opt) {
  check_lrp_options(opt);
  GraphOptions go;
  go.method = "lrp";
  const RelevanceGraph g = build_relevance_graph(model, x, go);
  LrpResult res;
  res.notes = g.notes;
  res.targets = resolve_target(target, g.output);
  const int64_t N = g.output.size(0), K = g.output.size(1);
  const std::vector<float> y = g.output.to_vector();
  std::vector<float> seed(static_cast<size_t>(N * K), 0.0f);
  for (int64_t n = 0; n < N; ++n) {
    const size_t i = static_cast<size_t>(n * K + res.targets[static_cast<size_t>(n)]);
    seed[i] = y[i];
    res.explained.push_back(y[i]);
  }
  std::unordered_map<const TensorImpl*, Tensor> R;
  R[g.output.impl()] = Tensor::from_vector({N, K}, seed);
  RuleParams base;
  base.epsilon = opt.epsilon;
  base.gamma = opt.gamma;
  base.use_bias = opt.use_bias;
  res.leak.assign(static_cast<size_t>(N), 0.0);
  res.dead_loss.assign(static_cast<size_t>(N), 0.0);
  base.dead = &res.dead_loss;
  res.dead_flat.assign(static_cast<size_t>(N), 0.0);
  base.dead_flat = opt.dead_flat;
  base.dead_moved = &res.dead_flat;
  std::map<std::pair<std::string, std::string>, double> leaks;
  for (auto it = g.ops.rbegin(); it != g.ops.rend(); ++it) {
    const GraphOp& op = *it;
    if (!op.folded_bn.empty()) ++res.folded_batch_norms;
    auto found = R.find(op.output.impl());
    if (found == R.end()) continue;
    const Tensor Rout = found->second;
    R.erase(found);
    const std::vector<Tensor> rins = op_relevance(g, op, Rout, opt, base);
    const TracedOp& t = traced(g, op);
    for (int64_t n = 0; n < N; ++n) {
      double l = sample_sum(Rout, n);
      for (const auto& r : rins) l -= sample_sum(r, n);
      res.leak[static_cast<size_t>(n)] += l;
      leaks[{op.module, t.label}] += l;
    }
    for (size_t k = 0; k < rins.size(); ++k) {
      const TensorImpl* key = t.inputs[op.act_inputs[k]].impl();
      auto slot = R.find(key);
      if (slot == R.end()) {
        R[key] = rins[k];
      } else {
        slot->second = accumulate(slot->second, rins[k]);
      }
    }
  }
  auto in = R.find(x.impl());
  res.relevance = in != R.end() ? in->second : Tensor::zeros(x.shape());
  for (const auto& [key, rest] : R) {  // relevance stranded on a tensor no op consumed
    if (key == x.impl()) continue;
    for (int64_t n = 0; n < N; ++n) {
      res.leak[static_cast<size_t>(n)] += sample_sum(rest, n);
      leaks[{"", "unreached"}] += sample_sum(rest, n);
    }
  }
  for (int64_t n = 0; n < N; ++n) res.input_sum.push_back(sample_sum(res.relevance, n));
  for (const auto& [key, amount] : leaks)
    res.largest_leaks.push_back({key.first, key.second, amount});
  std::sort(
      res.largest_leaks.begin(), res.largest_leaks.end(),
      [](const LrpLeak& a, const LrpLeak& b) { return std::fabs(a.amount) > std::fabs(b.amount); });
  if (res.largest_leaks.size() > 5) res.largest_leaks.resize(5);
  return res;
}

}  // namespace gb::interp::relevance
