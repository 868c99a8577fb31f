// Layer-wise relevance propagation through the op trace (Bach et al., PLOS ONE 2015; Montavon et
// al., "LRP: an overview", 2019): the relevance graph (relevance_graph.h) is walked from the
// explained score back to the input, each op applying its rule (lrp_rules.h) as the composite
// chooses, fan-outs summing. The output relevance is R_L = f_t(x) at the target (Captum's
// convention), so sum R_input ~ f_t(x); a ledger records, per op and sample, the relevance that
// biases, stabilisers and constants absorbed, so sum R_input + leaks == f_t(x) always holds.
// Shape letters: N batch, C channels, H/W image size, K classes.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "interp/target.h"
#include "runtime/module.h"

namespace gb::interp::relevance {

// Composites (Zennit's names where Zennit has them):
//   epsilon              epsilon on every conv / linear
//   gamma                gamma on convs, epsilon on linear
//   alpha2beta1          alpha-beta on every conv / linear
//   epsilon-plus         z+ (alpha 1, beta 0) on convs, epsilon on linear (Zennit EpsilonPlus)
//   epsilon-alpha2beta1  alpha-beta on convs, epsilon on linear (Zennit EpsilonAlpha2Beta1)
//   epsilon-gamma-box    z-box on the first layer, gamma on other convs, epsilon on linear
//                        (Zennit EpsilonGammaBox; the default)
// Every composite: activations pass, add/sub/pools/mean the parameter-free z-rule (Norm), shape
// ops move relevance exactly, batch norms are folded into the preceding conv / linear.
const std::vector<std::string>& lrp_composite_names();

struct LrpOptions {
  std::string composite = "epsilon-gamma-box";
  double epsilon = 1e-6;  // Zennit's default (Captum 1e-9)
  double gamma = 0.25;
  double alpha = 2.0, beta = 1.0;
  bool use_bias = true;  // false: biases (folded batch-norm shifts too) leave z (--lrp-bias ignore)
  // Outputs whose denominator is exactly 0 (a dead receptive field) pass their relevance on by the
  // flat rule (lrp_rules.h); false: it is lost, as in Zennit (--lrp-dead-field drop).
  bool dead_flat = true;
  // Normalisation of the model's inputs: the z-box bounds are (0 - mean_c) / std_c and
  // (1 - mean_c) / std_c; empty: the identity (0 and 1).
  std::vector<float> mean, std;
};

// throws: std::invalid_argument naming the option for an unknown composite, epsilon <= 0,
// gamma < 0, alpha - beta != 1 or beta < 0.
void check_lrp_options(const LrpOptions& opt);

struct LrpLeak {
  std::string module;  // "" at the root
  std::string op;
  double amount = 0;  // summed over the batch
};

struct LrpResult {
  Tensor relevance;               // [N,C,H,W]
  std::vector<int64_t> targets;   // [N]
  std::vector<double> explained;  // f_t(x) per sample (the seed's sum)
  std::vector<double> input_sum;  // sum R_input per sample
  std::vector<double> leak;       // ledger total per sample: explained - input_sum
  // The part of `leak` lost over exact-zero denominators (dead receptive fields), per sample.
  std::vector<double> dead_loss;
  // Relevance of dead receptive fields passed on by the flat rule instead, per sample.
  std::vector<double> dead_flat;
  std::vector<LrpLeak> largest_leaks;  // by |amount|, at most 5
  std::vector<std::string> notes;      // folded / passed batch norms, skipped softmax
  int64_t folded_batch_norms = 0;
  // max over samples of |input_sum - explained| / |explained|
  double max_relative_error() const;
  // the same with the dead-field loss added back: what biases, stabilisers and rounding lost
  double max_error_besides_dead() const;
  // max over samples of |input_sum + leak - explained| / |explained| (bookkeeping, ~1e-7)
  double max_ledger_error() const;
};

// LRP of model(x) for `target` (Target::pred() = argmax). Explains a batch at once (eval mode,
// samples independent). requires: x [N,C,H,W] F32 on the CPU.
// throws: std::invalid_argument from check_lrp_options, for a CUDA input, or naming the op and
// module without a rule (relevance_graph.h).
LrpResult lrp(Module& model, const Tensor& x, const Target& target, const LrpOptions& opt = {});

}  // namespace gb::interp::relevance
