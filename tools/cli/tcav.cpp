// `glassbox tcav`: TCAV scores of concept image folders for one class at one or more layers,
// against random counterparts, with t-tests and Bonferroni (interp/explain/global_job.h).
#include <CLI/CLI.hpp>
#include <iostream>
#include <memory>
#include <stdexcept>

#include "interp/explain/global_job.h"
#include "tools/cli/commands.h"
#include "tools/cli/shared_options.h"

namespace gb::cli {
namespace {

// "NAME=DIR" -> a concept folder. throws: std::invalid_argument naming the text.
interp::ConceptFolder parse_concept(const std::string& text) {
  const size_t eq = text.find('=');
  if (eq == std::string::npos || eq == 0 || eq + 1 == text.size()) {
    throw std::invalid_argument("--concept '" + text + "': expected NAME=DIR");
  }
  return {text.substr(0, eq), text.substr(eq + 1)};
}

}  // namespace

Command add_tcav(CLI::App& cli, SharedOptions& shared) {
  struct State {
    interp::TcavConfig config;
    std::vector<std::string> concepts, random_dirs;
  };
  auto s = std::make_shared<State>();
  interp::TcavConfig& c = s->config;
  auto* app = cli.add_subcommand(
      "tcav", "TCAV: how much concepts (folders of images) move a class's logit at a layer");
  app->add_option("checkpoint,--checkpoint", c.checkpoint,
                  "checkpoint file (positional or --checkpoint)")
      ->required();
  app->add_option("--concept", s->concepts,
                  "NAME=DIR: a folder of images of the concept "
                  "(repeat for several concepts)")
      ->required();
  auto* random =
      app->add_option("--random", s->random_dirs, "folders of random images, one random set each");
  auto* from_data =
      app->add_option("--random-from-data", c.random_from_data,
                      "instead of --random: R disjoint random sets of K training images each");
  random->excludes(from_data);
  app->add_option("--runs", c.runs,
                  "R random runs (default: the number of --random folders, or 10)");
  app->add_option("--layer", c.layers, "module path(s) (default: Grad-CAM's default layer)")
      ->delimiter(',');
  app->add_option("--target-class", c.target_class, "class index or name")->required();
  app->add_option("--count", c.count, "test images of the class whose gradients are scored")
      ->capture_default_str();
  app->add_option("--data", c.data, "data set (default: the one it was trained on)");
  app->add_option("--l2", c.cav.l2, "probe: L2 weight on the mean log-loss")->capture_default_str();
  app->add_option("--test-fraction", c.cav.test_fraction, "probe: held-out fraction per side")
      ->capture_default_str();
  app->add_option("--seed", c.cav.seed, "probe splits and random sets")->capture_default_str();
  app->add_option("--alpha", c.alpha, "significance level after Bonferroni")->capture_default_str();
  app->add_option("--min-accuracy", c.min_accuracy,
                  "mean held-out probe accuracy below which a concept has no CAV")
      ->capture_default_str();
  app->add_option("--batch", c.batch, "images per forward")->capture_default_str();
  app->add_option("--out", c.out, "the JSON file written")->required();
  app->add_flag("--overwrite", c.overwrite, "replace an existing --out");
  add_threads_option(*app, shared, "compute threads");
  add_no_verify_option(*app, shared);
  app->add_option("--device", c.device, "where the model runs: cpu | cuda | cuda:N");
  return {app, [s] {
            for (const std::string& t : s->concepts) {
              s->config.concepts.push_back(parse_concept(t));
            }
            for (const std::string& d : s->random_dirs) s->config.random_dirs.emplace_back(d);
            std::cout << interp::format_tcav_table(interp::tcav(s->config));
          }};
}

}  // namespace gb::cli
