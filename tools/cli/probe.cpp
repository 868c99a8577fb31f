// `glassbox probe`: a checkpoint run on raw input tensors, raw results out
// (interp/explain/tensor_probe.h).
#include <CLI/CLI.hpp>
#include <memory>
#include <string>
#include <vector>

#include "interp/explain/tensor_probe.h"
#include "tools/cli/commands.h"
#include "tools/cli/shared_options.h"

namespace gb::cli {
namespace {

// "a, b,,c" -> {"a", "b", "c"} (names are checked by run_probe).
std::vector<std::string> split_csv(const std::string& csv) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= csv.size()) {
    size_t end = csv.find(',', start);
    if (end == std::string::npos) end = csv.size();
    std::string item = csv.substr(start, end - start);
    item.erase(0, item.find_first_not_of(" \t"));
    item.erase(item.find_last_not_of(" \t") + 1);
    if (!item.empty()) out.push_back(item);
    start = end + 1;
  }
  return out;
}

}  // namespace

Command add_probe(CLI::App& cli, SharedOptions& shared) {
  auto j = std::make_shared<interp::ProbeJob>();
  auto methods = std::make_shared<std::string>();
  auto* app = cli.add_subcommand(
      "probe",
      "run a checkpoint on raw tensors (.safetensors); write logits, gradients, Grad-CAM, "
      "explanation maps");
  app->add_option("--checkpoint", j->checkpoint,
                  "the model (required, except for --similarity alone)");
  add_no_verify_option(*app, shared);
  add_threads_option(*app, shared, "compute threads (default: all cores)");
  app->add_option("--input", j->input,
                  "tensors: 'input' [N,C,H,W] (normalised), 'grad_output' [N,K] for --backward, "
                  "'map_a' and 'map_b' [N,H,W] for --similarity")
      ->required();
  app->add_option("--out", j->out, "where to write the results (.safetensors)")->required();
  app->add_flag("--overwrite", j->overwrite, "replace an existing --out");
  app->add_flag("--train-mode", j->train_mode, "run BatchNorm on batch statistics");
  app->add_flag("--backward", j->backward,
                "also write grad.input, the gradient of sum(logits * grad_output)");
  app->add_flag("--param-grads", j->param_grads,
                "with --backward: also grad.<parameter> for every parameter");
  app->add_option("--cam-layer", j->cam_layer, "also write Grad-CAM of this layer (cam.map)");
  app->add_option("--cam-target", j->cam_target, "Grad-CAM's class: pred or an index");
  app->add_option("--methods", *methods,
                  "explanation methods, comma-separated (explain's names and feature-ablation): "
                  "write map.<m> [N,H,W] and, for gradient methods, attr.<m>");
  app->add_option("--target", j->target, "the methods' class: pred or an index");
  auto& mo = j->method_options;
  app->add_option("--ig-steps", mo.ig_steps, "Integrated Gradients: Gauss-Legendre points (32)");
  app->add_option("--samples", mo.samples, "sampling methods' samples (0: the method's default)");
  app->add_option("--seed", mo.seed, "seed of the sampling methods");
  app->add_option("--segments", mo.segments, "segments of the segment methods (16)");
  app->add_option("--segmentation", mo.segmentation,
                  "slic | grid (segments, fill and --game "
                  "are written for grid)");
  app->add_option("--occlusion-window", mo.occlusion_window,
                  "occlusion window side in pixels (0: a quarter of the shorter side)");
  app->add_option("--occlusion-stride", mo.occlusion_stride,
                  "occlusion stride in pixels (0: half the window)");
  app->add_option("--incremental", mo.batch.incremental,
                  "auto (default: on for images of at least 64x64), on or off: occlusion, feature "
                  "ablation and the coalition methods compute each layer only where the changed "
                  "box reaches it (interp/incremental.h)")
      ->transform(CLI::CheckedTransformer(incremental_modes(), CLI::ignore_case));
  add_precision_options(*app, mo);
  app->add_flag("--game", j->game,
                "write game [N,2^S]: the segment game's value of every coalition (grid, S <= 16)");
  app->add_option("--timing-reps", j->timing_reps,
                  "time each method (and Grad-CAM) this many more times: metadata ms.<m>");
  app->add_flag("--similarity", j->similarity,
                "SSIM, Pearson, Spearman, HOG of input map_a vs map_b [N,H,W]");
  return {app, [j, methods] {
            if (!methods->empty()) {
              for (const auto& m : split_csv(*methods)) j->methods.push_back(m);
            }
            run_probe(*j);
          }};
}

}  // namespace gb::cli
