// The --metrics part of `glassbox evaluate-explanations`: runs the chosen metrics of
// interp/eval/metric_registry.h on each method's maps, averages them over the images and writes
// them as text and JSON ("metrics": {name: {citation, parameters, direction, methods: {...}}}).
// Shape letters: C channels, H/W image size.
#pragma once
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "interp/eval/metric_registry.h"

namespace gb::interp {

// Mean and sample standard deviation (n - 1; 0 when n < 2) of a series.
struct Stats {
  double mean = 0, std = 0;
  int64_t n = 0;
};
Stats stats_of(const std::vector<double>& v);

// One metric over the images of one method: each scalar's Stats over the images where it is
// finite (n says how many), each curve's point-wise mean.
struct MetricSummary {
  std::map<std::string, Stats> scalars;
  std::map<std::string, std::vector<double>> curves;
};

// The per-image values of every metric of one method, collected image by image.
class MetricCollector {
 public:
  void add(const std::string& metric, const eval::MetricValues& v);
  // The summaries, by metric name.
  std::map<std::string, MetricSummary> summarise() const;

 private:
  std::map<std::string, std::vector<eval::MetricValues>> values_;
};

// "metrics" of the JSON: per metric its citation, direction, parameters and per method summary.
// `per_method` pairs a method name with its summaries.
nlohmann::json metrics_to_json(
    const std::vector<std::string>& metrics, const eval::MetricParams& params,
    const std::vector<std::pair<std::string, std::map<std::string, MetricSummary>>>& per_method);

// The text section: one block per metric, one line per method with each scalar's mean +- std.
std::string format_metrics(
    const std::vector<std::string>& metrics,
    const std::vector<std::pair<std::string, std::map<std::string, MetricSummary>>>& per_method);

}  // namespace gb::interp
