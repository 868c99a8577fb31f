// The glassbox subcommands. Each command file (train.cpp, eval.cpp, ...) registers its options on
// the CLI11 app and returns how to run it; main() only builds the app, parses and dispatches.
#pragma once
#include <functional>
#include <vector>

namespace CLI {
class App;
}

namespace gb::cli {

struct SharedOptions;

struct Command {
  CLI::App* app = nullptr;    // the subcommand (true when it was chosen)
  std::function<void()> run;  // runs it with the parsed options; throws std::exception on error
};

Command add_train(CLI::App& cli, SharedOptions& shared);
Command add_eval(CLI::App& cli, SharedOptions& shared);
Command add_summary(CLI::App& cli, SharedOptions& shared);
Command add_ops(CLI::App& cli);
Command add_bench(CLI::App& cli, SharedOptions& shared);
Command add_explain(CLI::App& cli, SharedOptions& shared);
Command add_evaluate_explanations(CLI::App& cli, SharedOptions& shared);
Command add_prune(CLI::App& cli, SharedOptions& shared);
Command add_distill(CLI::App& cli, SharedOptions& shared);
Command add_compress(CLI::App& cli, SharedOptions& shared);
Command add_import(CLI::App& cli);
Command add_export(CLI::App& cli, SharedOptions& shared);
Command add_graph(CLI::App& cli, SharedOptions& shared);
Command add_probe(CLI::App& cli, SharedOptions& shared);
Command add_activations(CLI::App& cli, SharedOptions& shared);
Command add_report(CLI::App& cli, SharedOptions& shared);
Command add_global_explain(CLI::App& cli, SharedOptions& shared);
Command add_tcav(CLI::App& cli, SharedOptions& shared);

// Every subcommand, in the order `glassbox --help` lists them.
std::vector<Command> add_commands(CLI::App& cli, SharedOptions& shared);

}  // namespace gb::cli
