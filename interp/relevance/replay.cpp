// replay / vjp (replay.h): one switch from OpId to the ops:: call, attributes read back from
// the trace. Shape letters: N batch, C channels, K output channels.
#include "interp/relevance/replay.h"

#include <fmt/format.h>

#include <stdexcept>

#include "runtime/autograd.h"
#include "runtime/ops.h"

namespace gb::interp::relevance {
namespace {

int64_t attr(const TracedOp& t, const char* name, size_t i = 0) {
  return static_cast<int64_t>(t.attrs.at(name).at(i));
}

ops::Pool2dOptions pool_options(const TracedOp& t) {
  ops::Pool2dOptions o{};
  o.kernel_h = attr(t, "kernel", 0);
  o.kernel_w = attr(t, "kernel", 1);
  o.stride_h = attr(t, "stride", 0);
  o.stride_w = attr(t, "stride", 1);
  o.pad_h = attr(t, "padding", 0);
  o.pad_w = attr(t, "padding", 1);
  o.ceil_mode = attr(t, "ceil_mode") != 0;
  o.count_include_pad = attr(t, "count_include_pad") != 0;
  return o;
}

std::vector<int64_t> int_list(const TracedOp& t, const char* name) {
  std::vector<int64_t> v;
  for (double d : t.attrs.at(name)) v.push_back(static_cast<int64_t>(d));
  return v;
}

Tensor replay_parameter_op(const TracedOp& t, const std::vector<Tensor>& in) {
  const Tensor bias = in.size() > 2 ? in[2] : Tensor();
  switch (*t.op) {
    case OpId::Conv2d: {
      ops::Conv2dOptions o;
      o.stride_h = attr(t, "stride", 0);
      o.stride_w = attr(t, "stride", 1);
      o.pad_h = attr(t, "padding", 0);
      o.pad_w = attr(t, "padding", 1);
      o.dilation_h = attr(t, "dilation", 0);
      o.dilation_w = attr(t, "dilation", 1);
      o.groups = attr(t, "groups");
      return ops::conv2d(in[0], in[1], bias, o);
    }
    case OpId::ConvTranspose2d: {
      ops::ConvTranspose2dOptions o;
      o.stride_h = attr(t, "stride", 0);
      o.stride_w = attr(t, "stride", 1);
      o.pad_h = attr(t, "padding", 0);
      o.pad_w = attr(t, "padding", 1);
      o.output_padding_h = attr(t, "output_padding", 0);
      o.output_padding_w = attr(t, "output_padding", 1);
      o.groups = attr(t, "groups");
      return ops::conv_transpose2d(in[0], in[1], bias, o);
    }
    default:
      return ops::linear(in[0], in[1], bias);
  }
}

Tensor replay_pointwise(const TracedOp& t, const std::vector<Tensor>& in) {
  switch (*t.op) {
    case OpId::Relu:
      return ops::relu(in[0]);
    case OpId::Gelu:
      return ops::gelu(in[0]);
    case OpId::Clamp:
      return ops::clamp(in[0], static_cast<float>(t.attrs.at("lo").at(0)),
                        static_cast<float>(t.attrs.at("hi").at(0)));
    case OpId::LeakyRelu:
      return ops::leaky_relu(in[0], static_cast<float>(t.attrs.at("alpha").at(0)));
    case OpId::Sigmoid:
      return ops::sigmoid(in[0]);
    case OpId::Tanh:
      return ops::tanh(in[0]);
    case OpId::HardSigmoid:
      return ops::hardsigmoid(in[0], static_cast<float>(t.attrs.at("alpha").at(0)),
                              static_cast<float>(t.attrs.at("beta").at(0)));
    case OpId::HardSwish:
      return ops::hardswish(in[0]);
    case OpId::PRelu:
      return ops::prelu(in[0], in[1]);
    case OpId::Scale:
      return ops::scale(in[0], static_cast<float>(t.attrs.at("factor").at(0)));
    case OpId::Dropout:
    case OpId::Mul:
      return ops::mul(in[0], in[1]);
    case OpId::Div:
      return ops::div(in[0], in[1]);
    case OpId::BatchNorm2d:
      return ops::batch_norm(in[0], in[1], in[2], in.at(3), in.at(4), false, 0.1f,
                             static_cast<float>(t.attrs.at("epsilon").at(0)));
    default:
      throw std::invalid_argument(fmt::format("relevance: cannot replay op '{}'", t.label));
  }
}

}  // namespace

Tensor replay(const TracedOp& t, const std::vector<Tensor>& in) {
  if (!t.op) throw std::invalid_argument(fmt::format("relevance: cannot replay '{}'", t.label));
  switch (*t.op) {
    case OpId::Conv2d:
    case OpId::ConvTranspose2d:
    case OpId::Linear:
      return replay_parameter_op(t, in);
    case OpId::Add:
      return ops::add(in[0], in[1]);
    case OpId::Sub:
      return ops::sub(in[0], in[1]);
    case OpId::MatMul:
      return ops::matmul(in[0], in[1]);
    case OpId::MaxPool2d:
      return ops::max_pool2d(in[0], pool_options(t));
    case OpId::AvgPool2d:
      return ops::avg_pool2d(in[0], pool_options(t));
    case OpId::GlobalAvgPool:
      return ops::global_avg_pool(in[0]);
    case OpId::Sum:
      return ops::sum(in[0], int_list(t, "dims"), attr(t, "keepdim") != 0);
    case OpId::Mean:
      return ops::mean(in[0], int_list(t, "dims"), attr(t, "keepdim") != 0);
    case OpId::Reshape:
      return ops::reshape(in[0], t.output.shape());
    case OpId::Permute:
      return ops::permute(in[0], int_list(t, "dims"));
    case OpId::Slice:
      return ops::slice(in[0], attr(t, "dim"), attr(t, "start"), attr(t, "end"), attr(t, "step"));
    case OpId::Copy: {
      // contiguous() of a contiguous leaf copy would not copy: route through a reshape.
      return ops::reshape(in[0], t.output.shape());
    }
    case OpId::Pad2d:
      return ops::pad2d(in[0], attr(t, "pads", 0), attr(t, "pads", 1), attr(t, "pads", 2),
                        attr(t, "pads", 3), static_cast<float>(t.attrs.at("value").at(0)));
    case OpId::Concat:
      return ops::concat(in, attr(t, "dim"));
    default:
      return replay_pointwise(t, in);
  }
}

std::vector<Tensor> vjp(const TracedOp& t, const std::vector<Tensor>& inputs, const Tensor& seed,
                        const std::vector<size_t>& wrt) {
  std::vector<Tensor> in(inputs.size()), leaves;
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (inputs[i].defined()) in[i] = inputs[i].detach();
  }
  for (size_t i : wrt) {
    in.at(i) = inputs.at(i).clone().detach();
    in[i].set_requires_grad(true);
    leaves.push_back(in[i]);
  }
  if (!grad_mode_enabled()) throw std::logic_error("relevance::vjp: called under NoGradGuard");
  const Tensor y = replay(t, in);
  std::vector<Tensor> out = grad(y, leaves, seed);
  return out;
}

}  // namespace gb::interp::relevance
