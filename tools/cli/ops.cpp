// `glassbox ops`: the op table, one line per op with its CPU kernel, CUDA kernel and backward.
#include <fmt/format.h>

#include <CLI/CLI.hpp>

#include "runtime/op_table.h"
#include "tools/cli/commands.h"

namespace gb::cli {
namespace {

void run() {
  fmt::print("{:<16} {:<42} {:<6} {}\n", "op", "cpu kernel", "cuda", "backward");
  for (const auto& op : op_table()) {
    fmt::print("{:<16} {:<42} {:<6} {}\n", op.name, op.cpu_kernel,
               op.cuda_kernel ? op.cuda_kernel : "none", op.backward);
  }
}

}  // namespace

Command add_ops(CLI::App& cli) {
  auto* app = cli.add_subcommand("ops", "print the op table (kernels per device, backward)");
  return {app, run};
}

}  // namespace gb::cli
