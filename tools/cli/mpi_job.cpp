// Joining an MPI job and ending it on an error (see mpi_job.h).
#include "tools/cli/mpi_job.h"

#include <fmt/format.h>

#include <cstdio>
#include <fstream>
#include <iterator>
#include <set>
#include <stdexcept>

#include "runtime/checksum.h"
#include "runtime/mpi/mpi_launch.h"
#include "runtime/process_group.h"

namespace gb::cli {
namespace {

// The size and CRC-32C of this process's executable.
std::string binary_fingerprint() {
  std::ifstream in("/proc/self/exe", std::ios::binary);
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (!in.eof() && in.fail()) return "unreadable executable";
  return fmt::format("{} bytes, CRC-32C {:08x}", bytes.size(), crc32c(bytes));
}

}  // namespace

void join_mpi_job(int* argc, char*** argv) {
  if (!launched_by_mpi()) return;
  set_world(init_mpi(argc, argv));
  check_same_on_all_ranks(world(), binary_fingerprint(), "the glassbox binary");
}

void check_command_runs_in_job(const std::string& command) {
  static const std::set<std::string> parallel = {"train", "eval", "evaluate-explanations",
                                                 "explain"};
  if (world().size() == 1 || parallel.count(command)) return;
  throw std::runtime_error(fmt::format(
      "glassbox {} runs in one process; under mpirun, start it with -np 1 (commands that run on "
      "several processes: train, eval, evaluate-explanations, explain --indices)",
      command));
}

int fail_job(const std::string& message) {
  ProcessGroup& group = world();
  std::fflush(stdout);
  if (group.size() == 1) {
    fmt::print(stderr, "glassbox: error: {}\n", message);
    return 1;
  }
  fmt::print(stderr, "glassbox: error on {}: {}; stopping all {} processes\n", group.describe(),
             message, group.size());
  group.abort(1);
  return 1;  // not reached: abort ends the process
}

}  // namespace gb::cli
