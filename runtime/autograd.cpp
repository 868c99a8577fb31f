// The autograd engine: graph recording, reverse-topological backward with fan-out accumulation,
// gradient hooks, gradients with respect to intermediate tensors, and graph walking.
#include "runtime/autograd.h"

#include <algorithm>
#include <optional>
#include <stdexcept>
#include <unordered_map>
#include <unordered_set>

#include "runtime/anomaly.h"
#include "runtime/profiler.h"
#include "runtime/trace.h"

namespace gb {
namespace {
thread_local bool t_grad_mode = true;
thread_local std::string t_module_path;

// Which inputs of the node whose backward closure is running need a gradient (input_grad_needed).
thread_local const std::vector<bool>* t_needed_inputs = nullptr;

class NeededInputsScope {
 public:
  explicit NeededInputsScope(const std::vector<bool>* needed) : prev_(t_needed_inputs) {
    t_needed_inputs = needed;
  }
  ~NeededInputsScope() { t_needed_inputs = prev_; }
  NeededInputsScope(const NeededInputsScope&) = delete;
  NeededInputsScope& operator=(const NeededInputsScope&) = delete;

 private:
  const std::vector<bool>* prev_;
};

// Suspends the anomaly guard's forward checks for its scope (a backward pass).
class ForwardChecksOff {
 public:
  ForwardChecksOff() : prev_(anomaly_detail::t_forward_checks) {
    anomaly_detail::t_forward_checks = false;
  }
  ~ForwardChecksOff() { anomaly_detail::t_forward_checks = prev_; }
  ForwardChecksOff(const ForwardChecksOff&) = delete;
  ForwardChecksOff& operator=(const ForwardChecksOff&) = delete;

