// The SGEMM comparison with OpenBLAS (see bench_gemm.h).
#include "tools/cli/bench_gemm.h"

#include <dlfcn.h>
#include <fmt/format.h>
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <stdexcept>

#include "kernels/gemm.h"
#include "runtime/rng.h"
#include "runtime/tensor.h"

namespace gb::cli {

namespace {

double now_ms() {
  return std::chrono::duration<double, std::milli>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// cblas_sgemm(order, transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc) with the
// CBLAS enums passed as int (CblasRowMajor = 101, CblasNoTrans = 111) and 32-bit blasint, as in
// Debian's libopenblas0 (the LP64 build).
using CblasSgemm = void (*)(int, int, int, int, int, int, float, const float*, int, const float*,
                            int, float, float*, int);
using SetThreads = void (*)(int);
using GetConfig = char* (*)();
using GetThreads = int (*)();

template <class F>
F symbol(void* handle, const char* name) {
  void* p = dlsym(handle, name);
  F f = nullptr;
  static_assert(sizeof(F) == sizeof(void*));
  std::memcpy(&f, &p, sizeof f);
  return f;
}

struct OpenBlas {
  CblasSgemm sgemm = nullptr;
  std::string info;
};

OpenBlas load_openblas(int threads) {
  OpenBlas b;
  // Kept open for the life of the process: OpenBLAS's worker threads outlive any call.
  void* h = dlopen("libopenblas.so.0", RTLD_NOW | RTLD_LOCAL);
  if (!h) {
    const char* err = dlerror();
    b.info = std::string("OpenBLAS not loaded (") + (err ? err : "dlopen failed") +
             "); install Debian's libopenblas0-pthread for the comparison";
    return b;
  }
  b.sgemm = symbol<CblasSgemm>(h, "cblas_sgemm");
  if (!b.sgemm) {
    b.info = "libopenblas.so.0 has no cblas_sgemm symbol; OpenBLAS side skipped";
    return b;
  }
  if (auto set = symbol<SetThreads>(h, "openblas_set_num_threads")) set(threads);
  auto cfg = symbol<GetConfig>(h, "openblas_get_config");
  b.info = cfg ? std::string(cfg()) : "libopenblas.so.0";
  if (auto get = symbol<GetThreads>(h, "openblas_get_num_threads")) {
    b.info += fmt::format(", {} threads", get());
  }
  return b;
}

template <class Fn>
double median_ms(int64_t warmup, int64_t reps, Fn&& fn) {
  for (int64_t i = 0; i < warmup; ++i) fn();
  std::vector<double> t;
  for (int64_t i = 0; i < std::max<int64_t>(reps, 1); ++i) {
    const double t0 = now_ms();
    fn();
    t.push_back(now_ms() - t0);
  }
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}

double gflops(int64_t n, double ms) {
  const double flops =
      2.0 * static_cast<double>(n) * static_cast<double>(n) * static_cast<double>(n);
  return ms > 0 ? flops / (ms * 1e6) : 0;
}

// Square n x n operands A and B (uniform in [-1,1]) and glassbox's result C of each size.
struct Operands {
  std::vector<Tensor> a, b, c;
};

Operands make_operands(const std::vector<int64_t>& sizes) {
  Generator gen(5, 0);
  Operands m;
  for (int64_t n : sizes) {
    m.a.push_back(Tensor::uniform({n, n}, gen, -1.0f, 1.0f));
    m.b.push_back(Tensor::uniform({n, n}, gen, -1.0f, 1.0f));
    m.c.push_back(Tensor::zeros({n, n}));
  }
  return m;
}

void time_ours(const Operands& m, GemmReport& g) {
  for (size_t i = 0; i < m.a.size(); ++i) {
    const int64_t n = m.a[i].size(0);
    const float* a = m.a[i].f32();
    const float* b = m.b[i].f32();
    float* c = m.c[i].f32();
    GemmRow r;
    r.n = n;
    r.ours_ms = median_ms(g.warmup, g.reps, [&] {
      kernels::cpu::sgemm_parallel(false, false, n, n, n, 1.0f, a, n, b, n, 0.0f, c, n);
    });
    r.ours_gflops = gflops(n, r.ours_ms);
    g.rows.push_back(r);
  }
}

// max |ours - blas| / max |blas| over the elements.
double max_rel_diff(const float* ours, const float* blas, int64_t count) {
  double max_diff = 0, max_ref = 0;
  for (int64_t k = 0; k < count; ++k) {
    max_diff = std::max(max_diff, static_cast<double>(std::fabs(ours[k] - blas[k])));
    max_ref = std::max(max_ref, static_cast<double>(std::fabs(blas[k])));
  }
  return max_ref > 0 ? max_diff / max_ref : max_diff;
}

void time_blas(const OpenBlas& blas, const Operands& m, GemmReport& g) {
  for (size_t i = 0; i < m.a.size(); ++i) {
    const int n = static_cast<int>(m.a[i].size(0));
    const float* a = m.a[i].f32();
    const float* b = m.b[i].f32();
    Tensor cb = Tensor::zeros({n, n});
    float* c = cb.f32();
    GemmRow& r = g.rows[i];
    r.blas_ms = median_ms(g.warmup, g.reps, [&] {
      blas.sgemm(101, 111, 111, n, n, n, 1.0f, a, n, b, n, 0.0f, c, n);
    });
    r.blas_gflops = gflops(n, r.blas_ms);
    r.max_rel_diff = max_rel_diff(m.c[i].f32(), c, cb.numel());
  }
}

}  // namespace

GemmReport run_gemm_bench(const std::vector<int64_t>& sizes, int threads, int64_t warmup,
                          int64_t reps) {
  for (int64_t n : sizes) {
    if (n < 1 || n > 16384) {
      throw std::invalid_argument("bench --gemm: sizes must be in 1..16384, got " +
                                  std::to_string(n));
    }
  }
  if (threads > 0) omp_set_num_threads(threads);
  GemmReport g;
  g.threads = threads > 0 ? threads : omp_get_max_threads();
  g.warmup = warmup;
  g.reps = std::max<int64_t>(reps, 1);
  const Operands m = make_operands(sizes);
  time_ours(m, g);
  const OpenBlas blas = load_openblas(g.threads);
  g.have_blas = blas.sgemm != nullptr;
  g.blas = blas.info;
  if (g.have_blas) time_blas(blas, m, g);
  return g;
}

std::string format_gemm(const GemmReport& g) {
  std::string out = fmt::format(
      "\nSGEMM C = A*B, square n x n float32, {} threads, median of {} (after {} warm-up)\n",
      g.threads, g.reps, g.warmup);
  out += fmt::format("OpenBLAS: {}\n", g.blas);
  out += fmt::format("{:>6} {:>12} {:>12} {:>12} {:>12} {:>14} {:>13}\n", "n", "glassbox ms",
                     "GFLOP/s", "OpenBLAS ms", "GFLOP/s", "ours/OpenBLAS", "max rel diff");
  for (const auto& r : g.rows) {
    if (g.have_blas) {
      out += fmt::format("{:>6} {:>12.2f} {:>12.1f} {:>12.2f} {:>12.1f} {:>14.2f} {:>13.1e}\n", r.n,
                         r.ours_ms, r.ours_gflops, r.blas_ms, r.blas_gflops,
                         r.blas_gflops > 0 ? r.ours_gflops / r.blas_gflops : 0.0, r.max_rel_diff);
    } else {
      out += fmt::format("{:>6} {:>12.2f} {:>12.1f} {:>12} {:>12} {:>14} {:>13}\n", r.n, r.ours_ms,
                         r.ours_gflops, "-", "-", "-", "-");
    }
  }
  return out;
}

nlohmann::json gemm_to_json(const GemmReport& g) {
  nlohmann::json j{{"threads", g.threads},
                   {"warmup", g.warmup},
                   {"reps", g.reps},
                   {"openblas", {{"loaded", g.have_blas}, {"info", g.blas}}},
                   {"rows", nlohmann::json::array()}};
  for (const auto& r : g.rows) {
    nlohmann::json row{{"n", r.n}, {"glassbox_ms", r.ours_ms}, {"glassbox_gflops", r.ours_gflops}};
    if (g.have_blas) {
      row["openblas_ms"] = r.blas_ms;
      row["openblas_gflops"] = r.blas_gflops;
      row["ratio"] = r.blas_gflops > 0 ? r.ours_gflops / r.blas_gflops : 0.0;
      row["max_rel_diff"] = r.max_rel_diff;
    }
    j["rows"].push_back(row);
  }
  return j;
}

}  // namespace gb::cli
