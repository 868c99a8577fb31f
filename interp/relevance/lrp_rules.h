// LRP rules, one function per rule family (relevance_graph.h's OpFamily), each built from
// replay/vjp (replay.h) and host loops over the relevance tensors. Formulas: Bach et al., PLOS ONE
// 2015 (LRP-0, epsilon, alpha-beta); Montavon et al., "Layer-wise relevance propagation: an
// overview", 2019 (gamma, composites); Montavon et al., Pattern Recognition 2017 (z-box, DTD).
// Where Zennit (chr5tphr/zennit, core.stabilize and rules.py) is followed or departed from, the
// rule says so. Shape letters: N batch, C input channels, K output channels.
#pragma once
#include <vector>

#include "interp/relevance/relevance_graph.h"

namespace gb::interp::relevance {

enum class ParamRule { Epsilon, Gamma, AlphaBeta, ZBox };

struct RuleParams {
  double epsilon = 1e-6;  // stabiliser: z + eps * sign(z), sign(0) = +1 (Zennit stabilize)
  double gamma = 0.25;
  double alpha = 2.0, beta = 1.0;  // alpha - beta = 1 (checked by the caller)
  bool use_bias = true;            // false: Zennit's zero_params='bias' on every parameter rule
  Tensor low, high;                // z-box bounds, the op input's shape (normalised pixel 0 / 1)
  // When set ([N] entries): adds, per sample, the relevance of outputs whose denominator is
  // exactly 0 (a dead receptive field: every contribution 0 while the output carries relevance,
  // e.g. through a positive bias left out of z). That relevance is lost by the rule.
  std::vector<double>* dead = nullptr;
  // Dead receptive fields get the flat rule instead (Lapuschkin et al., Nature Communications
  // 2019: R_i = sum_j R_j / n_j over the n_j inputs connected to output j, whatever their values),
  // so their relevance reaches the input; a departure from Zennit, which loses it. The relevance
  // so moved is added per sample to `dead_moved` (when set) and left out of `dead`.
  bool dead_flat = true;
  std::vector<double>* dead_moved = nullptr;
  // Internal to parameter_relevance: where each rule adds the relevance over exact-zero
  // denominators, element by element (R's shape), for the flat rule.
  std::vector<float>* dead_map = nullptr;
};

// Relevance of a parameter op's activation input (x [N,C,...]) from its output relevance R:
//   Epsilon   R_i = a_i sum_j w_ij R_j / stab(z_j), z_j = sum_i a_i w_ij + b_j (eps once per
//             output, bias included unless use_bias is false).
//   Gamma     Zennit's generalised Gamma (rules.Gamma): where z_j >= 0, through (a+, w + g w+)
//             and (a-, w + g w-) with bias b + g b+; where z_j < 0, through (a+, w + g w-) and
//             (a-, w + g w+) with bias b + g b-; each branch normalised by its own stab(sum), the
//             bias once per branch (as Zennit). Departure: z_j == 0 exactly goes to the first
//             branch (Zennit's masks are strict, so it goes nowhere there).
//   AlphaBeta R = alpha R+ - beta R-, R+ through (a+, w+) and (a-, w-) with b+, R- through
//             (a+, w-) and (a-, w+) with b-, each normalised by its own stab(sum) (z+ = 1,0);
//             as Zennit's AlphaBeta / ZPlus.
//   ZBox      R_i = (a_i w_ij - l_i w+_ij - h_i w-_ij) R_j / stab(sum_i ...), no bias (it
//             cancels); l/h in p.low / p.high (conv padding pads them with 0, as Zennit).
// Outputs whose denominator is exactly 0 pass their relevance by the flat rule when p.dead_flat
// (see RuleParams); an output with no input connected (all padding) loses it.
Tensor parameter_relevance(const TracedOp& t, const GraphOp& op, const Tensor& R, ParamRule rule,
                           const RuleParams& p);

// The z-rule without parameters (Zennit's Norm) for add, sub, pools, mean, sum, matmul with a
// constant, stabilised with p.epsilon (Zennit's Norm keeps its own 1e-6 whatever the composite's
// epsilon): R_x = x * vjp(x, R / stab(f(inputs))), one result per activation input (op.act_inputs
// order). Max pooling routes R to the argmax (x_max / stab(x_max) ~ 1).
std::vector<Tensor> norm_relevance(const TracedOp& t, const GraphOp& op, const Tensor& R,
                                   const RuleParams& p);

// Shape ops (reshape, permute, slice, copy, pad2d, concat): R_x = vjp(x, R), exact.
std::vector<Tensor> map_relevance(const TracedOp& t, const GraphOp& op, const Tensor& R);

// Sum of all elements of sample n of t [N,...] in double.
double sample_sum(const Tensor& t, int64_t n);

}  // namespace gb::interp::relevance
