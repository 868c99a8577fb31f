// The report page: one section per part of ReportData, put together by render_report (see
// report_page.h). Shape letters: K classes.
#include "interp/report/report_page.h"

#include <fmt/format.h>

#include <cmath>
#include <limits>

#include "interp/report/report_html.h"

namespace gb::interp::report {
namespace {
using json = nlohmann::json;

constexpr const char* kStyle = R"(
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:0;color:#222;background:#fafafa}
header{background:#1f2d3d;color:#fff;padding:14px 24px}header h1{margin:0;font-size:22px}
header p{margin:4px 0 0;color:#cfd8e3}nav{padding:6px 24px;background:#e9eef3}
nav a{margin-right:14px;color:#1f4e79;text-decoration:none}
main{padding:0 24px 24px}section{background:#fff;border:1px solid #ddd;border-radius:6px;
margin:16px 0;padding:12px 16px}h2{margin:0 0 10px;font-size:18px}
table{border-collapse:collapse;font-size:13px;margin:6px 0}td,th{border:1px solid #ddd;
padding:3px 7px;text-align:right}th{background:#f1f4f7}td.l,th.l{text-align:left}
.charts{display:flex;flex-wrap:wrap;gap:12px}.note{color:#666;font-style:italic}
.chart-title{font-weight:600;font-size:13px}.tick{font-size:11px;fill:#444}.axis{font-size:12px}
.legend{font-size:12px}.confusion td{min-width:34px;text-align:center}
.confusion th.rot{writing-mode:vertical-rl;transform:rotate(180deg);text-align:left}
.gallery td{vertical-align:top;text-align:center}.gallery img{display:block;margin:auto;
image-rendering:pixelated}.gallery .cap{font-size:12px;color:#444}
.graph{overflow:auto;max-height:900px;border:1px solid #eee}.graph svg{height:auto}
pre{font-size:12px;max-height:400px;overflow:auto;background:#f6f6f6;padding:6px}
)";

std::string e(const std::string& s) { return html_escape(s); }

std::string section_open(const std::string& id, const std::string& title) {
  return fmt::format("<section id=\"{}\">\n<h2>{}</h2>\n", id, e(title));
}

std::string shape_text(const Shape& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (i > 0) out += 'x';
    out += std::to_string(s[i]);
  }
  return out;
}

// A JSON value as short text: numbers with 4 significant digits, strings as they are.
std::string json_text(const json& v) {
  if (v.is_number()) return number(v.get<double>());
  if (v.is_string()) return v.get<std::string>();
  return v.dump();
}

std::string overview(const ReportData& d) {
  std::string s = section_open("overview", "Overview");
  s += "<table>\n";
  auto row = [&](const std::string& k, const std::string& v) {
    s += "<tr><th class=\"l\">" + e(k) + "</th><td class=\"l\">" + e(v) + "</td></tr>\n";
  };
  row("model", d.model_name);
  row("checkpoint", d.checkpoint);
  row("test data", d.data);
  row("input (CxHxW)", shape_text(d.input_shape));
  row("classes", fmt::format("{}", d.classes.size()));
  row("parameters", thousands(d.summary.total_params));
  row("MACs per image", thousands(d.summary.total_macs));
  row("epochs recorded", fmt::format("{}", d.history.size()));
  row("test accuracy", fmt::format("{:.2f}% on {} images (loss {})", 100.0 * d.test_accuracy,
                                   d.test_images, number(d.test_loss)));
  if (!d.metrics_file.empty()) row("metrics file", d.metrics_file);
  if (!d.explanations_file.empty()) row("explanations file", d.explanations_file);
  s += "</table>\n";
  if (d.train_config.is_object()) {
    s += "<details><summary>training recipe</summary><table>\n";
    for (const auto& [k, v] : d.train_config.items()) {
      s += "<tr><th class=\"l\">" + e(k) + "</th><td class=\"l\">" + e(json_text(v)) +
           "</td></tr>\n";
    }
    s += "</table></details>\n";
  }
  return s + "</section>\n";
}

// The series of `keys` (those with at least one value) over the recorded epochs.
LineChart history_chart(const ReportData& d, const std::string& title, const std::string& y_label,
                        const std::vector<std::pair<std::string, std::string>>& keys) {
  static const char* kColors[] = {"#1f77b4", "#d62728", "#2ca02c", "#9467bd"};
  LineChart c;
  c.title = title;
  c.x_label = "epoch";
  c.y_label = y_label;
  for (const auto& r : d.history) c.x.push_back(static_cast<double>(r.epoch));
  for (size_t k = 0; k < keys.size(); ++k) {
    ChartSeries s;
    s.name = keys[k].second;
    s.color = kColors[k % 4];
    bool any = false;
    for (const auto& r : d.history) {
      const auto it = r.values.find(keys[k].first);
      s.y.push_back(it != r.values.end() ? it->second : std::numeric_limits<double>::quiet_NaN());
      any = any || it != r.values.end();
    }
    if (any) c.series.push_back(std::move(s));
  }
  return c;
}

std::string training(const ReportData& d) {
  std::string s = section_open("training", "Training curves");
  s += "<div class=\"charts\">\n<div id=\"chart-loss\">" +
       svg_line_chart(history_chart(d, "loss", "cross-entropy",
                                    {{"train_loss", "train"}, {"test_loss", "test"}})) +
       "</div>\n<div id=\"chart-accuracy\">" +
       svg_line_chart(history_chart(d, "accuracy", "accuracy",
                                    {{"train_accuracy", "train"}, {"test_accuracy", "test"}})) +
       "</div>\n<div id=\"chart-lr\">" +
       svg_line_chart(
           history_chart(d, "learning rate (end of epoch)", "learning rate", {{"lr_end", "lr"}})) +
       "</div>\n</div>\n";
  const std::vector<std::pair<std::string, std::string>> cols = {{"train_loss", "train loss"},
                                                                 {"train_accuracy", "train acc"},
                                                                 {"test_loss", "test loss"},
                                                                 {"test_accuracy", "test acc"},
                                                                 {"lr_end", "lr"},
                                                                 {"seconds", "seconds"},
                                                                 {"images_per_second", "img/s"}};
  s += "<table id=\"history-table\"><tr><th>epoch</th>";
  for (const auto& c : cols) s += "<th>" + c.second + "</th>";
  s += "</tr>\n";
  for (const auto& r : d.history) {
    s += fmt::format("<tr><td>{}</td>", r.epoch);
    for (const auto& c : cols) {
      const auto it = r.values.find(c.first);
      s += "<td>" + (it == r.values.end() ? std::string("-") : number(it->second)) + "</td>";
    }
    s += "</tr>\n";
  }
  return s + "</table>\n</section>\n";
}

std::string evaluation(const ReportData& d) {
  std::string s = section_open("evaluation", "Test accuracy");
  s += fmt::format(
      "<p>{:.2f}% of {} test images of <code>{}</code> classified correctly (mean loss {}, "
      "{:.1f} s).</p>\n",
      100.0 * d.test_accuracy, d.test_images, e(d.data), number(d.test_loss), d.eval_seconds);
  s += "<div id=\"per-class\">" +
       svg_bar_chart("per-class accuracy", d.classes, d.per_class_accuracy, 1.0, true) + "</div>\n";
  s += "<h3>Confusion matrix</h3>\n<div id=\"confusion\">" +
       confusion_table(d.confusion, d.classes) + "</div>\n";
  return s + "</section>\n";
}

std::string gallery(const ReportData& d) {
  std::string s = section_open("gallery", "Explanations of test images");
  if (d.gallery.empty()) return s + "<p class=\"note\">no gallery (--gallery 0)</p>\n</section>\n";
  s += "<p>Each image is explained for its predicted class; unsigned maps in viridis, signed "
       "ones blue (negative) to red (positive), over the input.</p>\n";
  s += "<table class=\"gallery\" id=\"gallery-table\"><tr><th>input</th>";
  for (const auto& m : d.gallery_methods) s += "<th>" + e(m) + "</th>";
  s += "</tr>\n";
  for (const auto& g : d.gallery) {
    s += fmt::format(
        "<tr><td><img src=\"{}\" alt=\"test image {}\"><div class=\"cap\">#{} {}<br>predicted "
        "{} ({:.0f}%)</div></td>",
        g.input_uri, g.index, g.index, e(g.label), e(g.prediction), 100.0 * g.probability);
    for (const auto& m : g.maps) {
      s += fmt::format(
          "<td><img src=\"{}\" alt=\"{} of test image {}\"><div class=\"cap\">{:.1f} ms{}</div>"
          "</td>",
          m.png_uri, e(m.method), g.index, m.ms, m.is_signed ? ", signed" : "");
    }
    s += "</tr>\n";
  }
  return s + "</table>\n</section>\n";
}

// "mean +- std" of a stats object ({"mean","std","n"}), "-" when missing.
std::string stat_text(const json& row, const char* key) {
  if (!row.contains(key)) return "-";
  const json& v = row[key];
  if (v.is_number()) return number(v.get<double>());
  if (!v.is_object() || !v.contains("mean") || !v["mean"].is_number()) return "-";
  const double sd = v.contains("std") && v["std"].is_number() ? v["std"].get<double>() : 0.0;
  return number(v["mean"].get<double>()) + " &plusmn; " + number(sd, 3);
}

std::string sanity_table(const json& sc) {
  std::string s = "<h3>Sanity check: cascading randomisation of Grad-CAM";
  if (sc.contains("layer") && sc["layer"].is_string())
    s += " at " + e(sc["layer"].get<std::string>());
  s += "</h3>\n<table id=\"sanity-table\"><tr><th class=\"l\">randomised up to</th><th>Spearman "
       "rho with the trained map</th></tr>\n";
  for (const auto& st : sc.value("steps", json::array())) {
    const std::string layer = st.contains("layer") ? json_text(st["layer"]) : "?";
    s += "<tr><td class=\"l\">" + e(layer) + "</td><td>" + stat_text(st, "spearman") +
         "</td></tr>\n";
  }
  return s + "</table>\n";
}

std::string explanations(const ReportData& d) {
  std::string s = section_open("explanations", "Explanation methods compared");
  if (d.explanations.is_null()) {
    return s +
           "<p class=\"note\">No table given: run <code>glassbox evaluate-explanations "
           "--checkpoint CK --json table.json</code> and pass <code>--explanations "
           "table.json</code>.</p>\n</section>\n";
  }
  const json& x = d.explanations;
  s += fmt::format(
      "<p>From <code>{}</code>: {} test images of <code>{}</code>, model {}, each "
      "explained for its predicted class. Deletion AUC: lower is more faithful; "
      "insertion AUC: higher is.</p>\n",
      e(d.explanations_file), e(json_text(x.value("images", json("?")))),
      e(json_text(x.value("data", json("?")))), e(json_text(x.value("model", json("?")))));
  if (x.contains("checkpoint") && x["checkpoint"].is_string() &&
      x["checkpoint"].get<std::string>() != d.checkpoint) {
    s += "<p class=\"note\">computed on " + e(x["checkpoint"].get<std::string>()) +
         ", not on this report's checkpoint</p>\n";
  }
  s += "<table id=\"explanations-table\"><tr><th class=\"l\">method</th><th>deletion AUC</th>"
       "<th>insertion AUC</th><th>ms / image</th><th class=\"l\">check</th></tr>\n";
  for (const auto& row : x["methods"]) {
    std::string check;
    for (const char* k : {"completeness_error", "efficiency_error", "r2"}) {
      if (row.contains(k)) check += e(k) + " " + stat_text(row, k) + " ";
    }
    s += "<tr><td class=\"l\">" + e(row["method"].get<std::string>()) + "</td><td>" +
         stat_text(row, "deletion_auc") + "</td><td>" + stat_text(row, "insertion_auc") +
         "</td><td>" + stat_text(row, "time_ms") + "</td><td class=\"l\">" + check + "</td></tr>\n";
  }
  s += "</table>\n";
  if (x.contains("sanity_check") && x["sanity_check"].is_object()) {
    s += sanity_table(x["sanity_check"]);
  }
  return s + "</section>\n";
}

std::string layers(const ReportData& d) {
  std::string s = section_open("layers", "Layers");
  s += fmt::format("<p>{} parameters, {} multiply-accumulates per image (input {}).</p>\n",
                   thousands(d.summary.total_params), thousands(d.summary.total_macs),
                   shape_text(d.input_shape));
  s += "<table id=\"layer-table\"><tr><th class=\"l\">layer</th><th class=\"l\">type</th><th "
       "class=\"l\">detail</th><th>output</th><th>params</th><th>MACs</th></tr>\n";
  for (const auto& r : d.summary.rows) {
    s += fmt::format(
        "<tr><td class=\"l\" style=\"padding-left:{}px\"><code>{}</code></td><td class=\"l\">{}"
        "</td><td class=\"l\">{}</td><td>{}</td><td>{}</td><td>{}</td></tr>\n",
        7 + 14 * r.depth, e(r.name.empty() ? "(model)" : r.name), e(r.type), e(r.detail),
        shape_text(r.output_shape), thousands(r.params), thousands(r.macs));
  }
  return s + "</table>\n</section>\n";
}

std::string graph(const ReportData& d) {
  std::string s = section_open("graph", "Dataflow graph");
  if (!d.graph_svg.empty()) {
    return s +
           "<p>One box per op of a traced forward pass (Graphviz).</p>\n<div class=\"graph\" "
           "id=\"graph-svg\">" +
           d.graph_svg + "</div>\n</section>\n";
  }
  s += "<p class=\"note\" id=\"graph-note\">No drawing: " + e(d.graph_note) +
       ". The traced ops in execution order:</p>\n<pre id=\"graph-list\">";
  for (const auto& n : d.graph_nodes) s += e(n) + "\n";
  return s + "</pre>\n</section>\n";
}

std::string macs_text(int64_t v) { return v < 0 ? "-" : thousands(v); }

std::string pruning(const ReportData& d) {
  const PruningView& p = d.pruning;
  std::string s = section_open("pruning", "Pruning: before and after");
  const json& sec = p.section;
  s += fmt::format("<p>{} pruning", e(p.mode.empty() ? std::string("unknown") : p.mode));
  if (sec.contains("criterion")) s += ", criterion " + e(json_text(sec["criterion"]));
  if (sec.contains("source")) s += ", from <code>" + e(json_text(sec["source"])) + "</code>";
  s += ".</p>\n<table id=\"pruning-summary\"><tr><th></th><th>before</th><th>after</th></tr>\n";
  s += fmt::format("<tr><th class=\"l\">parameters{}</th><td>{}</td><td>{}</td></tr>\n",
                   p.mode == "unstructured" ? " (non-zero)" : "", thousands(p.params_before),
                   thousands(p.params_after));
  s += fmt::format("<tr><th class=\"l\">MACs per image</th><td>{}</td><td>{}</td></tr>\n",
                   macs_text(p.macs_before), macs_text(p.macs_after));
  auto acc = [&](const char* k) {
    return sec.contains(k) && sec[k].is_number() && sec[k].get<double>() >= 0
               ? fmt::format("{:.2f}%", 100.0 * sec[k].get<double>())
               : std::string("-");
  };
  s += fmt::format(
      "<tr><th class=\"l\">test accuracy</th><td>{}</td><td>{} pruned, {} fine-tuned</td></tr>\n"
      "</table>\n",
      acc("accuracy_before"), acc("accuracy_pruned"), acc("accuracy_finetuned"));
  if (!p.note.empty()) s += "<p class=\"note\">" + e(p.note) + "</p>\n";
  s += "<table id=\"pruning-table\"><tr><th class=\"l\">layer</th><th class=\"l\">before</th><th "
       "class=\"l\">after</th><th>params before</th><th>params after</th><th>MACs before</th><th>"
       "MACs after</th></tr>\n";
  for (const auto& l : p.layers) {
    s += fmt::format(
        "<tr><td class=\"l\"><code>{}</code></td><td class=\"l\">{}</td><td class=\"l\">{}</td>"
        "<td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>\n",
        e(l.name), e(l.detail_before), e(l.detail_after), thousands(l.params_before),
        thousands(l.params_after), macs_text(l.macs_before), macs_text(l.macs_after));
  }
  return s + "</table>\n</section>\n";
}

const char* section_title(const std::string& id) {
  if (id == "overview") return "overview";
  if (id == "training") return "training";
  if (id == "evaluation") return "accuracy";
  if (id == "gallery") return "gallery";
  if (id == "explanations") return "methods";
  if (id == "layers") return "layers";
  if (id == "graph") return "graph";
  return "pruning";
}

}  // namespace

std::vector<std::string> report_sections(const ReportData& d) {
  std::vector<std::string> ids = {"overview",     "training", "evaluation", "gallery",
                                  "explanations", "layers",   "graph"};
  if (d.pruned) ids.push_back("pruning");
  return ids;
}

std::string render_report(const ReportData& d) {
  std::string s = "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n";
  s += "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n";
  s += "<title>glassbox report: " + e(d.model_name) + " (" + e(d.checkpoint) + ")</title>\n";
  s += "<style>" + std::string(kStyle) +
       "</style>\n</head>\n<body>\n<header><h1>glassbox report: " + e(d.model_name) + "</h1><p>" +
       e(d.checkpoint) + "</p></header>\n<nav>";
  const std::vector<std::string> ids = report_sections(d);
  for (const auto& id : ids) s += "<a href=\"#" + id + "\">" + section_title(id) + "</a>";
  s += "</nav>\n<main>\n";
  s += overview(d) + training(d) + evaluation(d) + gallery(d) + explanations(d) + layers(d) +
       graph(d);
  if (d.pruned) s += pruning(d);
  return s + "</main>\n</body>\n</html>\n";
}

}  // namespace gb::interp::report
