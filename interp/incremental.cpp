// IncrementalForward (incremental.h): the plan (one step per op of the relevance graph, with
// conv -> [add] -> [relu] fused) and its execution on patches or whole activations.
// Shape letters: B images in a chunk, C input channels, K output channels, H/W a layer's size,
// h/w a patch's size, R/S a kernel's size.
#include "interp/incremental.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <optional>
#include <stdexcept>
#include <unordered_map>

#include "interp/incremental_patch.h"
#include "interp/relevance/relevance_graph.h"
#include "interp/relevance/replay.h"
#include "runtime/autograd.h"
#include "runtime/ops.h"

namespace gb::interp {
namespace {

using incremental::Region;
using incremental::Span;
using relevance::GraphOp;

enum class Rule {
  Window,     // conv2d / max_pool2d / avg_pool2d over the reached region and its halo
  Pointwise,  // computed over the union of its inputs' regions
  Whole,      // on whole activations
};

struct Step {
  size_t graph_index = 0;
  Rule rule = Rule::Whole;
  const TensorImpl* out = nullptr;  // what this step writes (the last fused op's output)
  std::string module;
  // Conv2d epilogue: the residual added (the other input of a fused add) and a fused ReLU.
  const TensorImpl* residual = nullptr;
  bool relu = false;
  // Window geometry (rows, columns) and what the padding reads.
  int64_t kh = 1, kw = 1, sh = 1, sw = 1, ph = 0, pw = 0;
  float fill = 0.0f;
  TracedOp unpadded;  // pools: the traced op with padding 0
};

struct State {
  bool whole = true;
  Tensor data;    // whole: [B,...]; patch: [B,C,h,w]
  Region region;  // patch only
};

int64_t attr(const TracedOp& t, const char* name, size_t i = 0) {
  return static_cast<int64_t>(t.attrs.at(name).at(i));
}

// `s` with `by` more positions on each side (not clamped: they may lie outside the layer).
Span grown(const Span& s, int64_t by) {
  Span g = s;
  g.size += 2 * by;
  for (int64_t& v : g.start) v -= by;
  return g;
}

bool is_pointwise(OpId op) {
  switch (op) {
    case OpId::Relu:
    case OpId::Gelu:
    case OpId::Clamp:
    case OpId::LeakyRelu:
    case OpId::Sigmoid:
    case OpId::Tanh:
    case OpId::HardSigmoid:
    case OpId::HardSwish:
    case OpId::PRelu:
    case OpId::Scale:
    case OpId::BatchNorm2d:
      return true;
    default:
      return false;
  }
}

// Add/sub/mul of two activations of one 4-D shape, or a channel concat of 4-D activations.
bool is_spatial_combine(const TracedOp& t, const GraphOp& op) {
  if (op.act_inputs.size() != t.inputs.size()) return false;
  if (op.op == OpId::Concat) return attr(t, "dim") == 1;
  if (op.op != OpId::Add && op.op != OpId::Sub && op.op != OpId::Mul) return false;
  return t.inputs.size() == 2 && t.inputs[0].shape() == t.inputs[1].shape();
}

// Whether the op, run on a batch of B images instead of the traced one, treats the batch as the
// outermost dimension it leaves alone (so the whole path may run it with a batch of B).
// throws: std::invalid_argument naming the op and module when it does not: a permute, slice,
// reduction or concat over dimension 0, a reshape that moves the batch, a concat with a traced
// constant (of batch 1).
void check_batch_safe(const TracedOp& t, const GraphOp& op) {
  auto refuse = [&](const char* why) {
    throw std::invalid_argument(fmt::format("incremental inference: op '{}' in module '{}' {}",
                                            t.label, t.module.empty() ? "<root>" : t.module, why));
  };
  const auto has = [&](const char* name) { return t.attrs.count(name) != 0; };
  switch (op.op) {
    case OpId::Permute:
      if (attr(t, "dims") != 0) refuse("moves the batch dimension");
      break;
    case OpId::Slice:
      if (attr(t, "dim") == 0) refuse("slices the batch dimension");
      break;
    case OpId::Sum:
    case OpId::Mean:
      if (!has("dims") || t.attrs.at("dims").empty()) refuse("reduces over the batch");
      for (double d : t.attrs.at("dims")) {
        if (d == 0) refuse("reduces over the batch");
      }
      break;
    case OpId::Reshape:
    case OpId::Copy:
      if (t.output.dim() < 1 || t.output.size(0) != 1 || t.inputs[0].dim() < 1 ||
          t.inputs[0].size(0) != 1) {
        refuse("reshapes across the batch dimension");
      }
      break;
    case OpId::Concat:
      if (attr(t, "dim") == 0 || op.act_inputs.size() != t.inputs.size()) {
        refuse("concatenates over the batch or with a constant");
      }
      break;
    default:
      break;
  }
}

void set_window(Step& s, const TracedOp& t, const GraphOp& op) {
  if (op.op == OpId::Conv2d) {
    s.kh = op.weight.size(2);
    s.kw = op.weight.size(3);
  } else {
    s.kh = attr(t, "kernel", 0);
    s.kw = attr(t, "kernel", 1);
  }
  s.sh = attr(t, "stride", 0);
  s.sw = attr(t, "stride", 1);
  s.ph = attr(t, "padding", 0);
  s.pw = attr(t, "padding", 1);
  s.fill = op.op == OpId::MaxPool2d ? -std::numeric_limits<float>::infinity() : 0.0f;
  if (op.op != OpId::Conv2d) {
    s.unpadded = t;
    s.unpadded.attrs["padding"] = {0.0, 0.0};
  }
}

// Whether a windowed rule applies to this op (else it runs whole).
bool windowable(const TracedOp& t, const GraphOp& op) {
  if (op.op == OpId::Conv2d) {
    return op.act_inputs == std::vector<size_t>{0} && attr(t, "dilation", 0) == 1 &&
           attr(t, "dilation", 1) == 1;
  }
  if (op.op == OpId::MaxPool2d) return true;
  if (op.op == OpId::AvgPool2d) {
    const bool padded = attr(t, "padding", 0) > 0 || attr(t, "padding", 1) > 0;
    return attr(t, "ceil_mode") == 0 && (!padded || attr(t, "count_include_pad") != 0);
  }
  return false;
}

}  // namespace

struct IncrementalForward::Impl {
  Module* model = nullptr;  // runs chunks whose input region is already too large
  double full_macs_per_image = 0.0;
  relevance::RelevanceGraph graph;
  std::vector<Step> steps;
  std::unordered_map<const TensorImpl*, Tensor> base;  // cached activations, contiguous
  double full_fraction = 0.5;
  IncrementalStats stats;

