// The world group of an MPI job over Open MPI (see mpi_launch.h and process_group.h). Sums run as
// a reduce-scatter and an all-gather written here: rank c owns chunk c of the buffer, receives
// every rank's copy of it (MPI_Alltoallv), adds them in rank order, and the summed chunks are
// gathered back (MPI_Allgatherv). MPI's own MPI_Allreduce is not used: its algorithm, and with
// it the order of the additions, depends on the library, the message size and the rank count.
// No shapes here: buffers are flat.
#define OMPI_SKIP_MPICXX 1  // the C API only: no C++ bindings to link
#define MPICH_SKIP_MPICXX 1
#include <fmt/format.h>
#include <mpi.h>
#include <unistd.h>

#include <climits>
#include <cstdio>
#include <stdexcept>
#include <vector>

#include "runtime/mpi/mpi_launch.h"

namespace gb {
namespace {

void check(int code, const char* what) {
  if (code == MPI_SUCCESS) return;
  char text[MPI_MAX_ERROR_STRING];
  int length = 0;
  MPI_Error_string(code, text, &length);
  throw std::runtime_error(fmt::format("MPI: {} failed: {}", what, std::string(text, length)));
}

int to_count(size_t n, const char* what) {
  if (n > static_cast<size_t>(INT_MAX)) {
    throw std::runtime_error(
        fmt::format("MPI: {} of {} elements is over MPI's count limit", what, n));
  }
  return static_cast<int>(n);
}

template <class T>
MPI_Datatype mpi_type();
template <>
MPI_Datatype mpi_type<float>() {
  return MPI_FLOAT;
}
template <>
MPI_Datatype mpi_type<double>() {
  return MPI_DOUBLE;
}

class MpiProcessGroup final : public ProcessGroup {
 public:
  MpiProcessGroup() {
    MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
    MPI_Comm_size(MPI_COMM_WORLD, &size_);
    char host[256] = {};
    gethostname(host, sizeof(host) - 1);
    host_ = host;
  }
  ~MpiProcessGroup() override {
    int finalized = 0;
    MPI_Finalized(&finalized);
    if (!finalized) MPI_Finalize();
  }
  int rank() const override { return rank_; }
  int size() const override { return size_; }

  void all_gather(std::span<const std::byte> in, std::span<std::byte> out) override {
    if (out.size() != in.size() * static_cast<size_t>(size_)) {
      throw std::invalid_argument("all_gather: output size mismatch");
    }
    const int n = to_count(in.size(), "all_gather");
    check(MPI_Allgather(in.data(), n, MPI_BYTE, out.data(), n, MPI_BYTE, MPI_COMM_WORLD),
          "MPI_Allgather");
  }

  std::vector<std::string> all_gather_strings(const std::string& mine) override {
    const int n = to_count(mine.size(), "all_gather_strings");
    std::vector<int> sizes(static_cast<size_t>(size_)), displs(sizes.size());
    check(MPI_Allgather(&n, 1, MPI_INT, sizes.data(), 1, MPI_INT, MPI_COMM_WORLD), "MPI_Allgather");
    size_t total = 0;
    for (size_t r = 0; r < sizes.size(); ++r) {
      displs[r] = to_count(total, "all_gather_strings");
      total += static_cast<size_t>(sizes[r]);
    }
    std::string all(total, '\0');
    check(MPI_Allgatherv(mine.data(), n, MPI_BYTE, all.data(), sizes.data(), displs.data(),
                         MPI_BYTE, MPI_COMM_WORLD),
          "MPI_Allgatherv");
    std::vector<std::string> out;
    for (size_t r = 0; r < sizes.size(); ++r) {
      out.push_back(all.substr(static_cast<size_t>(displs[r]), static_cast<size_t>(sizes[r])));
    }
    return out;
  }

  void all_reduce_sum(std::span<float> values) override { sum_in_rank_order(values); }
  void all_reduce_sum(std::span<double> values) override { sum_in_rank_order(values); }

  void broadcast(std::string& bytes) override {
    int n = to_count(bytes.size(), "broadcast");
    check(MPI_Bcast(&n, 1, MPI_INT, 0, MPI_COMM_WORLD), "MPI_Bcast");
    bytes.resize(static_cast<size_t>(n));
    check(MPI_Bcast(bytes.data(), n, MPI_BYTE, 0, MPI_COMM_WORLD), "MPI_Bcast");
  }

  [[noreturn]] void abort(int exit_code) override {
    std::fflush(stdout);
    std::fflush(stderr);
    MPI_Abort(MPI_COMM_WORLD, exit_code);
    std::_Exit(exit_code);  // MPI_Abort does not return; this is for the compiler
  }

  std::string describe() const override {
    return fmt::format("MPI rank {} of {} on {}", rank_, size_, host_);
  }

 private:
  // Reduce-scatter by chunks, the rank-order sum of each chunk, all-gather (see the header).
  template <class T>
  void sum_in_rank_order(std::span<T> values) {
    if (size_ == 1 || values.empty()) return;
    const size_t ranks = static_cast<size_t>(size_);
    std::vector<int> chunk_sizes(ranks), chunk_begins(ranks);
    for (int c = 0; c < size_; ++c) {
      const ShardRange s = shard_range(static_cast<int64_t>(values.size()), c, size_);
      chunk_sizes[static_cast<size_t>(c)] = to_count(static_cast<size_t>(s.size()), "sum");
      chunk_begins[static_cast<size_t>(c)] = to_count(static_cast<size_t>(s.begin), "sum");
    }
    const int mine = chunk_sizes[static_cast<size_t>(rank_)];
    std::vector<int> recv_sizes(ranks, mine), recv_begins(ranks);
    for (size_t r = 0; r < ranks; ++r) recv_begins[r] = static_cast<int>(r) * mine;
    std::vector<T> copies(ranks * static_cast<size_t>(mine));
    check(MPI_Alltoallv(values.data(), chunk_sizes.data(), chunk_begins.data(), mpi_type<T>(),
                        copies.data(), recv_sizes.data(), recv_begins.data(), mpi_type<T>(),
                        MPI_COMM_WORLD),
          "MPI_Alltoallv");
    std::vector<T> summed(copies.begin(), copies.begin() + mine);
    for (size_t r = 1; r < ranks; ++r) {
      const T* part = copies.data() + r * static_cast<size_t>(mine);
      for (int i = 0; i < mine; ++i) summed[static_cast<size_t>(i)] += part[i];
    }
    check(MPI_Allgatherv(summed.data(), mine, mpi_type<T>(), values.data(), chunk_sizes.data(),
                         chunk_begins.data(), mpi_type<T>(), MPI_COMM_WORLD),
          "MPI_Allgatherv");
  }

  int rank_ = 0, size_ = 1;
  std::string host_;
};

}  // namespace

bool mpi_available() { return true; }

std::unique_ptr<ProcessGroup> init_mpi(int* argc, char*** argv) {
  int provided = 0;
  check(MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided), "MPI_Init_thread");
  if (provided < MPI_THREAD_FUNNELED) {
    MPI_Finalize();
    throw std::runtime_error("MPI: the library does not support MPI_THREAD_FUNNELED");
  }
  return std::make_unique<MpiProcessGroup>();
}

}  // namespace gb
