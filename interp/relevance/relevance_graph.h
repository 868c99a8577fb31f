// The relevance graph: one traced forward pass of a model (runtime/trace.h) turned into the ops
// that LRP (lrp.h) and DeepLIFT (deeplift.h) walk backwards. Every op of the trace keeps its
// inputs, output, attributes and module path; here each op learns which of its inputs are
// activations (produced by an earlier op or the model input) and which are parameters or
// constants, and batch norms that directly follow a conv2d or linear whose output they alone read
// are folded into it (Zennit's MergeBatchNorm): the folded op reads the conv's input and writes
// the batch norm's output with w' = w * s[k], b' = (b - mean) * s + beta, s = gamma / sqrt(var +
// eps). Shape letters: N batch, C channels, H/W image size, K output channels / classes.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "runtime/module.h"
#include "runtime/trace.h"

namespace gb::interp::relevance {

// How relevance (or a DeepLIFT multiplier) crosses an op.
enum class OpFamily {
  Parameter,  // conv2d, conv_transpose2d, linear (possibly with a folded batch norm)
  Norm,       // linear in its activations without parameters: add, sub, pools, mean, sum, matmul
  Pass,       // pointwise: relu, clamp, gelu, ..., scale, dropout, unfolded batch norm
  Map,        // moves values without arithmetic: reshape, permute, slice, copy, pad2d, concat
};

struct GraphOp {
  size_t trace_index = 0;  // position in RelevanceGraph::trace.ops
  OpId op = OpId::Count;
  std::string module;
  OpFamily family = OpFamily::Pass;
  std::vector<size_t> act_inputs;  // positions in the traced op's inputs that are activations
  Tensor output;                   // the tensor this op writes (a folded batch norm's output)
  // Parameter ops: the weight and bias the rules use (folded when a batch norm was merged;
  // bias undefined when the op has none and nothing was folded).
  Tensor weight, bias;
  std::string folded_bn;     // module of the merged batch norm, "" if none
  bool first_layer = false;  // a parameter op reading the model input directly (z-box)
};

struct RelevanceGraph {
  OpTrace trace;
  Tensor input;   // x [N,C,H,W] as traced
  Tensor output;  // the explained scores [N,K] (a final softmax / log_softmax is skipped)
  Tensor logits;  // what the model returned
  std::vector<GraphOp> ops;  // trace order (a topological order), folded batch norms removed
  std::vector<std::string> notes;
};

struct GraphOptions {
  bool fold_batch_norm = true;
  const char* method = "lrp";  // named in errors
};

// Traces model(x) in eval mode under NoGradGuard and builds the graph.
// requires: x [N,C,H,W] F32 on the CPU.
// throws: std::invalid_argument naming the method, the op and its module for an op without a
// relevance rule (layer_norm, softmax inside the net, mul/div/matmul of two activations,
// bilinear_resize, custom nodes, ...), and for a CUDA model or input (v1 is CPU only).
RelevanceGraph build_relevance_graph(Module& model, const Tensor& x, const GraphOptions& opt = {});

// The traced op of a graph op.
inline const TracedOp& traced(const RelevanceGraph& g, const GraphOp& op) {
  return g.trace.ops[op.trace_index];
}

}  // namespace gb::interp::relevance
