// DeepLIFT rescale on the relevance graph (deeplift.h). Multipliers are kept for the top half
// (the input x) only: through affine ops both halves' multipliers are equal in Captum too, so the
// vjp runs on the traced (2N) tensors with the seed cat([m, 0]) and the top half is kept.
// Shape letters: N batch (2N traced), K classes.
#include "interp/relevance/deeplift.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <unordered_map>

#include "interp/relevance/relevance_graph.h"
#include "interp/relevance/replay.h"
#include "runtime/ops.h"

namespace gb::interp::relevance {
namespace {

constexpr double kRescaleEps = 1e-10;  // Captum's DeepLift eps

std::vector<float> top_half(const Tensor& t) {
  std::vector<float> v = t.to_vector();
  v.resize(v.size() / 2);
  return v;
}
std::vector<float> bottom_half(const Tensor& t) {
  const std::vector<float> v = t.to_vector();
  return std::vector<float>(v.begin() + static_cast<std::ptrdiff_t>(v.size() / 2), v.end());
}
// [2N,...] seed from two [N,...] halves.
Tensor stacked(const Tensor& like, const std::vector<float>& top,
               const std::vector<float>& bottom) {
  std::vector<float> v(top);
  v.insert(v.end(), bottom.begin(), bottom.end());
  return Tensor::from_vector(like.shape(), v);
}

// The op's inputs with a folded conv's weight and bias substituted.
std::vector<Tensor> op_inputs(const TracedOp& t, const GraphOp& op) {
  std::vector<Tensor> in = t.inputs;
  if (op.family == OpFamily::Parameter) {
    in.resize(3);
    in[1] = op.weight;
    in[2] = op.bias;
  }
  return in;
}

// Top-half vjp with seed cat([m, 0]) for each activation input.
std::vector<std::vector<float>> linear_multipliers(const TracedOp& t, const GraphOp& op,
                                                   const std::vector<float>& m) {
  const Tensor out = t.output;
  const Tensor seed = stacked(out, m, std::vector<float>(m.size(), 0.0f));
  const std::vector<Tensor> g = vjp(t, op_inputs(t, op), seed, op.act_inputs);
  std::vector<std::vector<float>> res;
  for (const auto& gi : g) res.push_back(top_half(gi));
  return res;
}

// Rescale: m * dy/dx where |dx| >= eps, else the gradient at x.
std::vector<float> rescale_multiplier(const TracedOp& t, const GraphOp& op,
                                      const std::vector<float>& m) {
  const Tensor& in = t.inputs[op.act_inputs[0]];
  if (in.shape() != t.output.shape()) {
    throw std::invalid_argument(
        fmt::format("deeplift: op '{}' in module '{}' broadcasts its activation; no rescale rule",
                    t.label, t.module));
  }
  const std::vector<float> grad = linear_multipliers(t, op, m).at(0);
  const std::vector<float> x = top_half(in), x0 = bottom_half(in);
  const std::vector<float> y = top_half(t.output), y0 = bottom_half(t.output);
  std::vector<float> out(m.size());
  for (size_t i = 0; i < m.size(); ++i) {
    const double dx = static_cast<double>(x[i]) - x0[i];
    out[i] = std::fabs(dx) < kRescaleEps
                 ? grad[i]
                 : static_cast<float>(m[i] * ((static_cast<double>(y[i]) - y0[i]) / dx));
  }
  return out;
}

// Captum's maxpool rule: delta_out = [max(y,y0) - y0, y - max(y,y0)] unpooled by each half's
// argmax, summed, divided by dx (the gradient at x where |dx| < eps).
std::vector<float> maxpool_multiplier(const TracedOp& t, const GraphOp& op,
                                      const std::vector<float>& m) {
  const std::vector<float> y = top_half(t.output), y0 = bottom_half(t.output);
  std::vector<float> a(m.size()), b(m.size());
  for (size_t i = 0; i < m.size(); ++i) {
    const float mx = std::max(y[i], y0[i]);
    a[i] = m[i] * (mx - y0[i]);
    b[i] = m[i] * (y[i] - mx);
  }
  const Tensor& in = t.inputs[0];
  const Tensor u = vjp(t, t.inputs, stacked(t.output, a, b), {0}).at(0);
  const std::vector<float> ut = top_half(u), ub = bottom_half(u);
  const std::vector<float> grad = linear_multipliers(t, op, m).at(0);
  const std::vector<float> x = top_half(in), x0 = bottom_half(in);
  std::vector<float> out(x.size());
  for (size_t i = 0; i < x.size(); ++i) {
    const double dx = static_cast<double>(x[i]) - x0[i];
    out[i] = std::fabs(dx) < kRescaleEps
                 ? grad[i]
                 : static_cast<float>((static_cast<double>(ut[i]) + ub[i]) / dx);
  }
  return out;
}

}  // namespace

double DeepLiftResult::max_relative_error() const {
  double e = 0;
  for (size_t n = 0; n < delta.size(); ++n) {
    e = std::max(e, std::fabs(attr_sum[n] - delta[n]) / std::fabs(delta[n]));
  }
  return e;
}

DeepLiftResult deeplift(Module& model, const Tensor& x, const Tensor& baseline,
                        const Target& target) {
  if (x.dim() != 4 || baseline.shape() != x.shape()) {
    throw std::invalid_argument(
        "deeplift: x and baseline must be [N,C,H,W] of the same shape, got " +
        shape_str(x.shape()) + " and " + shape_str(baseline.shape()));
  }
  GraphOptions go;
  go.method = "deeplift";
  const Tensor both = ops::concat({x, baseline}, 0);
  const RelevanceGraph g = build_relevance_graph(model, both, go);
  const int64_t N = x.size(0), K = g.output.size(1);
  const Tensor top = Tensor::from_vector({N, K}, top_half(g.output));
  DeepLiftResult res;
  res.targets = resolve_target(target, top);
  const std::vector<float> y = top_half(g.output), y0 = bottom_half(g.output);
  std::vector<float> seed(static_cast<size_t>(N * K), 0.0f);
  for (int64_t n = 0; n < N; ++n) {
    const size_t i = static_cast<size_t>(n * K + res.targets[static_cast<size_t>(n)]);
    seed[i] = 1.0f;
    res.delta.push_back(static_cast<double>(y[i]) - y0[i]);
  }
  std::unordered_map<const TensorImpl*, std::vector<float>> M;
  M[g.output.impl()] = seed;
  for (auto it = g.ops.rbegin(); it != g.ops.rend(); ++it) {
    const GraphOp& op = *it;
    auto found = M.find(op.output.impl());
    if (found == M.end()) continue;
    const std::vector<float> m = std::move(found->second);
    M.erase(found);
    const TracedOp& t = traced(g, op);
    std::vector<std::vector<float>> mins;
    if (op.op == OpId::MaxPool2d) {
      mins = {maxpool_multiplier(t, op, m)};
    } else if (op.family == OpFamily::Pass) {
      mins = {rescale_multiplier(t, op, m)};
    } else {
      mins = linear_multipliers(t, op, m);
    }
    for (size_t k = 0; k < mins.size(); ++k) {
      auto& slot = M[t.inputs[op.act_inputs[k]].impl()];
      if (slot.empty()) {
        slot = std::move(mins[k]);
      } else {
        for (size_t i = 0; i < slot.size(); ++i) slot[i] += mins[k][i];
      }
    }
  }
  std::vector<float> mx =
      M.count(both.impl()) ? M[both.impl()] : std::vector<float>(static_cast<size_t>(x.numel()));
  const std::vector<float> xv = x.to_vector(), bv = baseline.to_vector();
  const int64_t per = x.numel() / N;
  for (size_t i = 0; i < mx.size(); ++i) mx[i] *= xv[i] - bv[i];
  res.attr = Tensor::from_vector(x.shape(), mx);
  for (int64_t n = 0; n < N; ++n) {
    double s = 0;
    for (int64_t i = n * per; i < (n + 1) * per; ++i) s += mx[static_cast<size_t>(i)];
    res.attr_sum.push_back(s);
  }
  return res;
}

}  // namespace gb::interp::relevance
