// `glassbox eval`: a checkpoint on a test split (its own data set by default): the report and,
// with --json, the figures as JSON.
#include <CLI/CLI.hpp>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>

#include "models/training/checkpoint_meta.h"
#include "models/training/data_parallel.h"
#include "models/training/datasets.h"
#include "models/training/evaluate.h"
#include "runtime/output_path.h"
#include "runtime/process_group.h"
#include "tools/cli/commands.h"
#include "tools/cli/shared_options.h"

namespace gb::cli {
namespace {

struct EvalCommand {
  std::string checkpoint, data, json;
  int64_t limit = 0, batch_size = 256, tta_level = 0;
  std::string device = "cpu";
  bool overwrite = false;
};

nlohmann::json eval_json(const EvalCommand& e, const std::string& data,
                         const training::EvalResult& r) {
  return {{"checkpoint", e.checkpoint}, {"data", data},
          {"accuracy", r.accuracy},     {"loss", r.loss},
          {"samples", r.samples},       {"tta_level", e.tta_level},
          {"classes", r.classes},       {"per_class_accuracy", r.per_class_accuracy},
          {"confusion", r.confusion},   {"seconds", r.seconds}};
}

// Under mpirun the batches are shared out over the ranks and rank 0 reports (evaluate.h).
void run(const EvalCommand& e) {
  ProcessGroup& group = world();
  if (!e.json.empty() && group.is_root()) check_output_file(e.json, e.overwrite, "--json");
  training::LoadedModel lm = training::load_model(e.checkpoint);
  const std::string data = e.data.empty() ? lm.meta.training_data : e.data;
  const data::Dataset ds = training::load_split(data, data::Split::Test, e.limit);
  training::check_dataset_fits(ds, lm.meta, e.checkpoint);
  lm.model->to(parse_device(e.device));
  check_same_on_all_ranks(group, training::dataset_fingerprint(ds), "the test data");
  training::EvalResult r = training::evaluate(*lm.model, ds, lm.meta.norm, e.batch_size, false,
                                              "eval", e.tta_level, &group);
  if (!group.is_root()) return;
  r.classes = lm.meta.classes;
  std::cout << "\n" << training::format_eval_report(r);
  if (!e.json.empty()) write_json_file(e.json, eval_json(e, ds.source, r), e.overwrite);
}

}  // namespace

Command add_eval(CLI::App& cli, SharedOptions& shared) {
  auto e = std::make_shared<EvalCommand>();
  auto* app = cli.add_subcommand("eval", "evaluate a checkpoint on a test split");
  app->add_option("--checkpoint", e->checkpoint, "checkpoint file")->required();
  app->add_option("--data", e->data, "data set (default: the one it was trained on)");
  app->add_option("--limit", e->limit, "use only this many test images");
  app->add_option("--batch-size", e->batch_size, "batch size");
  add_tta_level_option(*app, e->tta_level);
  app->add_flag("--overwrite", e->overwrite, "replace an existing --json file")
      ->needs(app->add_option("--json", e->json, "write the result as JSON"));
  add_threads_option(*app, shared, "compute threads");
  add_no_verify_option(*app, shared);
  app->add_option("--device", e->device, "cpu | cuda | cuda:N");
  return {app, [e] { run(*e); }};
}

}  // namespace gb::cli
