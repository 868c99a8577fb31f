// TCAV (Kim et al., ICML 2018): how much a class's logit is moved by a concept at a layer.
// The directional derivative S(x) = grad_a f_k(a(x)) . v_C of logit k along the concept_acts's CAV
// v_C (cav.h) gives the TCAV score (the fraction of class-k inputs with S > 0) and the
// magnitude score (sum of the positive S over sum |S|; Captum's "magnitude"). Significance as in
// the paper: the concept is scored against R random sets, the same is done for random sets
// against random sets, and the two groups of R scores are compared by a two-sided Student
// t-test (equal variances, scipy.stats.ttest_ind's default), Bonferroni-corrected over the
// hypotheses tested. The statistics helpers are here too.
// Checked against the reference library tensorflow/tcav (utils.py print_results: scipy
// ttest_ind of the concept's and the random runs' scores, np.std in the summary): same test and
// std. Departure: tcav scores ONE random counterpart against every other random set for the
// baseline; here random set r is scored against random set (r + 1) mod R, so every random set
// is the positive side once. tcav differentiates the loss and counts S < 0; here the logit and
// S > 0, the same thing for a softmax cross-entropy.
// Shape letters: n inputs, D flattened activation size of the layer, R random runs.
#pragma once
#include <cstdint>
#include <vector>

#include "interp/global/cav.h"

namespace gb::interp {

struct TcavScore {
  double score = 0;      // fraction of inputs with S > 0
  double magnitude = 0;  // sum_{S>0} S / sum |S| (0 when every S is 0)
  int64_t count = 0;     // n
};

// Scores of the directional derivatives grads[i] . cav. requires: grads.d == cav.size(),
// grads.n >= 1. throws: std::invalid_argument otherwise.
TcavScore tcav_score(const ActivationRows& grads, const std::vector<double>& cav);

// I_x(a, b), the regularised incomplete beta function, by the continued fraction of
// Press et al., "Numerical Recipes" 3rd ed. (2007), section 6.4 (modified Lentz), using the
// symmetry I_x(a,b) = 1 - I_{1-x}(b,a) where it converges faster.
// requires: a, b > 0, 0 <= x <= 1. throws: std::invalid_argument otherwise.
double regularized_incomplete_beta(double a, double b, double x);

// Two-sided p-value of Student's t with df degrees of freedom: I_{df/(df+t^2)}(df/2, 1/2).
double student_t_two_sided_p(double t, double df);

struct TTest {
  double t = 0;
  double df = 0;
  double p = 1;
};

// Student's two-sample t-test with pooled variance (scipy.stats.ttest_ind, equal_var=True):
// t = (mean_a - mean_b) / (s_p sqrt(1/n_a + 1/n_b)), df = n_a + n_b - 2. Where both samples
// have zero variance scipy gives NaN; here p = 1 when the means are equal, else t = +-inf, p = 0.
// requires: a.size() + b.size() >= 3, each >= 1. throws: std::invalid_argument otherwise.
TTest student_t_test(const std::vector<double>& a, const std::vector<double>& b);

// Bonferroni: each p times the number of hypotheses m = p.size(), capped at 1.
std::vector<double> bonferroni(const std::vector<double>& p);

struct MeanStd {
  double mean = 0;
  double std = 0;  // population standard deviation (n in the denominator), as np.std and the
                   // tcav library's print_results report it
};
MeanStd mean_std(const std::vector<double>& v);

struct TcavRun {
  Cav cav;
  TcavScore score;
};

struct TcavConcept {
  std::vector<TcavRun> concept_runs;  // run r: the concept against random set r
  std::vector<TcavRun> random_runs;   // run r: random set r against random set (r + 1) mod R
  MeanStd score, magnitude, random_score, random_magnitude, test_accuracy, random_test_accuracy;
  TTest test;  // concept scores against random-vs-random scores (raw p, not corrected)
};

// The concept_acts's R runs, the R random-vs-random runs and the t-test, from activations already
// computed: concept [n_c, D], randoms R sets [n_r, D], grads [n, D] of logit k on class-k inputs.
// Run r's probe splits with seed (opt.seed, r) for the concept and (opt.seed, R + r) for random.
// requires: randoms.size() >= 2 (a random set needs another random set to be scored against).
// throws: std::invalid_argument (as train_cav, or fewer than 2 random sets).
TcavConcept tcav_concept(const ActivationRows& concept_acts,
                         const std::vector<ActivationRows>& randoms, const ActivationRows& grads,
                         const CavOptions& opt = {});

}  // namespace gb::interp
