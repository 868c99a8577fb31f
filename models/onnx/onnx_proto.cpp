// Reading ONNX protobuf pieces: node attributes with their defaults, and TensorProto values
// (raw_data or the typed fields, little-endian) into ConstValue.
#include <cstring>
#include <stdexcept>

#include "kernels/float_formats.h"
#include "models/onnx/onnx_context.h"

namespace gb::models::onnx_import {
namespace {
const onnx::AttributeProto* find_attr(const onnx::NodeProto& node, const char* name) {
  for (const auto& a : node.attribute()) {
    if (a.name() == name) return &a;
  }
  return nullptr;
}

template <class T>
std::vector<double> raw_values(const std::string& raw) {
  std::vector<double> out(raw.size() / sizeof(T));
  for (size_t i = 0; i < out.size(); ++i) {
    T v;
    std::memcpy(&v, raw.data() + i * sizeof(T), sizeof(T));
    out[i] = static_cast<double>(v);
  }
  return out;
}
// A FLOAT16 or BFLOAT16 tensor's values, widened exactly: raw_data holds little-endian 16-bit
// patterns, int32_data one pattern per element (in its low 16 bits).
std::vector<double> half_values(const onnx::TensorProto& t) {
  std::vector<double> bits =
      t.has_raw_data() ? raw_values<uint16_t>(t.raw_data())
                       : std::vector<double>(t.int32_data().begin(), t.int32_data().end());
  const bool f16 = t.data_type() == onnx::TensorProto::FLOAT16;
  for (double& v : bits) {
    const auto h = static_cast<uint16_t>(static_cast<int64_t>(v) & 0xffff);
    v = f16 ? kernels::float_from_f16(h) : kernels::float_from_bf16(h);
  }
  return bits;
}

}  // namespace

int64_t checked_numel(const std::vector<int64_t>& shape, const std::string& what) {
  int64_t n = 1;
  for (int64_t d : shape) {
    if (d < 0) throw std::runtime_error(what + " has a negative dimension in " + shape_str(shape));
    if (d != 0 && n > kMaxImportElements / d) {
      throw std::runtime_error(what + " has shape " + shape_str(shape) + ", more than " +
                               std::to_string(kMaxImportElements) + " elements (refused)");
    }
    n *= d;
  }
  return n;
}

Tensor ConstValue::as_tensor() const {
  std::vector<float> v(data.begin(), data.end());
  return Tensor::from_vector(shape, v);
}

bool has_attr(const onnx::NodeProto& node, const char* name) {
  return find_attr(node, name) != nullptr;
}

int64_t attr_int(const onnx::NodeProto& node, const char* name, int64_t fallback) {
  const auto* a = find_attr(node, name);
  return a ? a->i() : fallback;
}

float attr_float(const onnx::NodeProto& node, const char* name, float fallback) {
  const auto* a = find_attr(node, name);
  return a ? a->f() : fallback;
}

std::string attr_string(const onnx::NodeProto& node, const char* name,
                        const std::string& fallback) {
  const auto* a = find_attr(node, name);
  return a ? a->s() : fallback;
}

std::vector<int64_t> attr_ints(const onnx::NodeProto& node, const char* name) {
  const auto* a = find_attr(node, name);
  if (!a) return {};
  return {a->ints().begin(), a->ints().end()};
}

const onnx::TensorProto* attr_tensor(const onnx::NodeProto& node, const char* name) {
  const auto* a = find_attr(node, name);
  return a && a->has_t() ? &a->t() : nullptr;
}

ConstValue read_tensor(const onnx::TensorProto& t) {
  const std::string what = "tensor '" + t.name() + "'";
  if (t.data_location() == onnx::TensorProto::EXTERNAL || t.external_data_size() > 0) {
    throw std::runtime_error(what + " keeps its data in an external file; glassbox reads "
                             "only self-contained .onnx files so far (save with all tensors inside)");
  }
  ConstValue v;
  for (int64_t d : t.dims()) v.shape.push_back(d);
  const int64_t count = checked_numel(v.shape, what);
  const bool raw = t.has_raw_data();
  switch (t.data_type()) {
    case onnx::TensorProto::FLOAT:
      v.data = raw ? raw_values<float>(t.raw_data())
                   : std::vector<double>(t.float_data().begin(), t.float_data().end());
      break;
    case onnx::TensorProto::DOUBLE:
      v.data = raw ? raw_values<double>(t.raw_data())
                   : std::vector<double>(t.double_data().begin(), t.double_data().end());
      break;
    case onnx::TensorProto::INT64:
      v.is_int = true;
      v.data = raw ? raw_values<int64_t>(t.raw_data())
                   : std::vector<double>(t.int64_data().begin(), t.int64_data().end());
      break;
    case onnx::TensorProto::INT32:
      v.is_int = true;
      v.data = raw ? raw_values<int32_t>(t.raw_data())
                   : std::vector<double>(t.int32_data().begin(), t.int32_data().end());
      break;
    case onnx::TensorProto::FLOAT16:
    case onnx::TensorProto::BFLOAT16:
      v.data = half_values(t);
      break;
    default:
      throw std::runtime_error(what + " has element type " + std::to_string(t.data_type()) +
                               "; glassbox reads float, double, float16, bfloat16, int32 and "
                               "int64 tensors");
  }
  if (static_cast<int64_t>(v.data.size()) != count) {
    throw std::runtime_error(what + " holds " + std::to_string(v.data.size()) +
                             " values for shape " + shape_str(v.shape) + " (truncated?)");
  }
  return v;
}

}  // namespace gb::models::onnx_import
