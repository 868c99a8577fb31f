// nn modules: a tree of named parameters, buffers and children with train/eval mode and hooks.
// Names follow PyTorch (`layer1.0.conv1.weight`, `bn1.running_mean`) so weights move between the
// two. Every module call runs inside a ModuleScope so autograd nodes know which module made them.
// Hooks: forward hooks see (module, input, output) and may replace the output; backward hooks see
// the gradient of the module's output. Together with autograd::grad this is the interface the
// interpretability and pruning code is built on.
#pragma once
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "runtime/tensor.h"

namespace gb {

class Module;
// Returns a replacement output, or an undefined Tensor to keep the output.
using ForwardHook = std::function<Tensor(Module& m, const Tensor& input, const Tensor& output)>;
using BackwardHook = std::function<void(Module& m, const Tensor& grad_output)>;

class Module {
 public:
  virtual ~Module() = default;
  Module() = default;
  Module(const Module&) = delete;
  Module& operator=(const Module&) = delete;

  // Runs forward() inside this module's scope, then the forward hooks, and arranges the backward
  // hooks on the output.
  Tensor operator()(const Tensor& input);
  // The same around `compute` instead of forward(): for a module that reads several tensors (a
  // graph node adding two values); the hooks see `hook_input` as the input.
  Tensor call(const Tensor& hook_input, const std::function<Tensor()>& compute);
  virtual Tensor forward(const Tensor& input) = 0;
  // Short type name for tables ("Conv2d", "BasicBlock").
  virtual std::string type_name() const = 0;
  // Extra description for summaries ("16->32, k3 s2 p1").
  virtual std::string describe() const { return ""; }

  // Tree. Children and parameters are named when registered; paths are dotted from the root.
  const std::string& path() const { return path_; }
  std::vector<std::pair<std::string, Tensor>> named_parameters() const;
  std::vector<std::pair<std::string, Tensor>> named_buffers() const;
  std::vector<std::pair<std::string, Module*>> named_modules();  // includes this one as ""
  const std::vector<std::pair<std::string, std::shared_ptr<Module>>>& children() const {
    return children_;
  }
  std::vector<Tensor> parameters() const;
  // The module at dotted `path` relative to this one; nullptr if none.
  Module* find(const std::string& path);
  // Parameter or buffer by local name; undefined Tensor if none.
  Tensor local_tensor(const std::string& name) const;
  // Replaces the parameter or buffer `name` (local) with `t` (used by pruning and loading).
  void replace_tensor(const std::string& name, const Tensor& t);
  // Replaces the child `name` (local) with `m`.
  void replace_child(const std::string& name, std::shared_ptr<Module> m);

  void train(bool on = true);
  void eval() { train(false); }
  bool is_training() const { return training_; }

  // Hooks; the returned id removes them.
  int add_forward_hook(ForwardHook hook);
  int add_backward_hook(BackwardHook hook);
  void remove_hook(int id);
  void clear_hooks();
  // True when any forward or backward hook is registered on this module (not its children).
  bool has_hooks() const { return !forward_hooks_.empty() || !backward_hooks_.empty(); }

  int64_t parameter_count() const;

  // Moves every parameter and floating-point buffer of this module and its children to
  // `device`, in place (handles held elsewhere see the move). Integer buffers such as
  // num_batches_tracked are host counters and stay on the CPU.
  void to(Device device);
  // The device of the first parameter (the CPU for a module without parameters).
  Device device() const;

 protected:
  Tensor& register_parameter(const std::string& name, Tensor t);
  Tensor& register_buffer(const std::string& name, Tensor t);
  template <class M>
  std::shared_ptr<M> register_module(const std::string& name, std::shared_ptr<M> m) {
    add_child(name, m);
    return m;
  }

 private:
  void add_child(const std::string& name, std::shared_ptr<Module> m);
  void set_path(const std::string& path);

  std::string path_;
  bool training_ = true;
  std::vector<std::pair<std::string, Tensor>> params_;
  std::vector<std::pair<std::string, Tensor>> buffers_;
  std::vector<std::pair<std::string, std::shared_ptr<Module>>> children_;
  std::vector<std::pair<int, ForwardHook>> forward_hooks_;
  std::vector<std::pair<int, BackwardHook>> backward_hooks_;
  int next_hook_id_ = 1;
};

using ModulePtr = std::shared_ptr<Module>;

// Puts a module in eval mode for the scope and restores its training flag afterwards.
class EvalModeScope {
 public:
  explicit EvalModeScope(Module& m) : m_(m), was_training_(m.is_training()) { m_.eval(); }
  ~EvalModeScope() { m_.train(was_training_); }
  EvalModeScope(const EvalModeScope&) = delete;
  EvalModeScope& operator=(const EvalModeScope&) = delete;

 private:
  Module& m_;
  bool was_training_;
};

// The global generator for parameter initialisation and dropout masks, reset by manual_seed.
class Generator;
Generator& init_generator();
Generator& dropout_generator();
void manual_seed(uint64_t seed);

}  // namespace gb
