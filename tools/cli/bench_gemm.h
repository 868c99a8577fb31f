// `glassbox bench --gemm`: GFLOP/s of glassbox's SGEMM (kernels::cpu::sgemm_parallel) against
// OpenBLAS's cblas_sgemm, loaded at run time with dlopen so glassbox has no link dependency on it.
// C = A * B on square n x n float matrices (row-major, beta = 0), median of repetitions.
#pragma once
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace gb::cli {

struct GemmRow {
  int64_t n = 0;
  double ours_ms = 0, ours_gflops = 0;  // kernels::cpu::sgemm_parallel
  double blas_ms = 0, blas_gflops = 0;  // OpenBLAS cblas_sgemm; 0 when not loaded
  double max_rel_diff = 0;              // max |C_ours - C_blas| / max |C_blas|; 0 when not loaded
};

struct GemmReport {
  int threads = 0;
  int64_t warmup = 0, reps = 0;
  bool have_blas = false;
  std::string blas;  // OpenBLAS's configuration string, or why it could not be loaded
  std::vector<GemmRow> rows;
};

// Runs every size with glassbox's SGEMM first, then every size with OpenBLAS (dlopen
// "libopenblas.so.0", threads set with openblas_set_num_threads to `threads` or the OpenMP
// default), so one library's idle threads do not spin during the other's measurement.
// throws: std::invalid_argument for a size outside 1..16384.
// ensures: have_blas is false, with the reason in `blas`, when the library or symbol is missing.
GemmReport run_gemm_bench(const std::vector<int64_t>& sizes, int threads, int64_t warmup,
                          int64_t reps);
std::string format_gemm(const GemmReport& g);
nlohmann::json gemm_to_json(const GemmReport& g);

}  // namespace gb::cli
