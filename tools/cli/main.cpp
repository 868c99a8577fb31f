// The glassbox command line: builds the CLI11 app from the subcommands (one file each in
// tools/cli/, listed in commands.h), parses, applies the shared options and runs the chosen
// command. Errors print one clear line and exit non-zero (under mpirun: naming the rank, and
// ending every rank of the job; tools/cli/mpi_job.h).
#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <csignal>
#include <cstdio>
#include <exception>

#include "tools/cli/commands.h"
#include "tools/cli/mpi_job.h"
#include "tools/cli/shared_options.h"

int main(int argc, char** argv) {
  // Past a file-size limit (ulimit -f) a write then fails with EFBIG and an error naming the file,
  // as on a full disk, instead of the process dying from SIGXFSZ with the file half written.
  std::signal(SIGXFSZ, SIG_IGN);
  try {
    gb::cli::join_mpi_job(&argc, &argv);
  } catch (const std::exception& e) {
    return gb::cli::fail_job(e.what());
  }
  CLI::App cli{"glassbox: train and explain CIFAR-style CNNs with one binary"};
  cli.require_subcommand(1);
  gb::cli::SharedOptions shared;
  const std::vector<gb::cli::Command> commands = gb::cli::add_commands(cli, shared);
  try {
    cli.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return cli.exit(e);
  }
  try {
    gb::cli::apply_shared_options(shared);
    for (const auto& command : commands) {
      if (!*command.app) continue;
      gb::cli::check_command_runs_in_job(command.app->get_name());
      command.run();
    }
  } catch (const std::exception& e) {
    return gb::cli::fail_job(e.what());
  }
  return 0;
}

namespace gb::cli {

std::vector<Command> add_commands(CLI::App& cli, SharedOptions& shared) {
  return {add_train(cli, shared),
          add_eval(cli, shared),
          add_summary(cli, shared),
          add_ops(cli),
          add_bench(cli, shared),
          add_explain(cli, shared),
          add_evaluate_explanations(cli, shared),
          add_prune(cli, shared),
          add_distill(cli, shared),
          add_compress(cli, shared),
          add_import(cli),
          add_export(cli, shared),
          add_graph(cli, shared),
          add_activations(cli, shared),
          add_global_explain(cli, shared),
          add_tcav(cli, shared),
          add_report(cli, shared),
          add_probe(cli, shared)};
}

}  // namespace gb::cli
