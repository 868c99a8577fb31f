// The anomaly guard: while an AnomalyGuard is on, every op's output is checked for NaN/Inf right
// after its forward (in `record`, which every op calls whether or not grad mode is on), and in
// backward every node's input gradients right after its backward closure runs (and every sum of
// gradients at a fan-out). The first non-finite value throws AnomalyError naming the pass, the op,
// the module path, the shape, how many values are NaN and Inf, and whether the op's inputs (its
// incoming gradient, in backward) were already non-finite, so the op that first *produced* one is
// named. Off (the default), the engine pays one predictable branch per op and per backward node.
// CUDA tensors are copied to the host to be scanned (the guard is a debugging aid).
#pragma once
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "runtime/tensor.h"

namespace gb {

namespace anomaly_detail {
// The guard's state on this thread. forward_checks is false inside a backward pass (the ops a
// backward closure runs are checked as the closure's gradients, not as forward ops).
inline constinit thread_local bool t_enabled = false;
inline constinit thread_local bool t_forward_checks = false;
}  // namespace anomaly_detail

// Whether the anomaly guard is on for this thread.
inline bool anomaly_detection_enabled() { return anomaly_detail::t_enabled; }

// Turns the guard on (or off, with on = false) on this thread for its scope; nests.
class AnomalyGuard {
 public:
  explicit AnomalyGuard(bool on = true);
  ~AnomalyGuard();
  AnomalyGuard(const AnomalyGuard&) = delete;
  AnomalyGuard& operator=(const AnomalyGuard&) = delete;

 private:
  bool prev_enabled_;
  bool prev_forward_;
};

enum class AnomalyPass { Forward, Backward };

// Where the first non-finite value appeared.
struct AnomalyReport {
  AnomalyPass pass = AnomalyPass::Forward;
  std::string op;      // the op table name ("log", "conv2d") or a custom node's label
  std::string module;  // module path that ran the op ("layer2.1.conv2"; "" at top level)
  std::string what;    // "output", "gradient for input 1 (parameter 'fc.weight')", ...
  Shape shape;         // of that tensor
  int64_t nan = 0, inf = 0;
  std::string inputs;  // whether what the op consumed was already non-finite, in words
  // "the backward of sqrt in module 'act': gradient for input 0 [3] has 1 of 3 values
  // non-finite (0 NaN, 1 Inf); its incoming gradient was finite"
  std::string describe() const;
};

// Thrown by the guard. what(): "anomaly: non-finite value in " + report.describe(), or the
// message given (the training loop's, which names the step).
class AnomalyError : public std::runtime_error {
 public:
  explicit AnomalyError(AnomalyReport report);
  AnomalyError(AnomalyReport report, const std::string& message);
  const AnomalyReport& report() const { return report_; }

 private:
  AnomalyReport report_;
};

// NaN and infinite values of an F32 tensor on any device (any layout); zero for other dtypes
// and undefined tensors. Scans everything: for the guard and the training loop's checks.
struct NonFiniteCount {
  int64_t nan = 0, inf = 0;
  bool any() const { return nan + inf > 0; }
};
NonFiniteCount count_nonfinite(const Tensor& t);

namespace anomaly_detail {
// Called by the engine only while the guard is on (see autograd.cpp). throws: AnomalyError.
// `op` names the op that produced `out` from `inputs`, ran by `module`.
void check_forward(const char* op, const std::string& module, const std::vector<Tensor>& inputs,
                   const Tensor& out);
// The gradients a backward closure returned (index i for input i, undefined: none) for the inputs
// whose gradient is `needed`, given the gradient it received; `input_names` are the parameter
// names of leaf inputs.
void check_backward(const char* op, const std::string& module, const Tensor& grad_output,
                    const std::vector<Tensor>& in_grads, const std::vector<bool>& needed,
                    const std::vector<std::string>& input_names);
// The sum of the gradients several consumers sent to the output of `op` (a fan-out).
void check_gradient_sum(const char* op, const std::string& module, const Tensor& sum);
}  // namespace anomaly_detail

}  // namespace gb
