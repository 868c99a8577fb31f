// conformance_cases: which cases test which op-table row. A switch without a default, so a new
// OpId without cases is a compiler warning (-Wswitch) as well as a failing harness test.
#include "tests/conformance/case.h"

namespace gb::conformance {

std::vector<Case> conformance_cases(OpId op) {
  switch (op) {
    case OpId::Conv2d:
      return conv2d_cases();
    case OpId::Conv2dFused:
      return conv2d_fused_cases();
    case OpId::ConvTranspose2d:
      return conv_transpose2d_cases();
    case OpId::Linear:
      return linear_cases();
    case OpId::MatMul:
      return matmul_cases();
    case OpId::BatchNorm2d:
      return batch_norm_cases();
    case OpId::BatchNormAct:
      return batch_norm_act_cases();
    case OpId::LayerNorm:
      return layer_norm_cases();
    case OpId::Relu:
      return relu_cases();
    case OpId::Gelu:
      return gelu_cases();
    case OpId::Clamp:
      return clamp_cases();
    case OpId::LeakyRelu:
      return leaky_relu_cases();
    case OpId::Sigmoid:
      return sigmoid_cases();
    case OpId::Tanh:
      return tanh_cases();
    case OpId::HardSigmoid:
      return hardsigmoid_cases();
    case OpId::HardSwish:
      return hardswish_cases();
    case OpId::PRelu:
      return prelu_cases();
    case OpId::MaxPool2d:
      return max_pool_cases();
    case OpId::AvgPool2d:
      return avg_pool_cases();
    case OpId::GlobalAvgPool:
      return global_avg_pool_cases();
    case OpId::Add:
    case OpId::Sub:
    case OpId::Mul:
    case OpId::Div:
      return binary_cases(op);
    case OpId::Scale:
      return scale_cases();
    case OpId::Concat:
      return concat_cases();
    case OpId::Pad2d:
      return pad2d_cases();
    case OpId::Reshape:
      return reshape_cases();
    case OpId::Permute:
      return permute_cases();
    case OpId::Slice:
      return slice_cases();
    case OpId::Copy:
      return copy_cases();
    case OpId::Cast:
      return cast_cases();
    case OpId::Dropout:
      return dropout_cases();
    case OpId::Softmax:
      return softmax_cases(false);
    case OpId::LogSoftmax:
      return softmax_cases(true);
    case OpId::CrossEntropy:
      return cross_entropy_cases();
    case OpId::BilinearResize:
      return bilinear_resize_cases();
    case OpId::Sum:
      return reduce_cases(false);
    case OpId::Mean:
      return reduce_cases(true);
    case OpId::SgdUpdate:
      return sgd_cases();
    case OpId::AdamWUpdate:
      return adamw_cases();
    case OpId::ClipGradNorm:
      return clip_grad_norm_cases();
    case OpId::Count:
      break;
  }
  return {};
}

}  // namespace gb::conformance
