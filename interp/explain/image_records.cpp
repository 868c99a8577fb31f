// Gathering the per-image records of evaluate-explanations over the ranks (see image_records.h).
#include "interp/explain/image_records.h"

#include <nlohmann/json.hpp>

namespace gb::interp {
namespace {
using json = nlohmann::json;

json values_to_json(const eval::MetricValues& v) { return {{"s", v.scalars}, {"c", v.curves}}; }

eval::MetricValues values_from_json(const json& j) {
  eval::MetricValues v;
  j.at("s").get_to(v.scalars);
  j.at("c").get_to(v.curves);
  return v;
}

json record_to_json(const ImageRecord& r) {
  json metrics = json::array();
  for (const auto& [name, values] : r.metrics) metrics.push_back({name, values_to_json(values)});
  return {{"d", r.deletion_auc}, {"i", r.insertion_auc}, {"t", r.time_ms},
          {"s", r.scores},       {"m", metrics},         {"map", r.map}};
}

ImageRecord record_from_json(const json& j) {
  ImageRecord r;
  r.deletion_auc = j.at("d").get<double>();
  r.insertion_auc = j.at("i").get<double>();
  r.time_ms = j.at("t").get<double>();
  j.at("s").get_to(r.scores);
  for (const json& m : j.at("m")) {
    r.metrics.emplace_back(m.at(0).get<std::string>(), values_from_json(m.at(1)));
  }
  j.at("map").get_to(r.map);
  return r;
}

}  // namespace

std::vector<ImageRecord> gather_image_records(ProcessGroup& group,
                                              const std::vector<ImageRecord>& mine) {
  if (group.size() == 1) return mine;
  json list = json::array();
  for (const ImageRecord& r : mine) list.push_back(record_to_json(r));
  const std::vector<uint8_t> cbor = json::to_cbor(list);
  std::vector<ImageRecord> all;
  for (const std::string& part : group.all_gather_strings(std::string(cbor.begin(), cbor.end()))) {
    for (const json& r : json::from_cbor(part)) all.push_back(record_from_json(r));
  }
  return all;
}

}  // namespace gb::interp
