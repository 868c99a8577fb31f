// `glassbox ops`: the op table as runtime/op_table.h formats it.
#include <fmt/format.h>

#include <CLI/CLI.hpp>

#include "runtime/op_table.h"
#include "tools/cli/commands.h"

namespace gb::cli {
namespace {

void run() { fmt::print("{}", format_op_table()); }

}  // namespace

Command add_ops(CLI::App& cli) {
  auto* app = cli.add_subcommand("ops", "print the op table (kernels per device, backward)");
  return {app, run};
}

}  // namespace gb::cli
