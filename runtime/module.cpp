// Module tree bookkeeping, naming, train/eval mode, hooks, and the seeded global generators.
#include "runtime/module.h"

#include <functional>
#include <optional>
#include <stdexcept>

#include "runtime/autograd.h"
#include "runtime/ops.h"
#include "runtime/profiler.h"
#include "runtime/rng.h"

namespace gb {
namespace {
std::string join(const std::string& a, const std::string& b) { return a.empty() ? b : a + "." + b; }
}  // namespace

Tensor Module::operator()(const Tensor& input) {
  return call(input, [&] { return forward(input); });
}

Tensor Module::call(const Tensor& input, const std::function<Tensor()>& compute) {
  Tensor out;
  {
    ModuleScope scope(path_);
    std::optional<profile::Span> span;  // forward self time, when profiling is on
    if (profile::enabled()) span.emplace(profile::Pass::Forward, path_, type_name());
    out = compute();
  }
  for (auto& [id, hook] : forward_hooks_) {
    Tensor replaced = hook(*this, input, out);
    if (replaced.defined()) out = replaced;
  }
  if (!backward_hooks_.empty() && out.defined() && (out.requires_grad() || out.grad_fn())) {
    // The output gets a node of its own (an identity view) when it is the input itself or a
    // leaf, so the hook sees this module's output gradient and not the producer's total.
    if (out.same(input) || out.is_leaf()) {
      ModuleScope scope(path_);
      out = ops::reshape(out, out.shape());
    }
    // Hooks are snapshotted now; the module must outlive the backward pass of this output.
    Module* self = this;
    std::vector<BackwardHook> hooks;
    for (auto& [id, hook] : backward_hooks_) hooks.push_back(hook);
    out.register_hook([self, hooks](const Tensor& g) {
      for (const auto& hook : hooks) hook(*self, g);
      return Tensor();
    });
  }
  return out;
}

std::vector<std::pair<std::string, Tensor>> Module::named_parameters() const {
  std::vector<std::pair<std::string, Tensor>> out;
  for (const auto& [n, t] : params_) out.emplace_back(join(path_, n), t);
  for (const auto& [n, c] : children_) {
    auto sub = c->named_parameters();
    out.insert(out.end(), sub.begin(), sub.end());
  }
  return out;
}

std::vector<std::pair<std::string, Tensor>> Module::named_buffers() const {
  std::vector<std::pair<std::string, Tensor>> out;
  for (const auto& [n, t] : buffers_) out.emplace_back(join(path_, n), t);
  for (const auto& [n, c] : children_) {
    auto sub = c->named_buffers();
    out.insert(out.end(), sub.begin(), sub.end());
  }
  return out;
}

std::vector<std::pair<std::string, Module*>> Module::named_modules() {
  std::vector<std::pair<std::string, Module*>> out{{path_, this}};
  for (auto& [n, c] : children_) {
    auto sub = c->named_modules();
    out.insert(out.end(), sub.begin(), sub.end());
  }
  return out;
}

std::vector<Tensor> Module::parameters() const {
  std::vector<Tensor> out;
  for (auto& [n, t] : named_parameters()) out.push_back(t);
  return out;
}

Module* Module::find(const std::string& path) {
  if (path.empty()) return this;
  const auto dot = path.find('.');
  const std::string head = path.substr(0, dot);
  for (auto& [n, c] : children_) {
    if (n == head) return dot == std::string::npos ? c.get() : c->find(path.substr(dot + 1));
  }
  return nullptr;
}

Tensor Module::local_tensor(const std::string& name) const {
  for (const auto& [n, t] : params_) {
    if (n == name) return t;
  }
  for (const auto& [n, t] : buffers_) {
    if (n == name) return t;
  }
  return Tensor();
}

void Module::replace_tensor(const std::string& name, const Tensor& t) {
  for (auto* list : {&params_, &buffers_}) {
    for (auto& [n, old] : *list) {
      if (n == name) {
        const bool req = list == &params_;
        old = t.is_leaf() ? t : t.detach();
        if (req && !old.requires_grad()) old.set_requires_grad(true);
        old.set_name(join(path_, n));
        return;
      }
    }
  }
  throw std::invalid_argument("module " + path_ + ": no parameter or buffer named " + name);
}

void Module::replace_child(const std::string& name, std::shared_ptr<Module> m) {
  for (auto& [n, c] : children_) {
    if (n == name) {
      c = std::move(m);
      c->set_path(join(path_, n));
      c->train(training_);
      return;
    }
  }
  throw std::invalid_argument("module " + path_ + ": no child named " + name);
}

void Module::train(bool on) {
  training_ = on;
  for (auto& [n, c] : children_) c->train(on);
}

int Module::add_forward_hook(ForwardHook hook) {
  forward_hooks_.emplace_back(next_hook_id_, std::move(hook));
  return next_hook_id_++;
}

int Module::add_backward_hook(BackwardHook hook) {
  backward_hooks_.emplace_back(next_hook_id_, std::move(hook));
  return next_hook_id_++;
}

void Module::remove_hook(int id) {
  std::erase_if(forward_hooks_, [id](const auto& p) { return p.first == id; });
  std::erase_if(backward_hooks_, [id](const auto& p) { return p.first == id; });
}

void Module::clear_hooks() {
  forward_hooks_.clear();
  backward_hooks_.clear();
}

int64_t Module::parameter_count() const {
  int64_t n = 0;
  for (const auto& [name, t] : named_parameters()) n += t.numel();
  return n;
}

Tensor& Module::register_parameter(const std::string& name, Tensor t) {
  t.set_requires_grad(true);
  t.set_name(join(path_, name));
  params_.emplace_back(name, std::move(t));
  return params_.back().second;
}

Tensor& Module::register_buffer(const std::string& name, Tensor t) {
  t.set_name(join(path_, name));
  buffers_.emplace_back(name, std::move(t));
  return buffers_.back().second;
}

void Module::add_child(const std::string& name, std::shared_ptr<Module> m) {
  if (!m) throw std::invalid_argument("module " + path_ + ": child " + name + " is null");
  m->set_path(join(path_, name));
  children_.emplace_back(name, std::move(m));
}

void Module::set_path(const std::string& path) {
  path_ = path;
  for (auto& [n, t] : params_) t.set_name(join(path_, n));
  for (auto& [n, t] : buffers_) t.set_name(join(path_, n));
  for (auto& [n, c] : children_) c->set_path(join(path_, n));
}

Generator& init_generator() {
  static Generator g(0, 1);
  return g;
}
Generator& dropout_generator() {
  static Generator g(0, 2);
  return g;
}
void manual_seed(uint64_t seed) {
  init_generator() = Generator(seed, 1);
  dropout_generator() = Generator(seed, 2);
}

void Module::to(Device device) {
  for (auto& [name, p] : named_parameters()) p.move_to_(device);
  for (auto& [name, b] : named_buffers()) {
    if (b.dtype() == DType::F32) b.move_to_(device);
  }
}

Device Module::device() const {
  // The first parameter in named_parameters() order, found without building the names (this is
  // asked once per batch by evaluation and the explanation methods).
  const std::function<const Tensor*(const Module&)> first = [&](const Module& m) -> const Tensor* {
    if (!m.params_.empty()) return &m.params_.front().second;
    for (const auto& [n, c] : m.children_) {
      if (const Tensor* t = first(*c)) return t;
    }
    return nullptr;
  };
  const Tensor* t = first(*this);
  return t ? t->device() : Device{};
}

}  // namespace gb
