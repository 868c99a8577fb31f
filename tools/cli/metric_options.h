// The --metrics flags of `glassbox evaluate-explanations`: the metric list and one flag per
// metric parameter (--road-percentages, --aopc-patch, --fc-runs, --infidelity-samples,
// --mprt-init, ...),
// read into interp::eval::MetricParams.
#pragma once
#include <string>
#include <vector>

#include "interp/eval/metric_registry.h"

namespace CLI {
class App;
}  // namespace CLI

namespace gb::cli {

// Flags as typed; apply_metric_flags turns them into the config.
struct MetricFlags {
  std::string metrics = "deletion,insertion";
  std::string road_percentages = "10,20,30,40,50,60,70,80,90";
  std::string infidelity_perturbation = "square";
  bool loc_keep_all = false;
  interp::eval::MetricParams params;
};

void add_metric_options(CLI::App& app, MetricFlags& f);

// The parsed metric list and parameters.
// throws: std::invalid_argument naming the flag (unknown metric, bad percentage list, unknown
// perturbation, out-of-range values) before any work.
void apply_metric_flags(MetricFlags& f, std::vector<std::string>& metrics,
                        interp::eval::MetricParams& params);

}  // namespace gb::cli
