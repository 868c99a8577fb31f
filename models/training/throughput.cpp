// Throughput timing on synthetic data, the process's memory and the per-layer table (see
// throughput.h). Shape letters: N batch, C channels, H/W image size.
#include "models/training/throughput.h"

#include <fmt/format.h>
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <map>
#include <stdexcept>

#include "runtime/anomaly.h"
#include "runtime/autograd.h"
#include "runtime/device_copy.h"
#include "runtime/ops.h"
#include "runtime/optim.h"
#include "runtime/rng.h"
#include "runtime/storage.h"

namespace gb::training {
namespace {

double now_ms() {
  return std::chrono::duration<double, std::milli>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// Times `step` after warm-up; device work is waited for before each clock reading, so a GPU
// step is timed from its first launch to the end of its last kernel.
template <class Fn>
ThroughputRow time_steps(const ThroughputOptions& opt, int64_t batch, Fn&& step) {
  for (int64_t i = 0; i < opt.warmup; ++i) step();
  device_synchronize();
  std::vector<double> times;
  for (int64_t i = 0; i < std::max<int64_t>(opt.reps, 1); ++i) {
    const double t0 = now_ms();
    step();
    device_synchronize();
    times.push_back(now_ms() - t0);
  }
  std::sort(times.begin(), times.end());
  ThroughputRow r;
  r.batch = batch;
  r.median_ms = times[times.size() / 2];
  r.min_ms = times.front();
  r.max_ms = times.back();
  r.images_per_second = static_cast<double>(batch) * 1000.0 / r.median_ms;
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

// Peak bytes held by tensors during one more step (after one to reach the steady state).
template <class Fn>
double peak_tensor_mb(Fn&& step, bool on_gpu) {
  step();
  Storage::reset_peak();
  Storage::reset_device_peak();
  step();
  device_synchronize();
  const auto peak = on_gpu ? Storage::device_peak_bytes() : Storage::peak_bytes();
  return static_cast<double>(peak) / 1e6;
}

void set_memory(ThroughputRow& r, const MemoryReading& baseline) {
  const MemoryReading now = read_memory();
  r.rss_baseline_mb = baseline.rss_mb;
  r.peak_rss_mb = now.hwm_mb;
  r.maxrss_mb = now.maxrss_mb;
}

ThroughputRow measure_training(Module& model, const Shape& chw, int64_t classes,
                               const ThroughputOptions& opt, Generator& gen) {
  const Device device = model.device();
  const Tensor x = Tensor::randn({opt.train_batch, chw[0], chw[1], chw[2]}, gen).to(device);
  std::vector<int64_t> labels(static_cast<size_t>(opt.train_batch));
  for (size_t i = 0; i < labels.size(); ++i) labels[i] = static_cast<int64_t>(i) % classes;
  const Tensor y = Tensor::from_labels(labels).to(device);
  optim::SgdOptions so;
  so.lr = 0.01f;
  so.momentum = 0.9f;
  so.nesterov = true;
  so.weight_decay = 5e-4f;
  optim::SGD sgd(model.named_parameters(), so);
  const bool was_training = model.is_training();
  model.train();
  auto step = [&] {
    Tensor loss = ops::cross_entropy(model(x), y);
    sgd.zero_grad();
    loss.backward();
    sgd.step();
  };
  const double peak = opt.peak_memory ? peak_tensor_mb(step, device.type != DeviceType::Cpu) : 0;
  ThroughputRow r = time_steps(opt, opt.train_batch, step);
  r.mode = "train";
  r.peak_tensor_mb = peak;
  if (opt.profile_steps > 0) r.per_layer = profile_steps(opt.profile_steps, step);
  model.train(was_training);
  return r;
}

ThroughputRow measure_inference(Module& model, const Shape& chw, const ThroughputOptions& opt,
                                Generator& gen) {
  const Tensor x = Tensor::randn({opt.infer_batch, chw[0], chw[1], chw[2]}, gen).to(model.device());
  EvalModeScope eval(model);
  auto step = [&] {
    NoGradGuard no_grad;
    Tensor out = model(x);
  };
  ThroughputRow r = time_steps(opt, opt.infer_batch, step);
  r.mode = "inference";
  if (opt.profile_steps > 0) r.per_layer = profile_steps(opt.profile_steps, step);
  return r;
}

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

std::vector<ThroughputRow> measure_throughput(Module& model, const Shape& chw, int64_t classes,
                                              const ThroughputOptions& opt,
                                              const MemoryReading& baseline) {
  if (chw.size() != 3) {
    throw std::invalid_argument("measure_throughput: input shape must be [C,H,W], got " +
                                shape_str(chw));
  }
  std::vector<ThroughputRow> rows;
  Generator gen(1, 0);
  const AnomalyGuard guard(opt.detect_anomaly);
  if (opt.train) {
    rows.push_back(measure_training(model, chw, std::max<int64_t>(classes, 1), opt, gen));
    set_memory(rows.back(), baseline);
  }
  if (opt.inference) {
    Storage::release_cache();  // the training step's block sizes are not inference's
    rows.push_back(measure_inference(model, chw, opt, gen));
    set_memory(rows.back(), baseline);
  }
  return rows;
}

namespace {

// One line of the per-layer table: a module path's forward self time and the backward time of
// the nodes its ops recorded, per step.
struct ModuleLine {
  std::string module, type;
  double fwd_ms = 0, bwd_ms = 0;
  std::vector<std::string> bwd_ops, fwd_kernels, bwd_kernels;
};

void add_unique(std::vector<std::string>& v, const std::string& s) {
  if (std::find(v.begin(), v.end(), s) == v.end()) v.push_back(s);
}

std::string join_commas(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& x : v) s += (s.empty() ? "" : ",") + x;
  return s;
}

// The profile's rows merged per module path, in first-seen (execution) order; `attributed` gets
// the per-step milliseconds of all rows.
std::vector<ModuleLine> module_lines(const LayerProfile& p, double& attributed) {
  std::vector<ModuleLine> lines;
  std::map<std::string, size_t> index;
  attributed = 0;
  for (const auto& r : p.rows) {
    auto it = index.find(r.module);
    if (it == index.end()) {
      it = index.emplace(r.module, lines.size()).first;
      lines.push_back({r.module, "", 0, 0, {}, {}, {}});
    }
    ModuleLine& l = lines[it->second];
    const double ms = r.total_ms / static_cast<double>(p.steps);
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
  return lines;
}

// The table's columns: module, type, [fwd ms, bwd ms,] total ms, share, [backward ops,] kernels
// (the bracketed ones in training rows only).
struct TableCells {
  std::string module, type, fwd, bwd, total, share, ops, kernels;
};

class PerLayerTable {
 public:
  PerLayerTable(const std::vector<ModuleLine>& lines, bool train) : train_(train) {
    for (const auto& l : lines) {
      module_width_ = std::max(module_width_, l.module.empty() ? size_t{11} : l.module.size());
      type_width_ = std::max(type_width_, l.type.size());
    }
  }

  std::string header() const {
    return line({"module", "type", "fwd ms", "bwd ms", train_ ? "total ms" : "fwd ms", "share",
                 "backward ops", "kernels"});
  }

  // The line of `l`, or "" for a container that only calls children (counted in hidden()).
  std::string row(const ModuleLine& l, double share_base) {
    std::string kernels = join_commas(l.fwd_kernels);
    if (!l.bwd_kernels.empty()) {
      kernels += (kernels.empty() ? "" : "; ") + std::string("bwd: ") + join_commas(l.bwd_kernels);
    }
    const double total = l.fwd_ms + l.bwd_ms;
    if (total < 0.005 && kernels.empty()) {
      ++hidden_;
      return "";
    }
    return line({l.module.empty() ? "(top level)" : l.module, l.type.empty() ? "-" : l.type,
                 fmt::format("{:.2f}", l.fwd_ms), fmt::format("{:.2f}", l.bwd_ms),
                 fmt::format("{:.2f}", total), fmt::format("{:.1f}%", 100.0 * total / share_base),
                 join_commas(l.bwd_ops), kernels});
  }

  int64_t hidden() const { return hidden_; }

 private:
  std::string line(const TableCells& c) const {
    std::string s = fmt::format("{:<{}} {:<{}} ", c.module, module_width_, c.type, type_width_);
    if (train_) s += fmt::format("{:>9} {:>9} ", c.fwd, c.bwd);
    s += fmt::format("{:>9} {:>6}  ", c.total, c.share);
    if (train_) s += fmt::format("{:<16} ", c.ops);
    s += c.kernels;
    s.erase(s.find_last_not_of(' ') + 1);
    return s + "\n";
  }

  bool train_;
  size_t module_width_ = 18, type_width_ = 11;
  int64_t hidden_ = 0;
};

}  // namespace

std::string format_per_layer(const ThroughputRow& row, const std::string& sort) {
  if (!row.per_layer) return "";
  const LayerProfile& p = *row.per_layer;
  double attributed = 0;
  std::vector<ModuleLine> lines = module_lines(p, attributed);
  if (sort == "time") {
    std::stable_sort(lines.begin(), lines.end(), [](const ModuleLine& a, const ModuleLine& b) {
      return a.fwd_ms + a.bwd_ms > b.fwd_ms + b.bwd_ms;
    });
  }
  const bool train = row.mode == "train";
  const double share_base = p.step_ms > 0 ? p.step_ms : 1;
  std::string out = fmt::format(
      "\nper-layer profile: {} {}, batch {}: {} step{} with profiling on, {:.1f} ms per step "
      "(timed median without profiling {:.1f} ms); {}\n",
      row.model, row.mode, row.batch, p.steps, p.steps == 1 ? "" : "s", p.step_ms, row.median_ms,
      train ? "forward = module self time (children excluded), backward = its ops' nodes"
            : "forward = module self time (children excluded)");
  PerLayerTable table(lines, train);
  out += table.header();
  for (const auto& l : lines) out += table.row(l, share_base);
  const int64_t hidden = table.hidden();
  if (hidden > 0) {
    out += fmt::format("({} module{} under 0.005 ms per step not shown)\n", hidden,
                       hidden == 1 ? "" : "s");
  }
  const double rest = p.step_ms - attributed;
  out += fmt::format(
      "rows above: {:.2f} ms per step ({:.1f}%); not in any row: {:.2f} ms ({:.1f}%, {})\n",
      attributed, 100.0 * attributed / share_base, rest, 100.0 * rest / share_base,
      train ? "loss forward, optimizer step, autograd bookkeeping" : "work outside module calls");
  return out;
}

}  // namespace gb::training
