// Training-step and inference throughput on synthetic data, median of timed repetitions; process
// memory from /proc/self/status and getrusage; the per-layer profile table; the SGEMM comparison
// with OpenBLAS (loaded with dlopen, so glassbox has no link dependency on it).
#include "tools/lib/bench.h"

#include <dlfcn.h>
#include <fmt/format.h>
#include <omp.h>
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <fstream>
#include <map>
#include <stdexcept>

#include "kernels/gemm.h"
#include "models/registry.h"
#include "runtime/autograd.h"
#include "runtime/device_copy.h"
#include "runtime/ops.h"
#include "runtime/optim.h"
#include "runtime/rng.h"
#include "runtime/storage.h"
#include "tools/lib/train.h"

namespace gb::app {
namespace {
double now_ms() {
  return std::chrono::duration<double, std::milli>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// Times `step` after warm-up; device work is waited for before each clock reading, so a GPU
// step is timed from its first launch to the end of its last kernel.
template <class Fn>
BenchRow time_it(const BenchConfig& cfg, Fn&& step) {
  for (int64_t i = 0; i < cfg.warmup; ++i) step();
  device_synchronize();
  std::vector<double> times;
  for (int64_t i = 0; i < std::max<int64_t>(cfg.reps, 1); ++i) {
    const double t0 = now_ms();
    step();
    device_synchronize();
    times.push_back(now_ms() - t0);
  }
  std::sort(times.begin(), times.end());
  BenchRow r;
  r.median_ms = times[times.size() / 2];
  r.min_ms = times.front();
  r.max_ms = times.back();
  return r;
}

// `steps` more steps with the profiler on; the rows summed over them.
template <class Fn>
LayerProfile profile_steps(int64_t steps, Fn&& step) {
  LayerProfile p;
  p.steps = std::max<int64_t>(steps, 1);
  profile::reset();
  const double t0 = now_ms();
  {
    profile::ProfileScope on;
    for (int64_t i = 0; i < p.steps; ++i) step();
    device_synchronize();
  }
  p.step_ms = (now_ms() - t0) / static_cast<double>(p.steps);
  p.rows = profile::rows();
  profile::reset();
  return p;
}

void set_memory(BenchRow& r, const MemoryReading& baseline) {
  const MemoryReading now = read_memory();
  r.rss_baseline_mb = baseline.rss_mb;
  r.peak_rss_mb = now.hwm_mb;
  r.maxrss_mb = now.maxrss_mb;
}

std::string mb_or_dash(double mb) { return mb > 0 ? fmt::format("{:.1f}", mb) : "-"; }
}  // namespace

MemoryReading read_memory() {
  MemoryReading m;
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    // Lines look like "VmHWM:\t  123456 kB".
    const auto kb = [&](const char* key, double& out) {
      const std::string k(key);
      if (line.compare(0, k.size(), k) == 0) out = std::stod(line.substr(k.size())) * 1024 / 1e6;
    };
    kb("VmRSS:", m.rss_mb);
    kb("VmHWM:", m.hwm_mb);
  }
  rusage ru{};
  if (getrusage(RUSAGE_SELF, &ru) == 0)
    m.maxrss_mb = static_cast<double>(ru.ru_maxrss) * 1024 / 1e6;
  return m;
}

std::vector<BenchRow> run_bench(const BenchConfig& cfg, bool verbose) {
  if (cfg.threads > 0) omp_set_num_threads(cfg.threads);
  if (cfg.sort != "order" && cfg.sort != "time") {
    throw std::invalid_argument("bench: --sort must be 'order' or 'time', got '" + cfg.sort + "'");
  }
  const Device device = parse_device(cfg.device);
  const bool on_gpu = device.type != DeviceType::CPU;
  // On a GPU the per-layer spans wait for the device, so each row holds its own kernels' time.
  profile::set_device_sync(on_gpu);
  std::vector<BenchRow> rows;
  for (const auto& name : cfg.models) {
    const MemoryReading baseline = read_memory();
    manual_seed(0);
    // A zoo name, or a checkpoint (a pruned or distilled model runs with its own channels).
    std::shared_ptr<Module> model;
    BenchConfig c = cfg;
    if (name.ends_with(".safetensors")) {
      LoadedModel lm = load_model(name);
      model = lm.model;
      const auto shape = lm.meta.at("input_shape").get<std::vector<int64_t>>();
      c.channels = shape.at(0);
      c.image_size = shape.at(1);
    } else {
      models::ModelConfig mc;
      mc.in_channels = cfg.channels;
      mc.image_size = cfg.image_size;
      model = models::build_model(name, mc);
    }
    model->to(device);
    Generator gen(1, 0);
    if (cfg.train) {
      Tensor x =
          Tensor::randn({cfg.train_batch, c.channels, c.image_size, c.image_size}, gen).to(device);
      std::vector<int64_t> labels(static_cast<size_t>(cfg.train_batch));
      for (size_t i = 0; i < labels.size(); ++i) labels[i] = static_cast<int64_t>(i % 10);
      Tensor y = Tensor::from_labels(labels).to(device);
      optim::SgdOptions so;
      so.lr = 0.01f;
      so.momentum = 0.9f;
      so.nesterov = true;
      so.weight_decay = 5e-4f;
      optim::SGD sgd(model->named_parameters(), so);
      model->train();
      auto step = [&] {
        Tensor loss = ops::cross_entropy((*model)(x), y);
        sgd.zero_grad();
        loss.backward();
        sgd.step();
      };
      step();
      Storage::reset_peak();
      Storage::reset_device_peak();
      step();
      device_synchronize();
      const double peak =
          static_cast<double>(on_gpu ? Storage::device_peak_bytes() : Storage::peak_bytes());
      BenchRow r = time_it(cfg, step);
      r.model = name;
      r.device = cfg.device;
      r.mode = "train";
      r.batch = cfg.train_batch;
      r.images_per_second = static_cast<double>(cfg.train_batch) * 1000.0 / r.median_ms;
      r.peak_tensor_mb = peak / 1e6;
      if (cfg.per_layer) r.per_layer = profile_steps(cfg.profile_steps, step);
      set_memory(r, baseline);
      if (verbose) fmt::print("{} train: {:.1f} img/s\n", name, r.images_per_second);
      rows.push_back(std::move(r));
    }
    if (cfg.inference) {
      Tensor x =
          Tensor::randn({cfg.infer_batch, c.channels, c.image_size, c.image_size}, gen).to(device);
      model->eval();
      auto step = [&] {
        NoGradGuard ng;
        Tensor out = (*model)(x);
      };
      BenchRow r = time_it(cfg, step);
      r.model = name;
      r.device = cfg.device;
      r.mode = "inference";
      r.batch = cfg.infer_batch;
      r.images_per_second = static_cast<double>(cfg.infer_batch) * 1000.0 / r.median_ms;
      if (cfg.per_layer) r.per_layer = profile_steps(cfg.profile_steps, step);
      set_memory(r, baseline);
      if (verbose) fmt::print("{} inference: {:.1f} img/s\n", name, r.images_per_second);
      rows.push_back(std::move(r));
    }
  }
  return rows;
}

std::string format_bench(const std::vector<BenchRow>& rows) {
  std::string out =
      fmt::format("{:<12} {:<10} {:>6} {:>10} {:>9} {:>9} {:>9} {:>12} {:>12} {:>12}\n", "model",
                  "mode", "batch", "median ms", "min ms", "max ms", "img/s", "peak tensor",
                  "RSS base MB", "peak RSS MB");
  for (const auto& r : rows) {
    out += fmt::format(
        "{:<12} {:<10} {:>6} {:>10.1f} {:>9.1f} {:>9.1f} {:>9.1f} {:>12} {:>12} {:>12}\n", r.model,
        r.mode, r.batch, r.median_ms, r.min_ms, r.max_ms, r.images_per_second,
        r.mode == "train" ? fmt::format("{:.1f} MB", r.peak_tensor_mb) : "-",
        mb_or_dash(r.rss_baseline_mb), mb_or_dash(r.peak_rss_mb));
  }
  return out;
}

std::string format_per_layer(const BenchRow& row, const std::string& sort) {
  if (!row.per_layer) return "";
  const LayerProfile& p = *row.per_layer;
  const double steps = static_cast<double>(p.steps);
  // One line per module path: its forward self time and the backward time of the nodes its ops
  // recorded, per step.
  struct Line {
    std::string module, type;
    double fwd_ms = 0, bwd_ms = 0;
    std::vector<std::string> bwd_ops, fwd_kernels, bwd_kernels;
  };
  std::vector<Line> lines;
  std::map<std::string, size_t> index;
  const auto add_unique = [](std::vector<std::string>& v, const std::string& s) {
    if (std::find(v.begin(), v.end(), s) == v.end()) v.push_back(s);
  };
  double attributed = 0;
  for (const auto& r : p.rows) {
    auto it = index.find(r.module);
    if (it == index.end()) {
      it = index.emplace(r.module, lines.size()).first;
      lines.push_back({r.module, "", 0, 0, {}, {}, {}});
    }
    Line& l = lines[it->second];
    const double ms = r.total_ms / steps;
    attributed += ms;
    if (r.pass == profile::Pass::Forward) {
      l.type = l.type.empty() ? r.op_or_type : l.type + "/" + r.op_or_type;
      l.fwd_ms += ms;
      for (const auto& [k, n] : r.kernels) add_unique(l.fwd_kernels, k);
    } else {
      l.bwd_ms += ms;
      add_unique(l.bwd_ops, r.op_or_type);
      for (const auto& [k, n] : r.kernels) add_unique(l.bwd_kernels, k);
    }
  }
  if (sort == "time") {
    std::stable_sort(lines.begin(), lines.end(), [](const Line& a, const Line& b) {
      return a.fwd_ms + a.bwd_ms > b.fwd_ms + b.bwd_ms;
    });
  }
  const auto join = [](const std::vector<std::string>& v) {
    std::string s;
    for (const auto& x : v) s += (s.empty() ? "" : ",") + x;
    return s;
  };
  const bool train = row.mode == "train";
  size_t mw = 18, tw = 11;
  for (const auto& l : lines) {
    mw = std::max(mw, l.module.empty() ? size_t{11} : l.module.size());
    tw = std::max(tw, l.type.size());
  }
  const double share_base = p.step_ms > 0 ? p.step_ms : 1;
  std::string out = fmt::format(
      "\nper-layer profile: {} {}, batch {}: {} step{} with profiling on, {:.1f} ms per step "
      "(timed median without profiling {:.1f} ms); {}\n",
      row.model, row.mode, row.batch, p.steps, p.steps == 1 ? "" : "s", p.step_ms, row.median_ms,
      train ? "forward = module self time (children excluded), backward = its ops' nodes"
            : "forward = module self time (children excluded)");
  // Columns: module, type, [fwd ms, bwd ms,] total ms, share, [backward ops,] kernels.
  const auto line = [&](const std::string& module, const std::string& type, const std::string& fwd,
                        const std::string& bwd, const std::string& total, const std::string& share,
                        const std::string& ops, const std::string& kernels) {
    std::string s = fmt::format("{:<{}} {:<{}} ", module, mw, type, tw);
    if (train) s += fmt::format("{:>9} {:>9} ", fwd, bwd);
    s += fmt::format("{:>9} {:>6}  ", total, share);
    if (train) s += fmt::format("{:<16} ", ops);
    s += kernels;
    s.erase(s.find_last_not_of(' ') + 1);
    return s + "\n";
  };
  out += line("module", "type", "fwd ms", "bwd ms", train ? "total ms" : "fwd ms", "share",
              "backward ops", "kernels");
  int64_t hidden = 0;
  for (const auto& l : lines) {
    std::string kernels = join(l.fwd_kernels);
    if (!l.bwd_kernels.empty()) {
      kernels += (kernels.empty() ? "" : "; ") + std::string("bwd: ") + join(l.bwd_kernels);
    }
    const double total = l.fwd_ms + l.bwd_ms;
    if (total < 0.005 && kernels.empty()) {  // containers that only call children
      ++hidden;
      continue;
    }
    out += line(l.module.empty() ? "(top level)" : l.module, l.type.empty() ? "-" : l.type,
                fmt::format("{:.2f}", l.fwd_ms), fmt::format("{:.2f}", l.bwd_ms),
                fmt::format("{:.2f}", total), fmt::format("{:.1f}%", 100.0 * total / share_base),
                join(l.bwd_ops), kernels);
  }
  if (hidden > 0)
    out += fmt::format("({} module{} under 0.005 ms per step not shown)\n", hidden,
                       hidden == 1 ? "" : "s");
  const double rest = p.step_ms - attributed;
  out += fmt::format(
      "rows above: {:.2f} ms per step ({:.1f}%); not in any row: {:.2f} ms ({:.1f}%, {})\n",
      attributed, 100.0 * attributed / share_base, rest, 100.0 * rest / share_base,
      train ? "loss forward, optimizer step, autograd bookkeeping" : "work outside module calls");
  return out;
}

// ---------------------------------------------------------------------------------------------
// GEMM: glassbox's packed SGEMM against OpenBLAS, loaded at run time.

namespace {
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
  return median(t);
}

double gflops(int64_t n, double ms) {
  const double flops =
      2.0 * static_cast<double>(n) * static_cast<double>(n) * static_cast<double>(n);
  return ms > 0 ? flops / (ms * 1e6) : 0;
}
}  // namespace

