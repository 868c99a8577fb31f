// The one-process group, the process's world, and the checks built on any group (see
// process_group.h).
#include "runtime/process_group.h"

#include <fmt/format.h>

#include <cstdlib>
#include <cstring>
#include <stdexcept>

namespace gb {

void LocalProcessGroup::all_gather(std::span<const std::byte> in, std::span<std::byte> out) {
  if (out.size() != in.size()) throw std::invalid_argument("all_gather: output size mismatch");
  if (!in.empty()) std::memcpy(out.data(), in.data(), in.size());
}

std::vector<std::string> LocalProcessGroup::all_gather_strings(const std::string& mine) {
  return {mine};
}

void LocalProcessGroup::abort(int exit_code) { std::exit(exit_code); }

namespace {
std::unique_ptr<ProcessGroup>& world_slot() {
  static std::unique_ptr<ProcessGroup> group = std::make_unique<LocalProcessGroup>();
  return group;
}
}  // namespace

ProcessGroup& world() { return *world_slot(); }

void set_world(std::unique_ptr<ProcessGroup> group) {
  if (!group) throw std::invalid_argument("set_world: no group");
  world_slot() = std::move(group);
}

void check_same_on_all_ranks(ProcessGroup& group, const std::string& value,
                             const std::string& what) {
  if (group.size() == 1) return;
  const std::vector<std::string> all = group.all_gather_strings(value);
  for (size_t r = 1; r < all.size(); ++r) {
    if (all[r] != all[0]) {
      throw std::runtime_error(fmt::format(
          "the ranks disagree on {}: rank {} has [{}], rank 0 has [{}]; every rank must run the "
          "same binary with the same configuration and data",
          what, r, all[r], all[0]));
    }
  }
}

ShardRange shard_range(int64_t count, int rank, int ranks) {
  if (ranks < 1 || rank < 0 || rank >= ranks || count < 0) {
    throw std::invalid_argument(
        fmt::format("shard_range: rank {} of {} over {} items", rank, ranks, count));
  }
  const int64_t base = count / ranks, extra = count % ranks;
  const int64_t begin = rank * base + std::min<int64_t>(rank, extra);
  return {begin, begin + base + (rank < extra ? 1 : 0)};
}

}  // namespace gb
