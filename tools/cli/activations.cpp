// `glassbox activations`: a layer's channel maps for one test image, the test images that
// activate each channel most, and feature visualisations (interp/explain/activations_job.h).
#include <CLI/CLI.hpp>
#include <iostream>
#include <memory>

#include "interp/explain/activations_job.h"
#include "tools/cli/commands.h"
#include "tools/cli/shared_options.h"

namespace gb::cli {
namespace {

void add_vis_options(CLI::App& app, interp::FeatureVisOptions& v) {
  app.add_option("--steps", v.steps, "activation maximisation: Adam steps")->capture_default_str();
  app.add_option("--lr", v.lr, "activation maximisation: learning rate")->capture_default_str();
  app.add_option("--jitter", v.jitter, "random roll of the input per step, pixels")
      ->capture_default_str();
  app.add_option("--blur", v.blur_sigma, "Gaussian blur sigma every few steps (0: off)")
      ->capture_default_str();
  app.add_option("--tv", v.tv_weight, "total-variation weight")->capture_default_str();
  app.add_option("--l2", v.l2_weight, "L2 weight on the input")->capture_default_str();
  app.add_option("--seed", v.seed, "starting noise")->capture_default_str();
}

}  // namespace

Command add_activations(CLI::App& cli, SharedOptions& shared) {
  auto c = std::make_shared<interp::ActivationsConfig>();
  auto no_features = std::make_shared<bool>(false);
  auto* app = cli.add_subcommand(
      "activations",
      "a layer's channel maps, its top-activating test images and feature visualisations");
  app->add_option("--checkpoint", c->checkpoint, "checkpoint file")->required();
  app->add_option("--index", c->index, "the test image shown (K)")->capture_default_str();
  app->add_option("--layer", c->layer, "module path (default: Grad-CAM's default layer)");
  app->add_option("--data", c->data, "data set (default: the one it was trained on)");
  app->add_option("--count", c->count, "test images scanned for the top-activating ones")
      ->capture_default_str();
  app->add_option("--top", c->top, "top images per channel")->capture_default_str();
  app->add_option("--channels", c->channels, "channels shown (default: the most active on K)")
      ->delimiter(',');
  app->add_option("--show", c->show, "how many channels when --channels is not given")
      ->capture_default_str();
  app->add_flag("--no-features", *no_features, "no activation maximisation of the channels");
  app->add_option("--classes", c->classes, "also visualise these classes (indices)")
      ->delimiter(',');
  add_vis_options(*app, c->vis);
  app->add_option("--out", c->out, "output directory (must be empty or new)")->required();
  app->add_flag("--overwrite", c->overwrite, "replace the files in a non-empty --out");
  add_threads_option(*app, shared, "compute threads");
  add_no_verify_option(*app, shared);
  app->add_option("--device", c->device, "where the model runs: cpu | cuda | cuda:N");
  return {app, [c, no_features] {
            c->features = !*no_features;
            std::cout << interp::format_activations_summary(interp::activations(*c));
          }};
}

}  // namespace gb::cli
