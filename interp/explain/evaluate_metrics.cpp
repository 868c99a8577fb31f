// Averaging, JSON and text of the --metrics of evaluate-explanations (see evaluate_metrics.h).
#include "interp/explain/evaluate_metrics.h"

#include <fmt/format.h>

#include <cmath>

namespace gb::interp {
using json = nlohmann::json;

Stats stats_of(const std::vector<double>& v) {
  Stats s;
  s.n = static_cast<int64_t>(v.size());
  if (v.empty()) return s;
  double sum = 0;
  for (double e : v) sum += e;
  s.mean = sum / static_cast<double>(v.size());
  if (v.size() >= 2) {
    double ss = 0;
    for (double e : v) ss += (e - s.mean) * (e - s.mean);
    s.std = std::sqrt(ss / static_cast<double>(v.size() - 1));
  }
  return s;
}

void MetricCollector::add(const std::string& metric, const eval::MetricValues& v) {
  values_[metric].push_back(v);
}

std::map<std::string, MetricSummary> MetricCollector::summarise() const {
  std::map<std::string, MetricSummary> out;
  for (const auto& [metric, list] : values_) {
    MetricSummary& s = out[metric];
    std::map<std::string, std::vector<double>> scalars;
    std::map<std::string, std::vector<double>> sums;
    std::map<std::string, int64_t> counts;
    for (const eval::MetricValues& v : list) {
      for (const auto& [k, x] : v.scalars) {
        std::vector<double>& xs = scalars[k];  // NaN (e.g. relevance mass of a zero map): skipped
        if (std::isfinite(x)) xs.push_back(x);
      }
      for (const auto& [k, c] : v.curves) {
        std::vector<double>& acc = sums[k];
        if (acc.size() < c.size()) acc.resize(c.size(), 0.0);
        for (size_t i = 0; i < c.size(); ++i) acc[i] += c[i];
        ++counts[k];
      }
    }
    for (const auto& [k, xs] : scalars) s.scalars[k] = stats_of(xs);
    for (auto& [k, acc] : sums) {
      for (double& e : acc) e /= static_cast<double>(counts[k]);
      s.curves[k] = acc;
    }
  }
  return out;
}

json metrics_to_json(
    const std::vector<std::string>& metrics, const eval::MetricParams& params,
    const std::vector<std::pair<std::string, std::map<std::string, MetricSummary>>>& per_method) {
  json out = json::object();
  for (const std::string& name : metrics) {
    const eval::MetricInfo& info = eval::metric_info(name);
    json methods = json::object();
    for (const auto& [method, summaries] : per_method) {
      const auto it = summaries.find(name);
      if (it == summaries.end()) continue;
      json m = json::object();
      for (const auto& [k, s] : it->second.scalars) {
        m[k] = {{"mean", s.mean}, {"std", s.std}, {"n", s.n}};
      }
      for (const auto& [k, c] : it->second.curves) m["curves"][k] = c;
      methods[method] = m;
    }
    out[name] = {{"citation", info.citation},
                 {"direction", info.direction},
                 {"parameters", eval::metric_parameters(name, params)},
                 {"methods", methods}};
  }
  return out;
}

std::string format_metrics(
    const std::vector<std::string>& metrics,
    const std::vector<std::pair<std::string, std::map<std::string, MetricSummary>>>& per_method) {
  std::string s;
  for (const std::string& name : metrics) {
    const eval::MetricInfo& info = eval::metric_info(name);
    s += fmt::format("\n{} ({}): {}\n", name, info.citation, info.direction);
    for (const auto& [method, summaries] : per_method) {
      const auto it = summaries.find(name);
      if (it == summaries.end()) continue;
      std::string cells;
      for (const auto& [k, st] : it->second.scalars) {
        cells += fmt::format("  {} {:.4g} +- {:.2g}", k, st.mean, st.std);
      }
      s += fmt::format("  {:<17}{}\n", method, cells);
    }
  }
  return s;
}

}  // namespace gb::interp
