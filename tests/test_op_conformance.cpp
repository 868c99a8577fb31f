// The op-conformance harness, driven by the op table (in the spirit of ggml's test-backend-ops):
// for every row of runtime/op_table.cpp and every case of tests/conformance/ (awkward shapes,
// batch 1, odd sizes, strides, groups, broadcasting, sizes past the threading thresholds):
//   FastCpuMatchesReference   the fast CPU kernels against the reference kernels, forward and
//                             backward (the gradient of <y, R> for a fixed random R), with the
//                             dispatch log proving which kernel set ran;
//   GradientsMatchCentralDifferences  gradcheck.h's central differences, under both kernel sets;
//   DeterministicAcrossThreadCounts   fast kernels at 1, 2 and 3 threads give bit-identical
//                             outputs and gradients, except the gradients the row marks as
//                             thread-count dependent, which must still repeat bit for bit;
//   CudaMatchesReference      the CUDA kernels against the reference (runs where a GPU is
//                             present; a row without CUDA kernels must refuse with an error
//                             naming the op and the device).
// Tolerance model (fast or CUDA vs reference), per element: |got - ref| <= atol + rtol * (|ref| +
// rms(ref)), rms over the finite elements; NaN must meet NaN and an infinity the same infinity
// (the special-value cases); each case sets atol/rtol (default 1e-6, 1e-5; 1e-4 for sums that
// blocked or Winograd kernels reorder). Algorithm-specific edge cases (Winograd tiles, GEMM ISAs)
// keep their own tests in test_kernels.cpp.
#include <gtest/gtest.h>
#include <omp.h>

#include <cmath>
#include <cstring>
#include <sstream>
#include <string>
#include <vector>

#include "runtime/autograd.h"
#include "runtime/device_copy.h"
#include "runtime/op_table.h"
#include "tests/conformance/case.h"

