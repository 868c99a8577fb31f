// `glassbox report`: one self-contained HTML page about a checkpoint (interp/report/report_job.h):
// training curves, test accuracy, an explanation gallery, the method table, layers, graph and
// pruning.
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <CLI/CLI.hpp>
#include <memory>

#include "interp/report/report_job.h"
#include "tools/cli/commands.h"
#include "tools/cli/shared_options.h"

namespace gb::cli {
namespace {

struct ReportCommand {
  interp::report::ReportConfig config;
  std::string methods = "gradcam,ig,occlusion";
  int64_t mem_budget_mb = 512;
};

void add_options(CLI::App& app, ReportCommand& r, SharedOptions& shared) {
  interp::report::ReportConfig& c = r.config;
  app.add_option("--checkpoint", c.checkpoint, "checkpoint file")->required();
  app.add_option("--metrics", c.metrics,
                 "per-epoch metrics of `glassbox train --json` (adds to / overrides the "
                 "checkpoint's history)");
  app.add_option("--explanations", c.explanations,
                 "method x metric table of `glassbox evaluate-explanations --json`");
  app.add_option("--out", c.out, "HTML file to write")->required();
  app.add_flag("--overwrite", c.overwrite, "replace an existing --out");
  app.add_option("--data", c.data, "data set (default: the one the checkpoint was trained on)");
  app.add_option("--count", c.count,
                 "test images for accuracy and the confusion matrix (class-balanced; 0: all)");
  app.add_option("--gallery", c.gallery, "test images explained in the gallery (6; 0: none)");
  app.add_option("--methods", r.methods, "gallery methods, " + method_help());
  add_method_options(app, c.method, r.mem_budget_mb);
  app.add_flag("!--graph-text", c.draw_graph,
               "list the graph's ops as text instead of drawing it with Graphviz");
  add_threads_option(app, shared, "compute threads");
  add_no_verify_option(app, shared);
  app.add_option("--device", c.device, "where the model runs: cpu | cuda | cuda:N");
  app.add_flag("--quiet", c.quiet, "no progress lines");
}

void run(ReportCommand& r) {
  r.config.methods = interp::parse_method_list(r.methods);
  set_mem_budget(r.config.method, r.mem_budget_mb);
  const auto result = interp::report::write_report(r.config);
  fmt::print("wrote {} ({} KB): sections {}\n", result.out.string(), (result.bytes + 1023) / 1024,
             fmt::join(result.sections, ", "));
  if (!result.graph_note.empty()) fmt::print("graph drawn as a text list: {}\n", result.graph_note);
}

}  // namespace

Command add_report(CLI::App& cli, SharedOptions& shared) {
  auto r = std::make_shared<ReportCommand>();
  auto* app = cli.add_subcommand(
      "report", "one self-contained HTML page: curves, accuracy, explanations, layers, graph");
  add_options(*app, *r, shared);
  return {app, [r] { run(*r); }};
}

}  // namespace gb::cli