GemmReport run_gemm_bench(const std::vector<int64_t>& sizes, const BenchConfig& cfg) {
  for (int64_t n : sizes) {
    if (n < 1 || n > 16384) {
      throw std::invalid_argument("bench --gemm: sizes must be in 1..16384, got " +
                                  std::to_string(n));
    }
  }
  if (cfg.threads > 0) omp_set_num_threads(cfg.threads);
  GemmReport g;
  g.threads = cfg.threads > 0 ? cfg.threads : omp_get_max_threads();
  g.warmup = cfg.warmup;
  g.reps = std::max<int64_t>(cfg.reps, 1);
  Generator gen(5, 0);
  std::vector<Tensor> as, bs, cs;
  for (int64_t n : sizes) {
    as.push_back(Tensor::uniform({n, n}, gen, -1.0f, 1.0f));
    bs.push_back(Tensor::uniform({n, n}, gen, -1.0f, 1.0f));
    cs.push_back(Tensor::zeros({n, n}));
  }
  for (size_t i = 0; i < sizes.size(); ++i) {
    const int64_t n = sizes[i];
    const float* a = as[i].f32();
    const float* b = bs[i].f32();
    float* c = cs[i].f32();
    GemmRow r;
    r.n = n;
    r.ours_ms = median_ms(g.warmup, g.reps, [&] {
      kernels::cpu::sgemm_parallel(false, false, n, n, n, 1.0f, a, n, b, n, 0.0f, c, n);
    });
    r.ours_gflops = gflops(n, r.ours_ms);
    g.rows.push_back(r);
  }
  const OpenBlas blas = load_openblas(g.threads);
  g.have_blas = blas.sgemm != nullptr;
  g.blas = blas.info;
  if (g.have_blas) {
    for (size_t i = 0; i < sizes.size(); ++i) {
      const int n = static_cast<int>(sizes[i]);
      const float* a = as[i].f32();
      const float* b = bs[i].f32();
      Tensor cb = Tensor::zeros({sizes[i], sizes[i]});
      float* c = cb.f32();
      GemmRow& r = g.rows[i];
      r.blas_ms = median_ms(g.warmup, g.reps, [&] {
        blas.sgemm(101, 111, 111, n, n, n, 1.0f, a, n, b, n, 0.0f, c, n);
      });
      r.blas_gflops = gflops(n, r.blas_ms);
      const float* ours = cs[i].f32();
      double max_diff = 0, max_ref = 0;
      for (int64_t k = 0, m = cb.numel(); k < m; ++k) {
        max_diff = std::max(max_diff, static_cast<double>(std::fabs(ours[k] - c[k])));
        max_ref = std::max(max_ref, static_cast<double>(std::fabs(c[k])));
      }
      r.max_rel_diff = max_ref > 0 ? max_diff / max_ref : max_diff;
    }
  }
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

nlohmann::json bench_to_json(const BenchConfig& cfg, const std::vector<BenchRow>& rows,
                             const GemmReport* gemm) {
  nlohmann::json j{{"threads", cfg.threads > 0 ? cfg.threads : omp_get_max_threads()},
                   {"warmup", cfg.warmup},
                   {"reps", cfg.reps},
                   {"data", "synthetic normal"},
                   {"rows", nlohmann::json::array()}};
  for (const auto& r : rows) {
    nlohmann::json row{{"model", r.model},
                       {"mode", r.mode},
                       {"device", r.device},
                       {"batch", r.batch},
                       {"median_ms", r.median_ms},
                       {"min_ms", r.min_ms},
                       {"max_ms", r.max_ms},
                       {"images_per_second", r.images_per_second},
                       {"peak_tensor_mb", r.peak_tensor_mb},
                       {"rss_baseline_mb", r.rss_baseline_mb},
                       {"peak_rss_mb", r.peak_rss_mb},
                       {"maxrss_mb", r.maxrss_mb}};
    if (r.per_layer) {
      const LayerProfile& p = *r.per_layer;
      nlohmann::json layers = nlohmann::json::array();
      for (const auto& pr : p.rows) {
        nlohmann::json kernels = nlohmann::json::object();
        for (const auto& [k, n] : pr.kernels) kernels[k] = n;
        const double per_step = pr.total_ms / static_cast<double>(p.steps);
        layers.push_back({{"module", pr.module},
                          {"op_or_type", pr.op_or_type},
                          {"pass", profile::pass_name(pr.pass)},
                          {"total_ms", pr.total_ms},
                          {"calls", pr.calls},
                          {"ms_per_step", per_step},
                          {"share", p.step_ms > 0 ? per_step / p.step_ms : 0.0},
                          {"kernels", kernels}});
      }
      row["per_layer"] = {{"steps", p.steps}, {"step_ms", p.step_ms}, {"rows", layers}};
    }
    j["rows"].push_back(row);
  }
  if (gemm) j["gemm"] = gemm_to_json(*gemm);
  return j;
}

}  // namespace gb::app