 private:
  bool prev_;
};

// A fresh contiguous tensor holding a + b (same shape); nothing is recorded.
Tensor sum_of(const Tensor& a, const Tensor& b) {
  if (a.shape() != b.shape()) {
    throw std::logic_error("autograd: gradient shapes differ at fan-out: " + shape_str(a.shape()) +
                           " vs " + shape_str(b.shape()));
  }
  Tensor ac = a.is_contiguous() ? a : a.clone();
  Tensor bc = b.is_contiguous() ? b : b.clone();
  Tensor out = Tensor::empty(a.shape(), DType::F32, a.device());
  const float* pa = ac.f32();
  const float* pb = bc.f32();
  float* po = out.f32();
  kernels_for<OpId::Add>(a.device()).same_shape(kernels::BinaryOp::Add, out.numel(), pa, pb, po);
  return out;
}

// acc += g for the gradient of node n's output (a fan-out when acc is already defined).
void add_into(Tensor& acc, const Tensor& g, const Node& n) {
  if (!acc.defined()) {
    acc = g;
    return;
  }
  acc = sum_of(acc, g);
  if (anomaly_detail::t_enabled) [[unlikely]] {
    anomaly_detail::check_gradient_sum(n.name(), n.module, acc);
  }
}

Tensor default_seed(const Tensor& root) {
  if (root.numel() != 1) {
    throw std::logic_error("autograd: backward from a non-scalar of shape " +
                           shape_str(root.shape()) + " needs a seed gradient");
  }
  return Tensor::full(root.shape(), 1.0f).to(root.device());
}

// Runs gradient hooks in order; each may replace the gradient with one of the same shape.
void apply_hooks(const std::vector<GradHook>& hooks, const Node& n, Tensor& g) {
  for (const auto& hook : hooks) {
    Tensor replaced = hook(g);
    if (!replaced.defined()) continue;
    if (replaced.shape() != g.shape()) {
      throw std::logic_error("autograd: a gradient hook on the output of '" +
                             std::string(n.name()) + "' returned shape " +
                             shape_str(replaced.shape()) + " instead of " + shape_str(g.shape()));
    }
    g = replaced;
  }
}

// Nodes reachable from `root` (including it).
std::vector<Node*> reachable(Node* root) {
  std::vector<Node*> order;
  std::unordered_set<Node*> seen{root};
  std::vector<Node*> stack{root};
  while (!stack.empty()) {
    Node* n = stack.back();
    stack.pop_back();
    order.push_back(n);
    for (const auto& nx : n->next) {
      if (nx && seen.insert(nx.get()).second) stack.push_back(nx.get());
    }
  }
  return order;
}

// Runs backward from root. When `targets` is non-empty, only nodes that lead to a target run,
// target gradients are returned through `captured`, and leaf .grad is untouched.
// The nodes from which a target is reachable (post-order over the nodes reachable from root).
std::unordered_set<Node*> nodes_leading_to(Node* root, const std::vector<Node*>& targets) {
  std::unordered_set<Node*> target_set(targets.begin(), targets.end());
  std::unordered_map<Node*, bool> leads;
  std::vector<std::pair<Node*, size_t>> stack{{root, 0}};
  leads[root] = target_set.count(root) > 0;
  while (!stack.empty()) {
    auto& [n, i] = stack.back();
    if (i < n->next.size()) {
      Node* c = n->next[i++].get();
      if (c && !leads.count(c)) {
        leads[c] = target_set.count(c) > 0;
        stack.push_back({c, 0});
      }
      continue;
    }
    bool any = leads[n];
    for (const auto& c : n->next) {
      if (c && leads[c.get()]) any = true;
    }
    leads[n] = any;
    stack.pop_back();
  }
  std::unordered_set<Node*> active;
  for (auto& [n, l] : leads) {
    if (l) active.insert(n);
  }
  return active;
}

// leaf.grad += g (a copy of g when the leaf has no gradient yet).
void accumulate_into_leaf(TensorImpl& leaf, const Tensor& g) {
  if (!leaf.grad) {
    leaf.grad = g.clone().impl_ptr();
    return;
  }
  Tensor acc(leaf.grad);
  Tensor gc = g.is_contiguous() ? g : g.clone();
  kernels_for<OpId::Add>(acc.device())
      .same_shape(kernels::BinaryOp::Add, acc.numel(), acc.f32(), gc.f32(), acc.f32());
}

// Runs n's backward closure on g (timed when profiling), telling it which inputs take part, and
// checks the shapes of the gradients it returns.
std::vector<Tensor> call_backward(Node& n, const Tensor& g, const std::unordered_set<Node*>& active,
                                  bool retain_graph) {
  if (!n.backward) {
    throw std::logic_error("autograd: backward through op '" + std::string(n.name()) +
                           "' a second time; its saved tensors were freed (use retain_graph)");
  }
  std::vector<Tensor> in_grads;
  std::vector<bool> needed(n.next.size());
  for (size_t i = 0; i < n.next.size(); ++i)
    needed[i] = n.next[i] && active.count(n.next[i].get()) > 0;
  {
    std::optional<profile::Span> span;  // per-layer backward time, when profiling is on
    if (profile::enabled()) span.emplace(profile::Pass::Backward, n.module, n.name());
    NeededInputsScope needed_scope(&needed);
    in_grads = n.backward(g);
  }
  if (!retain_graph) n.backward = nullptr;
  if (anomaly_detail::t_enabled) [[unlikely]] {
    anomaly_detail::check_backward(n.name(), n.module, g, in_grads, needed, n.input_names);
  }
  for (size_t i = 0; i < in_grads.size() && i < n.input_shapes.size(); ++i) {
    if (n.next[i] && in_grads[i].defined() && in_grads[i].shape() != n.input_shapes[i]) {
      throw std::logic_error("autograd: backward of '" + std::string(n.name()) +
                             "' returned a gradient of shape " + shape_str(in_grads[i].shape()) +
                             " for input " + std::to_string(i) + " of shape " +
                             shape_str(n.input_shapes[i]));
    }
  }
  return in_grads;
}

void run_backward(const Tensor& root, const Tensor& seed_in, bool retain_graph,
                  const std::vector<Node*>& targets, std::unordered_map<Node*, Tensor>* captured) {
  auto root_node = gradient_edge(root);
  if (!root_node) {
    throw std::logic_error("autograd: the tensor does not require grad and has no grad_fn");
  }
  Tensor seed = seed_in.defined() ? seed_in : default_seed(root);
  if (seed.shape() != root.shape()) {
    throw std::invalid_argument("autograd: seed shape " + shape_str(seed.shape()) +
                                " differs from output shape " + shape_str(root.shape()));
  }
  const bool capture_mode = !targets.empty();
  NoGradGuard no_grad;  // backward closures and hooks never record a graph of their own
  // The ops closures run are checked as the closures' gradients, not as forward ops.
  ForwardChecksOff forward_checks_off;
  std::vector<Node*> nodes = reachable(root_node.get());
  const std::unordered_set<Node*> active =
      capture_mode ? nodes_leading_to(root_node.get(), targets)
                   : std::unordered_set<Node*>(nodes.begin(), nodes.end());

  std::unordered_map<Node*, int> deps;
  for (Node* n : nodes) {
    if (!active.count(n)) continue;
    for (const auto& nx : n->next) {
      if (nx && active.count(nx.get())) ++deps[nx.get()];
    }
  }

  std::unordered_map<Node*, Tensor> grads;
  grads[root_node.get()] = seed;
  std::vector<Node*> ready{root_node.get()};
  while (!ready.empty()) {
    Node* n = ready.back();
    ready.pop_back();
    Tensor g = std::move(grads[n]);
    grads.erase(n);
    if (!g.defined()) {
      // No gradient reached this node (its consumers returned none for it). It does not run,
      // but the nodes below it must still be released: they may get gradient by other paths.
      for (const auto& nx : n->next) {
        if (nx && active.count(nx.get()) && --deps[nx.get()] == 0) ready.push_back(nx.get());
      }
      continue;
    }
    apply_hooks(n->hooks, *n, g);
    if (n->is_accumulator()) apply_hooks(n->leaf->leaf_hooks, *n, g);
    if (!capture_mode) {
      if (auto kept = n->retained.lock()) kept->grad = g.clone().impl_ptr();
    }
    if (capture_mode && std::find(targets.begin(), targets.end(), n) != targets.end()) {
      (*captured)[n] = g;
    }
    if (n->is_accumulator()) {
      if (!capture_mode) accumulate_into_leaf(*n->leaf, g);
      continue;
    }
    if (capture_mode) {
      bool leads_on = false;
      for (const auto& nx : n->next) leads_on = leads_on || (nx && active.count(nx.get()));
      if (!leads_on) continue;  // a target whose inputs lead to no other target: stop here
    }
    const std::vector<Tensor> in_grads = call_backward(*n, g, active, retain_graph);
    for (size_t i = 0; i < n->next.size(); ++i) {
      Node* nx = n->next[i].get();
      if (!nx || !active.count(nx)) continue;
      if (i < in_grads.size() && in_grads[i].defined()) add_into(grads[nx], in_grads[i], *nx);
      if (--deps[nx] == 0) ready.push_back(nx);  // possibly with no gradient: see above
    }
  }
}
}  // namespace

bool input_grad_needed(size_t i) {
  if (!t_needed_inputs) return true;
  return i < t_needed_inputs->size() && (*t_needed_inputs)[i];
}

bool grad_mode_enabled() { return t_grad_mode; }

NoGradGuard::NoGradGuard() : prev_(t_grad_mode) { t_grad_mode = false; }
NoGradGuard::~NoGradGuard() { t_grad_mode = prev_; }

ModuleScope::ModuleScope(const std::string& path) : prev_(t_module_path) { t_module_path = path; }
ModuleScope::~ModuleScope() { t_module_path = prev_; }
const std::string& ModuleScope::current() { return t_module_path; }

std::shared_ptr<Node> gradient_edge(const Tensor& t) {
  if (!t.defined()) return nullptr;
  TensorImpl* impl = t.impl();
  if (impl->grad_fn) return impl->grad_fn;
  if (!impl->requires_grad) return nullptr;
  if (auto acc = impl->grad_accumulator.lock()) return acc;
  auto acc = std::make_shared<Node>();
  acc->label = "accumulate_grad";
  acc->leaf = t.impl_ptr();
  acc->output_shape = t.shape();
  impl->grad_accumulator = acc;
  return acc;
}

namespace {
void record_node(std::optional<OpId> op, const char* label, const std::vector<Tensor>& inputs,
                 Tensor& out, BackwardFn backward) {
  if (anomaly_detail::t_forward_checks) [[unlikely]] {
    anomaly_detail::check_forward(op ? op_name(*op) : label, t_module_path, inputs, out);
  }
  trace_op(op, label, inputs, out);
  if (!t_grad_mode) return;
  bool any = false;
  for (const auto& in : inputs) {
    if (in.defined() && (in.requires_grad() || in.grad_fn())) any = true;
  }
  if (!any) return;
  auto node = std::make_shared<Node>();
  node->op = op;
  node->label = label;
  node->module = t_module_path;
  node->output_shape = out.shape();
  node->next.reserve(inputs.size());
  for (const auto& in : inputs) {
    node->next.push_back(gradient_edge(in));
    node->input_shapes.push_back(in.defined() ? in.shape() : Shape{});
    node->input_names.push_back(in.defined() && in.is_leaf() ? in.name() : std::string());
  }
  node->backward = std::move(backward);
  out.impl()->grad_fn = std::move(node);
  out.impl()->requires_grad = true;
}
}  // namespace

void record(OpId op, const std::vector<Tensor>& inputs, Tensor& out, BackwardFn backward) {
  record_node(op, nullptr, inputs, out, std::move(backward));
}

void record_custom(const char* label, const std::vector<Tensor>& inputs, Tensor& out,
                   BackwardFn backward) {
  record_node(std::nullopt, label, inputs, out, std::move(backward));
}

void backward(const Tensor& root, const Tensor& seed, bool retain_graph) {
  run_backward(root, seed, retain_graph, {}, nullptr);
}

std::vector<Tensor> grad(const Tensor& root, const std::vector<Tensor>& inputs, const Tensor& seed,
                         bool retain_graph) {
  std::vector<Node*> targets;
  for (const auto& in : inputs) {
    auto edge = gradient_edge(in);
    if (!edge) throw std::logic_error("autograd: grad() input does not require grad");
    targets.push_back(edge.get());
  }
  std::unordered_map<Node*, Tensor> captured;
  run_backward(root, seed, retain_graph, targets, &captured);
  std::vector<Tensor> out;
  for (size_t i = 0; i < inputs.size(); ++i) {
    auto it = captured.find(targets[i]);
    out.push_back(it != captured.end()
                      ? it->second
                      : Tensor::zeros(inputs[i].shape(), DType::F32, inputs[i].device()));
  }
  return out;
}

std::vector<std::shared_ptr<Node>> walk_graph(const Tensor& root) {
  std::vector<std::shared_ptr<Node>> order;
  auto root_node = gradient_edge(root);
  if (!root_node) return order;
  std::unordered_set<Node*> done;
  std::vector<std::pair<std::shared_ptr<Node>, size_t>> stack{{root_node, 0}};
  std::unordered_set<Node*> on_stack{root_node.get()};
  while (!stack.empty()) {
    auto& [n, i] = stack.back();
    if (i < n->next.size()) {
      auto c = n->next[i++];
      if (c && !done.count(c.get()) && !on_stack.count(c.get())) {
        on_stack.insert(c.get());
        stack.push_back({c, 0});
      }
      continue;
    }
    done.insert(n.get());
    order.push_back(n);
    stack.pop_back();
  }
  return order;
}

}  // namespace gb