  void plan();
  void fuse_epilogue(Step& s, size_t i, std::vector<bool>& consumed,
                     const std::unordered_map<const TensorImpl*, int>& readers,
                     const std::unordered_map<const TensorImpl*, size_t>& producer);
  Tensor whole(const State& s, const TensorImpl* t, int64_t B) const;
  State input_state(const Tensor& batch, const std::vector<ChangedBox>& boxes) const;
  bool too_large(const Region& r, const Tensor& b) const {
    const double area = static_cast<double>(r.y.size) * static_cast<double>(r.x.size);
    return area > full_fraction * static_cast<double>(b.size(2) * b.size(3));
  }
  State run_window(const Step& s, const std::unordered_map<const TensorImpl*, State>& states,
                   int64_t B);
  State run_pointwise(const Step& s, const std::unordered_map<const TensorImpl*, State>& states,
                      int64_t B);
  State run_whole(const Step& s, const std::unordered_map<const TensorImpl*, State>& states,
                  int64_t B);
  Tensor run_conv(const Step& s, const Tensor& x, const Tensor& residual, int64_t pad_h,
                  int64_t pad_w) const;
  void count(const Step& s, const Tensor& out, int64_t B);
};

void IncrementalForward::Impl::fuse_epilogue(
    Step& s, size_t i, std::vector<bool>& consumed,
    const std::unordered_map<const TensorImpl*, int>& readers,
    const std::unordered_map<const TensorImpl*, size_t>& producer) {
  auto sole_reader = [&](const TensorImpl* t) -> std::optional<size_t> {
    auto r = readers.find(t);
    if (r == readers.end() || r->second != 1 || t == graph.output.impl()) return std::nullopt;
    for (size_t j = i + 1; j < graph.ops.size(); ++j) {
      const TracedOp& tj = relevance::traced(graph, graph.ops[j]);
      for (size_t a : graph.ops[j].act_inputs) {
        if (tj.inputs[a].impl() == t) return j;
      }
    }
    return std::nullopt;
  };
  std::optional<size_t> next = sole_reader(s.out);
  if (next && graph.ops[*next].op == OpId::Add &&
      graph.ops[*next].act_inputs == std::vector<size_t>{0, 1}) {
    const TracedOp& add = relevance::traced(graph, graph.ops[*next]);
    const Tensor& other = add.inputs[0].impl() == s.out ? add.inputs[1] : add.inputs[0];
    auto p = producer.find(other.impl());
    const bool ready = other.same(graph.input) || (p != producer.end() && p->second < i);
    if (!ready || other.shape() != graph.ops[i].output.shape()) return;
    s.residual = other.impl();
    consumed[*next] = true;
    s.out = graph.ops[*next].output.impl();
    next = sole_reader(s.out);
  }
  if (next && graph.ops[*next].op == OpId::Relu) {
    s.relu = true;
    consumed[*next] = true;
    s.out = graph.ops[*next].output.impl();
  }
}

void IncrementalForward::Impl::plan() {
  std::unordered_map<const TensorImpl*, int> readers;
  std::unordered_map<const TensorImpl*, size_t> producer;
  auto keep = [&](const Tensor& t) {
    if (!base.count(t.impl())) base[t.impl()] = t.is_contiguous() ? t : ops::contiguous(t);
  };
  keep(graph.input);
  for (size_t i = 0; i < graph.ops.size(); ++i) {
    const GraphOp& op = graph.ops[i];
    const TracedOp& t = relevance::traced(graph, op);
    for (size_t a : op.act_inputs) ++readers[t.inputs[a].impl()];
    producer[op.output.impl()] = i;
    if (op.op == OpId::Conv2d || op.op == OpId::Linear) {
      full_macs_per_image += static_cast<double>(op.output.numel()) *
                             static_cast<double>(op.weight.numel() / op.weight.size(0));
    }
    keep(op.output);
  }
  std::vector<bool> consumed(graph.ops.size(), false);
  for (size_t i = 0; i < graph.ops.size(); ++i) {
    if (consumed[i]) continue;
    const GraphOp& op = graph.ops[i];
    const TracedOp& t = relevance::traced(graph, op);
    check_batch_safe(t, op);
    Step s;
    s.graph_index = i;
    s.out = op.output.impl();
    s.module = t.module;
    const bool spatial = op.output.dim() == 4;
    if (spatial && windowable(t, op)) {
      s.rule = Rule::Window;
      set_window(s, t, op);
    } else if (spatial && (is_pointwise(op.op) || is_spatial_combine(t, op))) {
      s.rule = Rule::Pointwise;
    }
    if (op.op == OpId::Conv2d) fuse_epilogue(s, i, consumed, readers, producer);
    steps.push_back(std::move(s));
  }
}

Tensor IncrementalForward::Impl::whole(const State& s, const TensorImpl* t, int64_t B) const {
  if (s.whole) return s.data;
  const Tensor& b = base.at(t);
  Span ry{std::vector<int64_t>(static_cast<size_t>(B), 0), b.size(2)};
  Span rx{std::vector<int64_t>(static_cast<size_t>(B), 0), b.size(3)};
  return incremental::assemble(b, s.data, s.region, ry, rx, B, 0.0f);
}

State IncrementalForward::Impl::input_state(const Tensor& batch,
                                            const std::vector<ChangedBox>& boxes) const {
  const int64_t H = batch.size(2), W = batch.size(3);
  std::vector<int64_t> ylo, ylen, xlo, xlen;
  for (const ChangedBox& b : boxes) {
    if (b.y0 < 0 || b.x0 < 0 || b.h < 0 || b.w < 0 || b.y0 + b.h > H || b.x0 + b.w > W) {
      throw std::invalid_argument(
          fmt::format("incremental inference: box ({},{}) {}x{} outside the {}x{} image", b.y0,
                      b.x0, b.h, b.w, H, W));
    }
    const bool empty = b.h == 0 || b.w == 0;
    ylo.push_back(empty ? 0 : b.y0);
    ylen.push_back(empty ? 0 : b.h);
    xlo.push_back(empty ? 0 : b.x0);
    xlen.push_back(empty ? 0 : b.w);
  }
  State s;
  s.region.y = incremental::uniform_span(ylo, ylen, H);
  s.region.x = incremental::uniform_span(xlo, xlen, W);
  s.whole = too_large(s.region, batch);
  s.data = s.whole ? batch : incremental::crop(batch, s.region);
  return s;
}

Tensor IncrementalForward::Impl::run_conv(const Step& s, const Tensor& x, const Tensor& residual,
                                          int64_t pad_h, int64_t pad_w) const {
  const GraphOp& op = graph.ops[s.graph_index];
  const TracedOp& t = relevance::traced(graph, op);
  ops::Conv2dOptions o;
  o.stride_h = s.sh;
  o.stride_w = s.sw;
  o.pad_h = pad_h;
  o.pad_w = pad_w;
  o.groups = attr(t, "groups");
  o.dilation_h = attr(t, "dilation", 0);
  o.dilation_w = attr(t, "dilation", 1);
  return ops::conv2d_fused(x, op.weight, Tensor(), op.bias, residual, s.relu, o);
}

void IncrementalForward::Impl::count(const Step& s, const Tensor& out, int64_t B) {
  const GraphOp& op = graph.ops[s.graph_index];
  if (op.op != OpId::Conv2d && op.op != OpId::Linear) return;
  const double per_out = static_cast<double>(op.weight.numel()) /
                         static_cast<double>(op.weight.size(0));  // C/groups * R * S, or I
  const double done = static_cast<double>(out.numel()) * per_out;
  const double full = static_cast<double>(op.output.numel()) * static_cast<double>(B) * per_out;
  stats.macs_done += done;
  stats.macs_full += full;
  auto& rows = stats.macs_by_module;
  auto it =
      std::find_if(rows.begin(), rows.end(), [&](const auto& r) { return r.first == s.module; });
  if (it == rows.end()) {
    rows.emplace_back(s.module, 0.0);
    it = rows.end() - 1;
  }
  it->second += done;
}

State IncrementalForward::Impl::run_window(
    const Step& s, const std::unordered_map<const TensorImpl*, State>& states, int64_t B) {
  const GraphOp& op = graph.ops[s.graph_index];
  const TracedOp& t = relevance::traced(graph, op);
  const TensorImpl* in = t.inputs[0].impl();
  const State& xs = states.at(in);
  const State* rs = s.residual ? &states.at(s.residual) : nullptr;
  if (xs.whole || (rs && rs->whole)) return run_whole(s, states, B);
  const Tensor& ob = op.output;
  Region out;
  out.y = incremental::reached_span(xs.region.y, s.kh, s.sh, s.ph, ob.size(2));
  out.x = incremental::reached_span(xs.region.x, s.kw, s.sw, s.pw, ob.size(3));
  if (rs) {
    out.y = incremental::union_span({&out.y, &rs->region.y}, ob.size(2));
    out.x = incremental::union_span({&out.x, &rs->region.x}, ob.size(3));
  }
  // A "same" 3x3 convolution runs with its padding on the assembled input (whose border is the
  // real halo) and drops the ring of outputs that read that padding: the fast kernel
  // (Winograd) only takes this form, and saves more than the ring costs.
  const bool same = op.op == OpId::Conv2d && s.kh == 3 && s.kw == 3 && s.sh == 1 && s.sw == 1 &&
                    s.ph == 1 && s.pw == 1;
  const int64_t ring = same ? 1 : 0;
  if (too_large(Region{grown(out.y, ring), grown(out.x, ring)}, ob)) return run_whole(s, states, B);
  const Span iy = incremental::input_span(out.y, s.kh, s.sh, s.ph);
  const Span ix = incremental::input_span(out.x, s.kw, s.sw, s.pw);
  const Tensor x = incremental::assemble(base.at(in), xs.data, xs.region, iy, ix, B, s.fill);
  State r;
  r.whole = false;
  r.region = out;
  if (op.op == OpId::Conv2d) {
    Tensor res;
    if (rs) {
      res = incremental::assemble(base.at(s.residual), rs->data, rs->region, grown(out.y, ring),
                                  grown(out.x, ring), B, 0.0f);
    }
    const Tensor y = run_conv(s, x, res, ring, ring);
    count(s, y, B);
    r.data = same ? incremental::interior(y, ring) : y;
    return r;
  } else {
    r.data = relevance::replay(s.unpadded, {x});
  }
  count(s, r.data, B);
  return r;
}

State IncrementalForward::Impl::run_pointwise(
    const Step& s, const std::unordered_map<const TensorImpl*, State>& states, int64_t B) {
  const GraphOp& op = graph.ops[s.graph_index];
  const TracedOp& t = relevance::traced(graph, op);
  std::vector<const Span*> ys, xs;
  for (size_t a : op.act_inputs) {
    const State& st = states.at(t.inputs[a].impl());
    if (st.whole) return run_whole(s, states, B);
    ys.push_back(&st.region.y);
    xs.push_back(&st.region.x);
  }
  Region out{incremental::union_span(ys, op.output.size(2)),
             incremental::union_span(xs, op.output.size(3))};
  if (too_large(out, op.output)) return run_whole(s, states, B);
  std::vector<Tensor> in = t.inputs;
  for (size_t a : op.act_inputs) {
    const TensorImpl* ti = t.inputs[a].impl();
    const State& st = states.at(ti);
    in[a] = incremental::assemble(base.at(ti), st.data, st.region, out.y, out.x, B, 0.0f);
  }
  State r;
  r.whole = false;
  r.region = out;
  r.data = relevance::replay(t, in);
  return r;
}

State IncrementalForward::Impl::run_whole(
    const Step& s, const std::unordered_map<const TensorImpl*, State>& states, int64_t B) {
  const GraphOp& op = graph.ops[s.graph_index];
  const TracedOp& t = relevance::traced(graph, op);
  std::vector<Tensor> in = t.inputs;
  for (size_t a : op.act_inputs) {
    const TensorImpl* ti = t.inputs[a].impl();
    in[a] = whole(states.at(ti), ti, B);
  }
  State r;
  if (op.op == OpId::Conv2d) {
    Tensor res = s.residual ? whole(states.at(s.residual), s.residual, B) : Tensor();
    r.data = run_conv(s, in[0], res, attr(t, "padding", 0), attr(t, "padding", 1));
  } else if (op.op == OpId::Linear) {
    r.data = ops::linear(in[0], op.weight, op.bias);
  } else if (op.op == OpId::ConvTranspose2d) {
    r.data = relevance::replay(t, {in[0], op.weight, op.bias});
  } else if (op.op == OpId::Reshape || op.op == OpId::Copy) {
    // The traced shape has batch 1 outermost (check_batch_safe): make it B.
    Shape shape = t.output.shape();
    shape.at(0) *= B;
    r.data = ops::reshape(in[0], shape);
  } else {
    r.data = relevance::replay(t, in);
  }
  count(s, r.data, B);
  return r;
}

IncrementalForward::IncrementalForward(Module& model, const Tensor& image, double full_fraction)
    : impl_(std::make_unique<Impl>()) {
  if (!(full_fraction > 0.0 && full_fraction <= 1.0)) {
    throw std::invalid_argument("incremental inference: full_fraction must be in (0, 1]");
  }
  impl_->full_fraction = full_fraction;
  impl_->model = &model;
  for (const auto& [path, mod] : model.named_modules()) {
    if (mod->has_hooks()) {
      throw std::invalid_argument(
          fmt::format("incremental inference: module '{}' has hooks, which a plan would bypass",
                      path.empty() ? "<root>" : path));
    }
  }
  Tensor x = image.dim() == 3
                 ? ops::reshape(image, {1, image.size(0), image.size(1), image.size(2)})
                 : image;
  if (x.dim() != 4 || x.size(0) != 1) {
    throw std::invalid_argument("incremental inference: image must be [C,H,W], got " +
                                shape_str(image.shape()));
  }
  {
    EvalModeScope eval(model);
    relevance::GraphOptions go;
    go.method = "incremental inference";
    impl_->graph = relevance::build_relevance_graph(model, ops::contiguous(x), go);
  }
  if (!impl_->graph.output.same(impl_->graph.logits)) {
    throw std::invalid_argument(
        "incremental inference: the model ends in a softmax; explain its logits instead");
  }
  impl_->plan();
}

IncrementalForward::~IncrementalForward() = default;
IncrementalForward::IncrementalForward(IncrementalForward&&) noexcept = default;
IncrementalForward& IncrementalForward::operator=(IncrementalForward&&) noexcept = default;

Tensor IncrementalForward::forward(const Tensor& batch, const std::vector<ChangedBox>& boxes) {
  Impl& m = *impl_;
  const Tensor& x0 = m.graph.input;
  if (batch.dim() != 4 || batch.size(1) != x0.size(1) || batch.size(2) != x0.size(2) ||
      batch.size(3) != x0.size(3) || static_cast<int64_t>(boxes.size()) != batch.size(0)) {
    throw std::invalid_argument(
        fmt::format("incremental inference: batch {} with {} boxes for a model traced on {}",
                    shape_str(batch.shape()), boxes.size(), shape_str(x0.shape())));
  }
  const int64_t B = batch.size(0);
  NoGradGuard no_grad;
  const Tensor xb = batch.is_contiguous() ? batch : ops::contiguous(batch);
  std::unordered_map<const TensorImpl*, State> states;
  State in = m.input_state(xb, boxes);
  m.stats.images += B;
  if (in.whole) {  // nothing to save: the model's own (module-fused) forward
    EvalModeScope eval(*m.model);
    m.stats.macs_done += m.full_macs_per_image * static_cast<double>(B);
    m.stats.macs_full += m.full_macs_per_image * static_cast<double>(B);
    return (*m.model)(xb);
  }
  states[x0.impl()] = std::move(in);
  for (const Step& s : m.steps) {
    switch (s.rule) {
      case Rule::Window:
        states[s.out] = m.run_window(s, states, B);
        break;
      case Rule::Pointwise:
        states[s.out] = m.run_pointwise(s, states, B);
        break;
      case Rule::Whole:
        states[s.out] = m.run_whole(s, states, B);
        break;
    }
  }
  const TensorImpl* out = m.graph.logits.impl();
  return m.whole(states.at(out), out, B);
}

void IncrementalStats::add(const IncrementalStats& o) {
  macs_done += o.macs_done;
  macs_full += o.macs_full;
  images += o.images;
  for (const auto& [module, macs] : o.macs_by_module) {
    auto it = std::find_if(macs_by_module.begin(), macs_by_module.end(),
                           [&](const auto& r) { return r.first == module; });
    if (it == macs_by_module.end()) {
      macs_by_module.emplace_back(module, macs);
    } else {
      it->second += macs;
    }
  }
  if (not_run.empty()) not_run = o.not_run;
}

IncrementalStats IncrementalStats::minus(const IncrementalStats& o) const {
  IncrementalStats d = *this;
  d.macs_done -= o.macs_done;
  d.macs_full -= o.macs_full;
  d.images -= o.images;
  for (auto& [module, macs] : d.macs_by_module) {
    for (const auto& [m0, x0] : o.macs_by_module) {
      if (m0 == module) macs -= x0;
    }
  }
  return d;
}

std::unique_ptr<IncrementalForward> try_incremental(Module& model, const Tensor& image,
                                                    std::string* why) {
  try {
    return std::make_unique<IncrementalForward>(model, image);
  } catch (const std::exception& e) {
    if (why) *why = e.what();
    return nullptr;
  }
}

const Tensor& IncrementalForward::base_logits() const { return impl_->graph.logits; }
const Tensor& IncrementalForward::base_image() const { return impl_->graph.input; }
const IncrementalStats& IncrementalForward::stats() const { return impl_->stats; }

ChangedBox changed_box(const Tensor& base, const Tensor& image) {
  const int64_t C = base.size(-3 + base.dim()), H = base.size(base.dim() - 2),
                W = base.size(base.dim() - 1);
  const Tensor a = ops::contiguous(base), b = ops::contiguous(image);
  if (a.numel() != b.numel()) throw std::invalid_argument("changed_box: shapes differ");
  int64_t y0 = H, y1 = -1, x0 = W, x1 = -1;
  const float* pa = a.f32();
  const float* pb = b.f32();
  for (int64_t c = 0; c < C; ++c) {
    for (int64_t y = 0; y < H; ++y) {
      for (int64_t x = 0; x < W; ++x) {
        const int64_t i = (c * H + y) * W + x;
        if (pa[i] == pb[i]) continue;
        y0 = std::min(y0, y);
        y1 = std::max(y1, y);
        x0 = std::min(x0, x);
        x1 = std::max(x1, x);
      }
    }
  }
  if (y1 < 0) return {};
  return {y0, x0, y1 - y0 + 1, x1 - x0 + 1};
}

void forward_streamed_incremental(Module& model, IncrementalForward& inc, int64_t total,
                                  const std::function<Tensor(int64_t, int64_t)>& make,
                                  const std::function<ChangedBox(int64_t)>& box_of,
                                  const std::function<void(int64_t, const Tensor&)>& consume,
                                  const BatchOptions& opt) {
  const Tensor& x0 = inc.base_image();
  const int64_t chunk = chunk_size_for(model, {x0.size(1), x0.size(2), x0.size(3)}, opt);
  const ForwardPrecisionScope precision = forward_precision_scope(model, opt);
  for (int64_t begin = 0; begin < total; begin += chunk) {
    const int64_t count = std::min(chunk, total - begin);
    std::vector<ChangedBox> boxes;
    for (int64_t i = 0; i < count; ++i) boxes.push_back(box_of(begin + i));
    consume(begin, inc.forward(make(begin, count), boxes));
  }
}

}  // namespace gb::interp