namespace gb::conformance {
namespace {

struct CaseRun {
  Tensor y;  // on the host
  Ts grads;  // on the host; empty when the case has no backward
};

// Runs c on `device` under the current CPU kernel mode and the case's ReLU rule.
CaseRun run_case(const Case& c, Device device) {
  ReluRuleGuard rule(c.relu_rule);
  Ts in;
  for (const Tensor& x : c.inputs) {
    Tensor t = x.clone().to(device);
    if (c.backward) t.set_requires_grad(true);
    in.push_back(t);
  }
  const Tensor y = c.fn(in);
  CaseRun r{y.to(Device{}).clone(), {}};
  if (!c.backward) return r;
  const Tensor seed = randn(y.shape(), 999).to(device);
  for (const Tensor& g : grad(y, in, seed)) r.grads.push_back(g.to(Device{}).clone());
  return r;
}

CaseRun run_on_cpu(const Case& c, CpuKernelMode mode) {
  CpuKernelModeGuard guard(mode);
  return run_case(c, Device{});
}

::testing::AssertionResult close(const Tensor& got, const Tensor& want, const Case& c,
                                 const std::string& what) {
  if (got.shape() != want.shape()) {
    return ::testing::AssertionFailure()
           << what << ": shape " << shape_str(got.shape()) << " != " << shape_str(want.shape());
  }
  const std::vector<float> g = got.to_vector(), w = want.to_vector();
  double ss = 0.0;
  size_t finite = 0;
  for (float v : w) {
    if (!std::isfinite(v)) continue;
    ss += static_cast<double>(v) * v;
    ++finite;
  }
  const double rms = finite == 0 ? 0.0 : std::sqrt(ss / static_cast<double>(finite));
  std::ostringstream report;
  int bad = 0;
  for (size_t i = 0; i < w.size(); ++i) {
    if (std::isnan(w[i]) && std::isnan(g[i])) continue;
    if (g[i] == w[i]) continue;  // infinities of the same sign
    const double tol = c.atol + c.rtol * (std::fabs(w[i]) + rms);
    if (std::fabs(static_cast<double>(g[i]) - w[i]) <= tol) continue;
    if (bad++ < 5) report << "\n  element " << i << ": got " << g[i] << ", want " << w[i];
  }
  if (bad == 0) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << what << ": " << bad << " of " << w.size()
                                       << " elements off (rms " << rms << ")" << report.str();
}

bool bit_equal(const Tensor& a, const Tensor& b) {
  const std::vector<float> x = a.to_vector(), y = b.to_vector();
  return x.size() == y.size() && std::memcmp(x.data(), y.data(), x.size() * sizeof(float)) == 0;
}

// Every output and gradient of `got` close to `want`.
void expect_close_runs(const CaseRun& got, const CaseRun& want, const Case& c) {
  EXPECT_TRUE(close(got.y, want.y, c, "output"));
  ASSERT_EQ(got.grads.size(), want.grads.size());
  for (size_t i = 0; i < got.grads.size(); ++i) {
    EXPECT_TRUE(close(got.grads[i], want.grads[i], c, "gradient of input " + std::to_string(i)));
  }
}

std::vector<OpId> all_ops() {
  std::vector<OpId> ops;
  for (size_t i = 0; i < kOpCount; ++i) ops.push_back(static_cast<OpId>(i));
  return ops;
}

class Conformance : public ::testing::TestWithParam<OpId> {
 protected:
  const OpRow& row() const { return op_row(GetParam()); }
  std::vector<Case> cases() const { return conformance_cases(GetParam()); }
};

TEST_P(Conformance, HasCases) {
  EXPECT_FALSE(cases().empty()) << "no conformance case for this row";
}

TEST_P(Conformance, FastCpuMatchesReference) {
  for (const Case& c : cases()) {
    SCOPED_TRACE(c.label);
    DispatchLog ref_log;
    const CaseRun ref = run_on_cpu(c, CpuKernelMode::Reference);
    DispatchLog fast_log;
    const CaseRun fast = run_on_cpu(c, CpuKernelMode::Fast);
    expect_close_runs(fast, ref, c);
    if (row().is_view) continue;  // views run no kernel of their own
    EXPECT_TRUE(ref_log.saw(GetParam(), Backend::Reference)) << "the case never ran this row";
    EXPECT_TRUE(fast_log.saw(GetParam(), Backend::CpuFast)) << "the case never ran this row";
    EXPECT_FALSE(fast_log.saw(GetParam(), Backend::Reference));
  }
}

TEST_P(Conformance, GradientsMatchCentralDifferences) {
  for (const Case& c : cases()) {
    if (c.grad == GradCheck::None) continue;
    SCOPED_TRACE(c.label);
    test::for_each_cpu_mode([&] {
      if (c.grad == GradCheck::Elementwise) {
        EXPECT_TRUE(test::gradcheck(c.fn, c.inputs, c.grad_options));
      } else {
        EXPECT_TRUE(test::projection_check(c.fn, c.inputs, c.grad_options));
      }
    });
  }
}

TEST_P(Conformance, DeterministicAcrossThreadCounts) {
  const int saved = omp_get_max_threads();
  for (const Case& c : cases()) {
    SCOPED_TRACE(c.label);
    std::vector<CaseRun> runs;
    for (int threads : {2, 2, 1, 3}) {
      omp_set_num_threads(threads);
      runs.push_back(run_on_cpu(c, CpuKernelMode::Fast));
    }
    omp_set_num_threads(saved);
    for (size_t r = 1; r < runs.size(); ++r) {
      const bool same_threads = r == 1;
      EXPECT_TRUE(bit_equal(runs[r].y, runs[0].y)) << "output, run " << r;
      for (size_t i = 0; i < runs[0].grads.size(); ++i) {
        const bool may_vary = (row().thread_dependent_grads >> i) & 1u;
        if (may_vary && !same_threads) continue;
        EXPECT_TRUE(bit_equal(runs[r].grads[i], runs[0].grads[i]))
            << "gradient of input " << i << ", run " << r;
      }
    }
  }
}

TEST_P(Conformance, CudaMatchesReference) {
  if (!cuda_available()) GTEST_SKIP() << "no GPU here (or a build without CUDA)";
  const Device gpu{DeviceType::Cuda, 0};
  for (const Case& c : cases()) {
    SCOPED_TRACE(c.label);
    if (!row().is_view && !row().kernel_sets[static_cast<size_t>(Backend::Cuda)]) {
      try {
        run_case(c, gpu);
        ADD_FAILURE() << "a row without CUDA kernels ran on the GPU";
      } catch (const std::exception& e) {
        EXPECT_NE(std::string(e.what()).find(row().name), std::string::npos) << e.what();
        EXPECT_NE(std::string(e.what()).find("cuda"), std::string::npos) << e.what();
      }
      continue;
    }
    const CaseRun ref = run_on_cpu(c, CpuKernelMode::Reference);
    DispatchLog log;
    const CaseRun got = run_case(c, gpu);
    expect_close_runs(got, ref, c);
    if (!row().is_view) {
      EXPECT_TRUE(log.saw(GetParam(), Backend::Cuda));
    }
  }
}

INSTANTIATE_TEST_SUITE_P(OpTable, Conformance, ::testing::ValuesIn(all_ops()),
                         [](const ::testing::TestParamInfo<OpId>& info) {
                           return std::string(op_name(info.param));
                         });

}  // namespace
}  // namespace gb::conformance
