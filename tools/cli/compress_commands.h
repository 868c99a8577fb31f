// The `prune`, `distill` and `compress` subcommands of the glassbox CLI, kept out of main.cpp:
// add_compress_commands registers their options on the CLI11 app, run_compress_commands runs the
// one that was chosen (the jobs are in tools/lib/compress.h).
#pragma once
#include <memory>

namespace CLI {
class App;
}

namespace gb::cli {

struct CompressCommands;

// Registers the three subcommands on `app`; the returned state receives their options.
std::shared_ptr<CompressCommands> add_compress_commands(CLI::App& app);

// Runs the chosen subcommand and returns true, or returns false when none of the three was
// chosen. Errors are thrown (std::exception with a message naming the file or cause).
bool run_compress_commands(CompressCommands& c);

}  // namespace gb::cli
