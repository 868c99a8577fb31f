// Chain: a module whose named children run in registration order (a Sequential with PyTorch-style
// names such as conv1, bn1, layer1, fc instead of 0, 1, 2), used as the root of most models.
// call_child runs a child by name; blocks use it instead of cached pointers so that a child
// swapped with Module::replace_child (pruning, surgery) is the one that runs.
// Shape letters: N batch, C channels, H/W height/width.
#pragma once
#include <memory>
#include <string>
#include <utility>

#include "runtime/module.h"

namespace gb::models {

// Runs child `name` of `parent` on `x`. Throws std::logic_error if there is no such child.
Tensor call_child(Module& parent, const std::string& name, const Tensor& x);

class Chain : public Module {
 public:
  // `type` is what type_name() reports ("ResNet", "VGG").
  explicit Chain(std::string type) : type_(std::move(type)) {}
  template <class M>
  std::shared_ptr<M> add(const std::string& name, std::shared_ptr<M> m) {
    return register_module(name, std::move(m));
  }
  Tensor forward(const Tensor& x) override;
  std::string type_name() const override { return type_; }

 private:
  std::string type_;
};

}  // namespace gb::models
