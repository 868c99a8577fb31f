// LRP rules (lrp_rules.h). Every rule: replay the op with modified inputs/weights (z), divide the
// output relevance by the stabilised z, backpropagate that through the modified op (c), multiply
// by the modified input. The backward of conv/linear w.r.t. its input does not read the input,
// so c is the op's transposed product with the seed. Shape letters: N batch, K output channels.
#include "interp/relevance/lrp_rules.h"

#include <algorithm>
#include <functional>
#include <utility>

#include "interp/relevance/replay.h"
#include "runtime/autograd.h"

namespace gb::interp::relevance {
namespace {

Tensor map1(const Tensor& a, const std::function<float(float)>& f) {
  std::vector<float> v = a.to_vector();
  for (float& e : v) e = f(e);
  return Tensor::from_vector(a.shape(), v);
}

Tensor positive(const Tensor& a) {
  return map1(a, [](float e) { return std::max(e, 0.0f); });
}
Tensor negative(const Tensor& a) {
  return map1(a, [](float e) { return std::min(e, 0.0f); });
}

// sum_k coef_k * t_k (all of t_0's shape), in double per element.
Tensor combine(const std::vector<std::pair<double, Tensor>>& terms) {
  const Tensor& first = terms.at(0).second;
  std::vector<double> acc(static_cast<size_t>(first.numel()), 0.0);
  for (const auto& [coef, t] : terms) {
    const std::vector<float> v = t.to_vector();
    for (size_t i = 0; i < acc.size(); ++i) acc[i] += coef * static_cast<double>(v[i]);
  }
  return Tensor::from_vector(first.shape(), std::vector<float>(acc.begin(), acc.end()));
}

Tensor product(const Tensor& a, const Tensor& b) {
  std::vector<float> v = a.to_vector();
  const std::vector<float> w = b.to_vector();
  for (size_t i = 0; i < v.size(); ++i) v[i] *= w[i];
  return Tensor::from_vector(a.shape(), v);
}

// R / (z + eps * sign(z)), sign(0) = +1 (Zennit's stabilize; Captum's eps rule likewise); where
// `mask` is given, 0 outside it. Relevance over an exact zero z is added to p.dead per sample.
Tensor stabilised_ratio(const Tensor& R, const Tensor& z, const RuleParams& p,
                        const std::vector<bool>* mask = nullptr, double dead_coef = 1.0) {
  std::vector<float> r = R.to_vector();
  const std::vector<float> zv = z.to_vector();
  const size_t per = r.size() / static_cast<size_t>(R.size(0));
  for (size_t i = 0; i < r.size(); ++i) {
    if (mask && !(*mask)[i]) {
      r[i] = 0.0f;
      continue;
    }
    if (zv[i] == 0.0f) {
      if (p.dead) (*p.dead)[i / per] += dead_coef * r[i];
      if (p.dead_map) (*p.dead_map)[i] += static_cast<float>(dead_coef * r[i]);
    }
    const double d = zv[i] + (zv[i] >= 0.0f ? p.epsilon : -p.epsilon);
    r[i] = static_cast<float>(r[i] / d);
  }
  return Tensor::from_vector(R.shape(), r);
}

// z + b broadcast over the output's channel (conv: dim 1, linear: the last dim).
Tensor add_bias(const Tensor& z, const Tensor& b, OpId op) {
  std::vector<float> v = z.to_vector();
  const std::vector<float> bv = b.to_vector();
  const int64_t K = static_cast<int64_t>(bv.size());
  const int64_t inner = op == OpId::Linear ? 1 : static_cast<int64_t>(v.size()) / (z.size(0) * K);
  for (size_t i = 0; i < v.size(); ++i) v[i] += bv[static_cast<size_t>((int64_t(i) / inner) % K)];
  return Tensor::from_vector(z.shape(), v);
}

Tensor forward_z(const TracedOp& t, const Tensor& x, const Tensor& w) {
  NoGradGuard ng;
  return replay(t, {x, w, Tensor()}).clone();
}

Tensor backward_c(const TracedOp& t, const Tensor& x, const Tensor& w, const Tensor& s) {
  return vjp(t, {x, w, Tensor()}, s, {0}).at(0);
}

Tensor gamma_weight(const Tensor& w, double g, bool positive_part) {
  return map1(w, [=](float e) {
    const float part = positive_part ? std::max(e, 0.0f) : std::min(e, 0.0f);
    return static_cast<float>(e + g * part);
  });
}

struct Term {
  Tensor x, w;  // modified input and weight
};

// A denominator sum_k replay(x_k; w_k) (+ bias), stabilised, the ratio R / z (masked), and
// sum_k x_k * vjp(x_k; w_k, ratio).
Tensor branch(const TracedOp& t, const GraphOp& op, const std::vector<Term>& terms,
              const Tensor& bias, const Tensor& R, const RuleParams& p,
              const std::vector<bool>* mask, double dead_coef = 1.0) {
  std::vector<std::pair<double, Tensor>> zs;
  for (const auto& term : terms) zs.emplace_back(1.0, forward_z(t, term.x, term.w));
  Tensor z = combine(zs);
  if (bias.defined()) z = add_bias(z, bias, op.op);
  const Tensor s = stabilised_ratio(R, z, p, mask, dead_coef);
  std::vector<std::pair<double, Tensor>> rs;
  for (const auto& term : terms)
    rs.emplace_back(1.0, product(term.x, backward_c(t, term.x, term.w, s)));
  return combine(rs);
}

Tensor gamma_rule(const TracedOp& t, const GraphOp& op, const Tensor& a, const Tensor& R,
                  const RuleParams& p, const Tensor& bias) {
  Tensor z = forward_z(t, a, op.weight);
  if (bias.defined()) z = add_bias(z, bias, op.op);
  const std::vector<float> zv = z.to_vector();
  std::vector<bool> pos(zv.size()), neg(zv.size());
  for (size_t i = 0; i < zv.size(); ++i) {
    pos[i] = zv[i] >= 0.0f;
    neg[i] = !pos[i];
  }
  const Tensor wp = gamma_weight(op.weight, p.gamma, true);
  const Tensor wn = gamma_weight(op.weight, p.gamma, false);
  const Tensor ap = positive(a), an = negative(a);
  const Tensor bp = bias.defined() ? gamma_weight(bias, p.gamma, true) : Tensor();
  const Tensor bn = bias.defined() ? gamma_weight(bias, p.gamma, false) : Tensor();
  const Tensor rp = branch(t, op, {{ap, wp}, {an, wn}}, bp, R, p, &pos);
  const Tensor rn = branch(t, op, {{ap, wn}, {an, wp}}, bn, R, p, &neg);
  return combine({{1.0, rp}, {1.0, rn}});
}

Tensor alpha_beta_rule(const TracedOp& t, const GraphOp& op, const Tensor& a, const Tensor& R,
                       const RuleParams& p, const Tensor& bias) {
  const Tensor ap = positive(a), an = negative(a);
  const Tensor wp = positive(op.weight), wn = negative(op.weight);
  const Tensor bp = bias.defined() ? positive(bias) : Tensor();
  const Tensor bn = bias.defined() ? negative(bias) : Tensor();
  const Tensor rp = branch(t, op, {{ap, wp}, {an, wn}}, bp, R, p, nullptr, p.alpha);
  if (p.beta == 0.0) return combine({{p.alpha, rp}});
  const Tensor rn = branch(t, op, {{ap, wn}, {an, wp}}, bn, R, p, nullptr, -p.beta);
  return combine({{p.alpha, rp}, {-p.beta, rn}});
}

Tensor zbox_rule(const TracedOp& t, const GraphOp& op, const Tensor& a, const Tensor& R,
                 const RuleParams& p) {
  const Tensor wp = positive(op.weight), wn = negative(op.weight);
  const Tensor z = combine({{1.0, forward_z(t, a, op.weight)},
                            {-1.0, forward_z(t, p.low, wp)},
                            {-1.0, forward_z(t, p.high, wn)}});
  const Tensor s = stabilised_ratio(R, z, p);
  return combine({{1.0, product(a, backward_c(t, a, op.weight, s))},
                  {-1.0, product(p.low, backward_c(t, p.low, wp, s))},
                  {-1.0, product(p.high, backward_c(t, p.high, wn, s))}});
}

// The relevance map D of dead outputs passed on by the flat rule: R_i = sum_j D_j / n_j, n_j the
// number of inputs connected to output j (a replay with all-ones input and weights).
Tensor flat_relevance(const TracedOp& t, const Tensor& a, const Tensor& w, const Tensor& D) {
  const Tensor ones_x = Tensor::ones(a.shape()), ones_w = Tensor::ones(w.shape());
  const std::vector<float> n = forward_z(t, ones_x, ones_w).to_vector();
  std::vector<float> d = D.to_vector();
  for (size_t i = 0; i < d.size(); ++i) d[i] = n[i] > 0.0f ? d[i] / n[i] : 0.0f;
  return backward_c(t, ones_x, ones_w, Tensor::from_vector(D.shape(), d));
}

Tensor rule_relevance(const TracedOp& t, const GraphOp& op, const Tensor& R, ParamRule rule,
                      const RuleParams& p) {
  const Tensor& a = t.inputs.at(0);
  const Tensor bias = p.use_bias ? op.bias : Tensor();
  switch (rule) {
    case ParamRule::Epsilon:
      return branch(t, op, {{a, op.weight}}, bias, R, p, nullptr);
    case ParamRule::Gamma:
      return gamma_rule(t, op, a, R, p, bias);
    case ParamRule::AlphaBeta:
      return alpha_beta_rule(t, op, a, R, p, bias);
    case ParamRule::ZBox:
      return zbox_rule(t, op, a, R, p);
  }
  return {};
}

}  // namespace

double sample_sum(const Tensor& t, int64_t n) {
  const std::vector<float> v = t.to_vector();
  const int64_t per = t.numel() / t.size(0);
  double s = 0;
  for (int64_t i = n * per; i < (n + 1) * per; ++i) s += v[static_cast<size_t>(i)];
  return s;
}

Tensor parameter_relevance(const TracedOp& t, const GraphOp& op, const Tensor& R, ParamRule rule,
                           const RuleParams& p) {
  if (!p.dead_flat) return rule_relevance(t, op, R, rule, p);
  std::vector<float> dead_map(static_cast<size_t>(R.numel()), 0.0f);
  RuleParams q = p;
  q.dead_map = &dead_map;
  const Tensor r = rule_relevance(t, op, R, rule, q);
  if (std::all_of(dead_map.begin(), dead_map.end(), [](float e) { return e == 0.0f; })) return r;
  const Tensor moved =
      flat_relevance(t, t.inputs.at(0), op.weight, Tensor::from_vector(R.shape(), dead_map));
  for (int64_t n = 0; n < R.size(0); ++n) {
    const double m = sample_sum(moved, n);
    if (p.dead) (*p.dead)[static_cast<size_t>(n)] -= m;
    if (p.dead_moved) (*p.dead_moved)[static_cast<size_t>(n)] += m;
  }
  return combine({{1.0, r}, {1.0, moved}});
}

std::vector<Tensor> norm_relevance(const TracedOp& t, const GraphOp& op, const Tensor& R,
                                   const RuleParams& p) {
  const Tensor s = stabilised_ratio(R, t.output, p);
  const std::vector<Tensor> c = vjp(t, t.inputs, s, op.act_inputs);
  std::vector<Tensor> out;
  for (size_t k = 0; k < c.size(); ++k) out.push_back(product(t.inputs[op.act_inputs[k]], c[k]));
  return out;
}

std::vector<Tensor> map_relevance(const TracedOp& t, const GraphOp& op, const Tensor& R) {
  return vjp(t, t.inputs, R, op.act_inputs);
}

}  // namespace gb::interp::relevance
