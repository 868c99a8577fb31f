// Chain's forward and the call-a-child-by-name helper.
#include "models/chain.h"

#include <stdexcept>

#include "runtime/fusion.h"

namespace gb::models {

Tensor call_child(Module& parent, const std::string& name, const Tensor& x) {
  Module* m = parent.find(name);
  if (m == nullptr) {
    throw std::logic_error("module '" + parent.path() + "' (" + parent.type_name() +
                           ") has no child '" + name + "'");
  }
  return (*m)(x);
}

Tensor Chain::forward(const Tensor& x) { return nn::forward_children_fused(*this, x); }

}  // namespace gb::models
