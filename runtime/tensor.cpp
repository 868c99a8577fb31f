// Tensor construction, metadata, raw element access and the autograd entry points.
#include "runtime/tensor.h"

#include <cstring>
#include <sstream>
#include <stdexcept>

#include "runtime/autograd.h"
#include "runtime/device_copy.h"
#include "runtime/rng.h"

namespace gb {

std::string shape_str(const Shape& s) {
  std::ostringstream os;
  os << "[";
  for (size_t i = 0; i < s.size(); ++i) os << (i ? ", " : "") << s[i];
  os << "]";
  return os.str();
}

int64_t shape_numel(const Shape& s) {
  int64_t n = 1;
  for (int64_t d : s) {
    if (__builtin_mul_overflow(n, d, &n)) {
      throw std::runtime_error("shape " + shape_str(s) + " has more elements than int64 holds");
    }
  }
  return n;
}

Shape contiguous_strides(const Shape& s) {
  Shape st(s.size());
  int64_t acc = 1;
  for (size_t i = s.size(); i-- > 0;) {
    st[i] = acc;
    acc *= s[i];
  }
  return st;
}

Tensor Tensor::empty(const Shape& shape, DType dtype, Device device) {
  for (int64_t d : shape) {
    if (d < 0) throw std::invalid_argument("tensor: negative size in shape " + shape_str(shape));
  }
  auto impl = std::make_shared<TensorImpl>();
  impl->storage =
      std::make_shared<Storage>(static_cast<size_t>(shape_numel(shape)) * dtype_size(dtype), device);
  impl->shape = shape;
  impl->strides = contiguous_strides(shape);
  impl->dtype = dtype;
  return Tensor(std::move(impl));
}

Tensor Tensor::zeros(const Shape& shape, DType dtype, Device device) {
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = std::make_shared<Storage>(
      static_cast<size_t>(shape_numel(shape)) * dtype_size(dtype), device, /*zero=*/true);
  impl->shape = shape;
  impl->strides = contiguous_strides(shape);
  impl->dtype = dtype;
  return Tensor(std::move(impl));
}

Tensor Tensor::ones(const Shape& shape) { return full(shape, 1.0f); }

Tensor Tensor::full(const Shape& shape, float value) {
  Tensor t = empty(shape);
  t.fill_(value);
  return t;
}

Tensor Tensor::from_vector(const Shape& shape, const std::vector<float>& values) {
  if (shape_numel(shape) != static_cast<int64_t>(values.size())) {
    throw std::invalid_argument("tensor: " + std::to_string(values.size()) +
                                " values do not fill shape " + shape_str(shape));
  }
  Tensor t = empty(shape);
  if (!values.empty()) std::memcpy(t.f32(), values.data(), values.size() * sizeof(float));
  return t;
}

Tensor Tensor::from_labels(const std::vector<int64_t>& labels) {
  Tensor t = empty({static_cast<int64_t>(labels.size())}, DType::I64);
  if (!labels.empty())
    std::memcpy(t.data<int64_t>(), labels.data(), labels.size() * sizeof(int64_t));
  return t;
}

Tensor Tensor::scalar(float value) { return full({}, value); }

Tensor Tensor::randn(const Shape& shape, Generator& gen, float stddev) {
  Tensor t = empty(shape);
  float* p = t.f32();
  for (int64_t i = 0, n = t.numel(); i < n; ++i) p[i] = gen.normal() * stddev;
  return t;
}

Tensor Tensor::uniform(const Shape& shape, Generator& gen, float low, float high) {
  Tensor t = empty(shape);
  float* p = t.f32();
  for (int64_t i = 0, n = t.numel(); i < n; ++i) p[i] = low + (high - low) * gen.uniform();
  return t;
}

int64_t Tensor::size(int64_t d) const {
  const int64_t nd = dim();
  if (d < 0) d += nd;
  if (d < 0 || d >= nd) {
    throw std::out_of_range("tensor: dimension " + std::to_string(d) + " out of range for shape " +
                            shape_str(shape()));
  }
  return impl_->shape[static_cast<size_t>(d)];
}

bool Tensor::is_contiguous() const {
  int64_t expected = 1;
  for (size_t i = impl_->shape.size(); i-- > 0;) {
    if (impl_->shape[i] == 1) continue;
    if (impl_->strides[i] != expected) return false;
    expected *= impl_->shape[i];
  }
  return true;
}

float* Tensor::f32() const {
  if (impl_->dtype != DType::F32) {
    throw std::runtime_error(std::string("tensor: expected dtype F32, got ") +
                             dtype_name(impl_->dtype));
  }
  return data<float>();
}

const int64_t* Tensor::i64() const {
  if (impl_->dtype != DType::I64) {
    throw std::runtime_error(std::string("tensor: expected dtype I64, got ") +
                             dtype_name(impl_->dtype));
  }
  return data<int64_t>();
}

namespace {
// Calls fn(flat_logical_index, storage_offset) over every element of a strided view.
template <class Fn>
void for_each_strided(const Shape& shape, const Shape& strides, int64_t offset, Fn&& fn) {
  const int64_t n = shape_numel(shape);
  const size_t nd = shape.size();
  std::vector<int64_t> idx(nd, 0);
  int64_t off = offset;
  for (int64_t i = 0; i < n; ++i) {
    fn(i, off);
    for (size_t d = nd; d-- > 0;) {
      if (++idx[d] < shape[d]) {
        off += strides[d];
        break;
      }
      off -= strides[d] * (shape[d] - 1);
      idx[d] = 0;
    }
  }
}
}  // namespace

std::vector<float> Tensor::to_vector() const {
  const float* base = static_cast<const float*>(impl_->storage->data());
  if (impl_->dtype != DType::F32) {
    throw std::runtime_error("tensor: to_vector needs F32");
  }
  std::vector<float> out(static_cast<size_t>(numel()));
  if (device().type != DeviceType::Cpu) {
    const Tensor dense = is_contiguous() ? *this : clone();
    device_to_host(out.data(), dense.data<float>(), out.size() * sizeof(float));
    return out;
  }
  if (is_contiguous()) {
    std::memcpy(out.data(), base + impl_->offset, out.size() * sizeof(float));
  } else {
    for_each_strided(shape(), strides(), impl_->offset,
                     [&](int64_t i, int64_t off) { out[static_cast<size_t>(i)] = base[off]; });
  }
  return out;
}

float Tensor::item() const {
  if (numel() != 1) {
    throw std::runtime_error("tensor: item() needs one element, shape is " + shape_str(shape()));
  }
  return to_vector()[0];
}

Tensor Tensor::detach() const {
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = impl_->storage;
  impl->offset = impl_->offset;
  impl->shape = impl_->shape;
  impl->strides = impl_->strides;
  impl->dtype = impl_->dtype;
  return Tensor(std::move(impl));
}

Tensor Tensor::clone() const {
  Tensor out = empty(shape(), dtype(), device());
  out.copy_(*this);
  return out;
}

void Tensor::copy_(const Tensor& src) {
  if (src.shape() != shape()) {
    throw std::invalid_argument("tensor: copy_ from shape " + shape_str(src.shape()) + " into " +
                                shape_str(shape()));
  }
  if (src.dtype() != dtype()) throw std::invalid_argument("tensor: copy_ between dtypes");
  if (device().type != DeviceType::Cpu || src.device().type != DeviceType::Cpu) {
    copy_across_devices(*this, src);
    return;
  }
  const size_t es = dtype_size(dtype());
  char* dst = static_cast<char*>(impl_->storage->data());
  const char* from = static_cast<const char*>(src.impl_->storage->data());
  if (is_contiguous() && src.is_contiguous()) {
    std::memmove(dst + impl_->offset * es, from + src.offset() * es,
                 static_cast<size_t>(numel()) * es);
    return;
  }
  std::vector<int64_t> src_offsets(static_cast<size_t>(numel()));
  for_each_strided(src.shape(), src.strides(), src.offset(),
                   [&](int64_t i, int64_t off) { src_offsets[static_cast<size_t>(i)] = off; });
  for_each_strided(shape(), strides(), impl_->offset, [&](int64_t i, int64_t off) {
    std::memcpy(dst + off * es, from + src_offsets[static_cast<size_t>(i)] * es, es);
  });
}

void Tensor::throw_undefined() {
  throw std::logic_error(
      "tensor: used while undefined (a default-constructed Tensor, such as a module's parameter "
      "or buffer that does not exist: check defined() first)");
}

void Tensor::fill_(float value) {
  if (dtype() != DType::F32) throw std::runtime_error("tensor: fill_ needs F32");
  float* base = static_cast<float*>(impl_->storage->data());
  if (device().type != DeviceType::Cpu) {
    fill_on_device(*this, value);
    return;
  }
  if (is_contiguous()) {
    float* p = base + impl_->offset;
    for (int64_t i = 0, n = numel(); i < n; ++i) p[i] = value;
  } else {
    for_each_strided(shape(), strides(), impl_->offset,
                     [&](int64_t, int64_t off) { base[off] = value; });
  }
}

Tensor Tensor::to(Device device) const {
  if (this->device() == device) return *this;
  Tensor out = empty(shape(), dtype(), device);
  out.copy_(*this);
  return out;
}

void Tensor::move_to_(Device device) {
  if (this->device() == device) return;
  Tensor moved = to(device);
  impl_->storage = moved.storage();
  impl_->offset = 0;
  impl_->strides = moved.strides();
  if (impl_->grad) impl_->grad = Tensor(impl_->grad).to(device).impl_ptr();
}

Tensor& Tensor::set_requires_grad(bool on) {
  if (on && impl_->dtype != DType::F32) {
    throw std::invalid_argument("tensor: only floating tensors can require grad");
  }
  if (!is_leaf()) throw std::logic_error("tensor: requires_grad can only be set on a leaf");
  impl_->requires_grad = on;
  return *this;
}

void Tensor::backward(const Tensor& seed) const { gb::backward(*this, seed); }

void Tensor::register_hook(GradHook hook) const {
  if (is_leaf() && requires_grad()) {
    impl_->leaf_hooks.push_back(std::move(hook));
    return;
  }
  auto node = gradient_edge(*this);
  if (!node) throw std::logic_error("tensor: register_hook on a tensor that does not require grad");
  node->hooks.push_back(std::move(hook));
}

void Tensor::retain_grad() const {
  if (is_leaf()) return;  // leaves keep their grad anyway
  impl_->grad_fn->retained = impl_;
}

Tensor make_view(const Tensor& base, Shape shape, Shape strides, int64_t offset) {
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = base.storage();
  impl->offset = offset;
  impl->shape = std::move(shape);
  impl->strides = std::move(strides);
  impl->dtype = base.dtype();
  return Tensor(std::move(impl));
}

}  // namespace gb
