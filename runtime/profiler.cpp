// The per-layer profiler's thread-local records: rows keyed by (pass, module, op or type), a stack
// of open spans for self time and note_kernel, and a generation counter so reset() during open
// spans is harmless.
#include "runtime/profiler.h"

#include <unordered_map>

#include "runtime/device_copy.h"

namespace gb::profile {
namespace detail {
constinit thread_local bool t_enabled = false;
}  // namespace detail

namespace {
struct Frame {
  size_t row;
  uint64_t generation;
  double child_ms = 0;  // time of spans nested directly inside this one
};

struct Records {
  std::vector<ProfileRow> rows;
  std::unordered_map<std::string, size_t> index;  // key(pass, module, op_or_type) -> row
  std::vector<Frame> stack;
  uint64_t generation = 0;
};

Records& records() {
  thread_local Records r;
  return r;
}

std::string key(Pass pass, const std::string& module, const std::string& op_or_type) {
  std::string k(1, pass == Pass::Forward ? 'f' : 'b');
  k += module;
  k += '\x1f';
  k += op_or_type;
  return k;
}
}  // namespace

const char* pass_name(Pass p) { return p == Pass::Forward ? "forward" : "backward"; }

ProfileScope::ProfileScope() : prev_(detail::t_enabled) { detail::t_enabled = true; }
ProfileScope::~ProfileScope() { detail::t_enabled = prev_; }

void reset() {
  Records& r = records();
  r.rows.clear();
  r.index.clear();
  ++r.generation;
}

std::vector<ProfileRow> rows() { return records().rows; }

void note_kernel(const std::string& kernel) {
  if (!detail::t_enabled) return;
  Records& r = records();
  if (r.stack.empty() || r.stack.back().generation != r.generation) return;
  auto& kernels = r.rows[r.stack.back().row].kernels;
  for (auto& [text, count] : kernels) {
    if (text == kernel) {
      ++count;
      return;
    }
  }
  kernels.emplace_back(kernel, 1);
}

namespace {
thread_local bool t_device_sync = false;
}  // namespace

void set_device_sync(bool on) { t_device_sync = on; }

Span::Span(Pass pass, const std::string& module, const std::string& op_or_type) {
  if (t_device_sync) device_synchronize();  // earlier spans' GPU work is theirs
  Records& r = records();
  const std::string k = key(pass, module, op_or_type);
  auto it = r.index.find(k);
  if (it == r.index.end()) {
    ProfileRow row;
    row.module = module;
    row.op_or_type = op_or_type;
    row.pass = pass;
    r.rows.push_back(std::move(row));
    it = r.index.emplace(k, r.rows.size() - 1).first;
  }
  r.stack.push_back({it->second, r.generation, 0.0});
  start_ = std::chrono::steady_clock::now();  // last, so the bookkeeping above is not counted
}

Span::~Span() {
  if (t_device_sync) device_synchronize();
  const double ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start_).count();
  Records& r = records();
  const Frame f = r.stack.back();
  r.stack.pop_back();
  if (!r.stack.empty()) r.stack.back().child_ms += ms;
  if (f.generation != r.generation) return;
  ProfileRow& row = r.rows[f.row];
  row.total_ms += ms - f.child_ms;
  ++row.calls;
}

}  // namespace gb::profile
