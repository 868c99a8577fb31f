// `glassbox probe`: a checkpoint run on raw input tensors, raw results out
// (interp/explain/tensor_probe.h).
#include <CLI/CLI.hpp>
#include <memory>

#include "interp/explain/tensor_probe.h"
#include "tools/cli/commands.h"
#include "tools/cli/shared_options.h"

namespace gb::cli {

Command add_probe(CLI::App& cli, SharedOptions& shared) {
  auto j = std::make_shared<interp::ProbeJob>();
  auto* app = cli.add_subcommand(
      "probe", "run a checkpoint on raw tensors (.safetensors); write logits, gradients, Grad-CAM");
  app->add_option("--checkpoint", j->checkpoint, "the model")->required();
  add_no_verify_option(*app, shared);
  app->add_option("--input", j->input,
                  "tensors: 'input' [N,C,H,W] (normalised), 'grad_output' [N,K] for --backward")
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
  return {app, [j] { run_probe(*j); }};
}

}  // namespace gb::cli
