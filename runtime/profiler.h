// Per-layer profiler: wall time of every module call (forward, self time) and of every autograd
// node's backward, aggregated per (module path, type or op, pass) over repeated steps, with the
// kernel each op reports choosing (note_kernel). Off by default; a ProfileScope turns it on for
// the calling thread. When off, the runtime pays one thread-local bool check per module call and
// per backward node, and note_kernel returns at once.
//
// Attribution: forward rows hold a module's SELF time, i.e. its forward() minus the time spent in
// child module calls, so functional ops a block runs itself (residual add, relu called as a
// function) count for the block. Backward rows hold the time of `node->backward(grad)` for the
// nodes an op recorded, keyed by the module that ran the op (Node::module) and the op name.
// Autograd bookkeeping (fan-out sums, gradient hooks, leaf accumulation), optimizer steps and ops
// run outside any module's forward are not attributed to any row.
//
// Per thread: profiling state and records belong to the thread that created the ProfileScope.
// Ops must call note_kernel from the thread that called them (not inside a parallel region).
#pragma once
#include <chrono>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace gb::profile {

enum class Pass { Forward, Backward };
const char* pass_name(Pass p);  // "forward" | "backward"

struct ProfileRow {
  std::string module;      // module path ("" for the root module / ops outside any module)
  std::string op_or_type;  // forward: module type name ("Conv2d"); backward: op name ("conv2d")
  Pass pass = Pass::Forward;
  double total_ms = 0;  // summed over calls; forward: self time (children excluded)
  int64_t calls = 0;
  // Distinct note_kernel texts seen during this row's calls, in first-seen order, each with the
  // number of times it was noted.
  std::vector<std::pair<std::string, int64_t>> kernels;
};

namespace detail {
extern constinit thread_local bool t_enabled;
}  // namespace detail

// True while a ProfileScope is alive on this thread.
inline bool enabled() { return detail::t_enabled; }

// Turns profiling on for this thread for its lifetime and restores the previous state after.
// Records accumulate across scopes until reset(); nesting is allowed.
class ProfileScope {
 public:
  ProfileScope();
  ~ProfileScope();
  ProfileScope(const ProfileScope&) = delete;
  ProfileScope& operator=(const ProfileScope&) = delete;

 private:
  bool prev_;
};

// With `on`, every span waits for queued device (GPU) work when it opens and closes, so a GPU
// op's kernel time lands in its own row rather than in whichever later call waits. Adds a
// synchronisation per span: use for per-layer tables only, never for throughput figures.
void set_device_sync(bool on);

// Drops this thread's records. Spans open at the time record nothing when they close.
void reset();

// This thread's records, in the order each (module, op_or_type, pass) was first seen (forward
// rows follow the model's execution order; backward rows the engine's order).
std::vector<ProfileRow> rows();

// Names the kernel an op chose ("conv3x3-direct", "im2col+gemm"). With profiling on, the text is
// attached to the innermost open span: the module whose forward is running, or the backward node
// being run. With profiling off, or outside any span, it does nothing.
void note_kernel(const std::string& kernel);

// Times one forward module call or one backward node call and adds it to the row of
// (module, op_or_type, pass). Used by Module::operator() and the autograd engine; construct it
// only when enabled() is true. Spans nest: a span's time is subtracted from its parent's self time.
class Span {
 public:
  Span(Pass pass, const std::string& module, const std::string& op_or_type);
  ~Span();
  Span(const Span&) = delete;
  Span& operator=(const Span&) = delete;

 private:
  std::chrono::steady_clock::time_point start_;
};

}  // namespace gb::profile
