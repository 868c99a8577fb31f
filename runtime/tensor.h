// Tensor: a shaped, strided view of shared Storage, with the autograd state that makes it
// differentiable (requires_grad, grad, the Node that produced it, gradient hooks).
// Shapes are vectors of int64 sizes; strides are in elements. A Tensor is a cheap handle:
// copies share the same TensorImpl (like torch.Tensor). Differentiable view and math ops live in
// runtime/ops.h; this header holds construction, metadata, raw access and autograd entry points.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "runtime/device.h"
#include "runtime/storage.h"

namespace gb {

using Shape = std::vector<int64_t>;
class Generator;
struct Node;
class Tensor;

std::string shape_str(const Shape& s);
int64_t shape_numel(const Shape& s);
Shape contiguous_strides(const Shape& s);

// A hook on a tensor's gradient: sees the gradient when it is computed and may return a
// replacement (an undefined Tensor keeps the original).
using GradHook = std::function<Tensor(const Tensor& grad)>;

struct TensorImpl {
  std::shared_ptr<Storage> storage;
  int64_t offset = 0;  // in elements
  Shape shape;
  Shape strides;
  DType dtype = DType::F32;

  // Autograd state.
  bool requires_grad = false;
  std::shared_ptr<TensorImpl> grad;        // accumulated gradient of a leaf (or retained)
  std::shared_ptr<Node> grad_fn;           // producer, for non-leaf tensors
  std::weak_ptr<Node> grad_accumulator;    // for leaves: the node that accumulates into grad
  std::string name;                        // parameter name ("layer1.0.conv1.weight") if any
  std::vector<GradHook> leaf_hooks;  // gradient hooks of a leaf (its accumulator is made lazily)
};

class Tensor {
 public:
  Tensor() = default;
  explicit Tensor(std::shared_ptr<TensorImpl> impl) : impl_(std::move(impl)) {}

  // Construction. All return contiguous CPU tensors unless a device is given.
  static Tensor empty(const Shape& shape, DType dtype = DType::F32, Device device = {});
  static Tensor zeros(const Shape& shape, DType dtype = DType::F32, Device device = {});
  static Tensor ones(const Shape& shape);
  static Tensor full(const Shape& shape, float value);
  static Tensor from_vector(const Shape& shape, const std::vector<float>& values);
  static Tensor from_labels(const std::vector<int64_t>& labels);  // I64 [N]
  static Tensor scalar(float value);
  // Seeded random tensors (Philox streams, so identical across threads and runs).
  static Tensor randn(const Shape& shape, Generator& gen, float stddev = 1.0f);
  static Tensor uniform(const Shape& shape, Generator& gen, float low, float high);

  bool defined() const { return impl_ != nullptr; }
  const Shape& shape() const { return live().shape; }
  const Shape& strides() const { return live().strides; }
  int64_t dim() const { return static_cast<int64_t>(live().shape.size()); }
  // size(d) accepts negative d counting from the end.
  int64_t size(int64_t d) const;
  int64_t numel() const { return shape_numel(live().shape); }
  int64_t offset() const { return live().offset; }
  DType dtype() const { return live().dtype; }
  Device device() const { return live().storage->device(); }
  bool is_contiguous() const;
  const std::shared_ptr<Storage>& storage() const { return live().storage; }
  TensorImpl* impl() const { return impl_.get(); }
  const std::shared_ptr<TensorImpl>& impl_ptr() const { return impl_; }
  bool same(const Tensor& o) const { return impl_ == o.impl_; }

  // Raw element access at the view's offset. requires: dtype matches T.
  template <class T>
  T* data() const {
    return static_cast<T*>(live().storage->data()) + impl_->offset;
  }
  float* f32() const;  // checks dtype F32
  const int64_t* i64() const;  // checks dtype I64

  // A contiguous F32 copy of the elements in logical order.
  std::vector<float> to_vector() const;
  // The single element of a one-element tensor.
  float item() const;

  // A new tensor sharing storage but cut from the graph (no grad_fn, requires_grad false).
  Tensor detach() const;
  // A contiguous copy with its own storage, cut from the graph.
  Tensor clone() const;
  // A contiguous copy on `device` (this tensor itself when already there), cut from the graph.
  Tensor to(Device device) const;
  // Moves this tensor's values to `device` in place: every handle sharing this TensorImpl (a
  // module's parameter, say) sees the new storage. Its gradient, if any, moves too.
  void move_to_(Device device);
  // Copies values from `src` (same shape, any device) into this tensor's storage; not recorded
  // by autograd.
  void copy_(const Tensor& src);
  void fill_(float value);
  void zero_() { fill_(0.0f); }

  // Autograd.
  bool requires_grad() const { return live().requires_grad; }
  Tensor& set_requires_grad(bool on);
  bool is_leaf() const { return live().grad_fn == nullptr; }
  const std::shared_ptr<Node>& grad_fn() const { return live().grad_fn; }
  Tensor grad() const { return live().grad ? Tensor(impl_->grad) : Tensor(); }
  void set_grad(const Tensor& g) { live().grad = g.impl_; }
  void zero_grad() { live().grad.reset(); }
  const std::string& name() const { return live().name; }
  void set_name(std::string n) { live().name = std::move(n); }
  // Backpropagates from this tensor; a scalar needs no seed gradient.
  void backward(const Tensor& seed = {}) const;
  // Registers a hook called with this tensor's gradient during backward.
  void register_hook(GradHook hook) const;
  // Keeps this non-leaf tensor's gradient in grad() after backward.
  void retain_grad() const;

 private:
  // The impl; a std::logic_error naming the misuse for an undefined (default-constructed) tensor,
  // such as a module's missing parameter, instead of a null dereference.
  TensorImpl& live() const {
    if (!impl_) [[unlikely]] throw_undefined();
    return *impl_;
  }
  [[noreturn]] static void throw_undefined();

  std::shared_ptr<TensorImpl> impl_;
};

// Makes a tensor handle that views `base`'s storage with a new shape/strides/offset.
Tensor make_view(const Tensor& base, Shape shape, Shape strides, int64_t offset);

}  // namespace gb
