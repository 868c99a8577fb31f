// Replaying a traced op (runtime/trace.h) on substituted tensors, from its recorded attributes,
// and its vector-Jacobian product through the op table's own backward (gb::grad). Every LRP and
// DeepLIFT rule is built from these two: "run the op with modified inputs or parameters,
// backpropagate a seed". Shape letters: as the op's own (runtime/ops.h).
#pragma once
#include <vector>

#include "runtime/trace.h"

namespace gb::interp::relevance {

// Re-runs `t` on `inputs` (same arity and roles as t.inputs: activations and parameters; an
// undefined bias means none). requires: t is a table op that relevance_graph accepts.
// throws: std::invalid_argument naming the op when it cannot be replayed.
Tensor replay(const TracedOp& t, const std::vector<Tensor>& inputs);

// Gradients of <replay(t, inputs), seed> with respect to inputs[i] for each i in `wrt` (in that
// order), computed on leaf copies: nothing of the caller's tensors is touched.
// requires: grad mode on (not under NoGradGuard), seed has the op's output shape.
std::vector<Tensor> vjp(const TracedOp& t, const std::vector<Tensor>& inputs, const Tensor& seed,
                        const std::vector<size_t>& wrt);

}  // namespace gb::interp::relevance
