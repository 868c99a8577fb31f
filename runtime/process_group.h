// The processes a job spans and the few collectives glassbox needs from them: data-parallel
// training (gradient and metric sums, synchronised batch-norm statistics) and sharded evaluation
// and explanation (gathering results). One process is the default group (size 1, every
// collective a copy); an MPI launch (`mpirun -np N glassbox ...`, runtime/mpi/) installs the
// group of its N ranks as the process's world at start-up.
//
// Determinism: every sum here adds the ranks' contributions in rank order 0, 1, ..., N-1, element
// by element ((x0 + x1) + x2 ...), whatever the MPI library's own reduction algorithms would do,
// so for a fixed N the result is bit-identical on every rank and from run to run.
// No shapes here: buffers are flat.
#pragma once
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

namespace gb {

class ProcessGroup {
 public:
  virtual ~ProcessGroup() = default;
  virtual int rank() const = 0;  // 0 .. size()-1
  virtual int size() const = 0;  // at least 1
  bool is_root() const { return rank() == 0; }

  // out[r * in.size() + i] = rank r's in[i]. Every rank passes the same in.size().
  // requires: out.size() == size() * in.size().
  virtual void all_gather(std::span<const std::byte> in, std::span<std::byte> out) = 0;
  // Every rank's bytes, in rank order; the ranks' sizes may differ.
  virtual std::vector<std::string> all_gather_strings(const std::string& mine) = 0;
  // Sums `values` over the ranks in rank order; every rank gets the sum in place.
  // requires: every rank passes the same number of values.
  virtual void all_reduce_sum(std::span<float> values) = 0;
  virtual void all_reduce_sum(std::span<double> values) = 0;
  // Rank 0's bytes on every rank (`bytes` is resized on the others).
  virtual void broadcast(std::string& bytes) = 0;
  // Ends the whole job at once (every rank), after this rank printed why; never returns.
  [[noreturn]] virtual void abort(int exit_code) = 0;
  // A short description: "MPI rank 1 of 2 on host" or "one process".
  virtual std::string describe() const = 0;
};

// The group of this process alone.
class LocalProcessGroup final : public ProcessGroup {
 public:
  int rank() const override { return 0; }
  int size() const override { return 1; }
  void all_gather(std::span<const std::byte> in, std::span<std::byte> out) override;
  std::vector<std::string> all_gather_strings(const std::string& mine) override;
  void all_reduce_sum(std::span<float>) override {}
  void all_reduce_sum(std::span<double>) override {}
  void broadcast(std::string&) override {}
  [[noreturn]] void abort(int exit_code) override;
  std::string describe() const override { return "one process"; }
};

// The process's group: a LocalProcessGroup until set_world installs another (at start-up, before
// any job runs; the group lives until the process ends).
ProcessGroup& world();
void set_world(std::unique_ptr<ProcessGroup> group);

// Throws std::runtime_error when the ranks disagree on `value` (a fingerprint of something that
// must be the same everywhere: the binary, the configuration, the data), naming the first rank
// that differs from rank 0 and `what` ("the training data", ...). Collective: every rank calls it.
void check_same_on_all_ranks(ProcessGroup& group, const std::string& value,
                             const std::string& what);

// The part [begin, end) of `count` items that `rank` of `ranks` takes: contiguous, in rank order,
// sizes differing by at most one (the first count % ranks ranks take one more).
struct ShardRange {
  int64_t begin = 0, end = 0;
  int64_t size() const { return end - begin; }
};
ShardRange shard_range(int64_t count, int rank, int ranks);

}  // namespace gb
