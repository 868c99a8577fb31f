// HTML and inline-SVG building blocks of the report page (see report_html.h).
// Shape letters: K classes.
#include "interp/report/report_html.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>

namespace gb::interp::report {
namespace {

constexpr int kLeft = 60, kRight = 14, kTop = 34, kBottom = 42;

// The y range of a chart: the finite values' span widened to whole tick steps.
struct Range {
  double lo = 0, hi = 1;
  std::vector<double> ticks;
};

Range y_range(const LineChart& c) {
  double lo = std::numeric_limits<double>::infinity(), hi = -lo;
  for (const auto& s : c.series) {
    for (double v : s.y) {
      if (!std::isfinite(v)) continue;
      lo = std::min(lo, v);
      hi = std::max(hi, v);
    }
  }
  Range r;
  if (!std::isfinite(lo)) return r;
  if (hi - lo < 1e-12) {
    const double pad = std::max(1e-6, std::abs(lo) * 0.1);
    lo -= pad;
    hi += pad;
  }
  r.ticks = nice_ticks(lo, hi, 5);
  const double step = r.ticks.size() > 1 ? r.ticks[1] - r.ticks[0] : hi - lo;
  r.lo = std::floor(lo / step + 1e-9) * step;
  r.hi = std::ceil(hi / step - 1e-9) * step;
  r.ticks = nice_ticks(r.lo, r.hi, 5);
  return r;
}

std::string tick_text(double v) {
  if (std::abs(v) < 1e-12) return "0";
  return fmt::format("{:.4g}", v);
}

// The plot frame: title, legend, axes, ticks and grid lines.
std::string chart_frame(const LineChart& c, const Range& r, double x0, double x1) {
  const int pw = c.width - kLeft - kRight, ph = c.height - kTop - kBottom;
  std::string s = fmt::format("<text class=\"chart-title\" x=\"{}\" y=\"16\">{}</text>\n", kLeft,
                              html_escape(c.title));
  int lx = c.width - kRight;
  for (auto it = c.series.rbegin(); it != c.series.rend(); ++it) {
    lx -= 14 + 7 * static_cast<int>(it->name.size()) + 12;
    s += fmt::format(
        "<rect x=\"{}\" y=\"8\" width=\"10\" height=\"10\" fill=\"{}\"/><text class=\"legend\" "
        "x=\"{}\" y=\"17\">{}</text>\n",
        lx, html_escape(it->color), lx + 14, html_escape(it->name));
  }
  s += fmt::format(
      "<rect class=\"plot\" x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"none\" "
      "stroke=\"#888\"/>\n",
      kLeft, kTop, pw, ph);
  for (double t : r.ticks) {
    const double y = kTop + ph - (t - r.lo) / (r.hi - r.lo) * ph;
    s += fmt::format(
        "<line x1=\"{}\" x2=\"{}\" y1=\"{:.1f}\" y2=\"{:.1f}\" stroke=\"#ddd\"/><text "
        "class=\"tick\" x=\"{}\" y=\"{:.1f}\" text-anchor=\"end\">{}</text>\n",
        kLeft, kLeft + pw, y, y, kLeft - 4, y + 4, tick_text(t));
  }
  // x ticks: about 6, only whole numbers when every x is one (epochs).
  const bool whole =
      std::all_of(c.x.begin(), c.x.end(), [](double v) { return v == std::round(v); });
  for (double t : x1 > x0 ? nice_ticks(x0, x1, 6) : std::vector<double>{x0}) {
    if (whole && t != std::round(t)) continue;
    const double x = x1 > x0 ? kLeft + (t - x0) / (x1 - x0) * pw : kLeft + pw / 2.0;
    s +=
        fmt::format("<text class=\"tick\" x=\"{:.1f}\" y=\"{}\" text-anchor=\"middle\">{}</text>\n",
                    x, kTop + ph + 14, tick_text(t));
  }
  s += fmt::format(
      "<text class=\"axis\" x=\"{}\" y=\"{}\" text-anchor=\"middle\">{}</text>\n"
      "<text class=\"axis\" x=\"12\" y=\"{}\" text-anchor=\"middle\" "
      "transform=\"rotate(-90 12 {})\">{}</text>\n",
      kLeft + pw / 2, c.height - 6, html_escape(c.x_label), kTop + ph / 2, kTop + ph / 2,
      html_escape(c.y_label));
  return s;
}

}  // namespace

std::string html_escape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char ch : text) {
    switch (ch) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out += ch;
    }
  }
  return out;
}

std::string base64(const std::vector<uint8_t>& bytes) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  for (size_t i = 0; i < bytes.size(); i += 3) {
    const size_t n = std::min<size_t>(3, bytes.size() - i);
    uint32_t v = static_cast<uint32_t>(bytes[i]) << 16;
    if (n > 1) v |= static_cast<uint32_t>(bytes[i + 1]) << 8;
    if (n > 2) v |= bytes[i + 2];
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += n > 1 ? kAlphabet[(v >> 6) & 63] : '=';
    out += n > 2 ? kAlphabet[v & 63] : '=';
  }
  return out;
}

std::string png_data_uri(const std::vector<uint8_t>& png) {
  if (png.empty()) throw std::invalid_argument("png_data_uri: no PNG bytes");
  return "data:image/png;base64," + base64(png);
}

std::vector<double> nice_ticks(double lo, double hi, int count) {
  if (!(hi > lo) || count < 1) return {lo};
  const double raw = (hi - lo) / count;
  const double mag = std::pow(10.0, std::floor(std::log10(raw)));
  double step = mag;
  for (double m : {1.0, 2.0, 5.0, 10.0}) {
    step = m * mag;
    if (step >= raw) break;
  }
  std::vector<double> ticks;
  const double first = std::ceil(lo / step - 1e-9) * step;
  // t from an integer count, never by accumulation: a step below the precision of t (values
  // like 1e17) would otherwise never advance. At most 4 * count + 2 ticks.
  for (int i = 0; i <= 4 * count + 1; ++i) {
    const double t = first + i * step;
    if (t > hi + step * 1e-9) break;
    if (!ticks.empty() && t == ticks.back()) break;  // below the precision of t
    ticks.push_back(std::abs(t) < step * 1e-9 ? 0.0 : t);
  }
  if (ticks.empty()) ticks.push_back(lo);
  return ticks;
}

std::string svg_line_chart(const LineChart& c) {
  for (const auto& s : c.series) {
    if (s.y.size() != c.x.size()) {
      throw std::invalid_argument(
          fmt::format("svg_line_chart '{}': series '{}' has {} values for "
                      "{} x positions",
                      c.title, s.name, s.y.size(), c.x.size()));
    }
  }
  const Range r = y_range(c);
  const double x0 = c.x.empty() ? 0 : c.x.front(), x1 = c.x.empty() ? 1 : c.x.back();
  const int pw = c.width - kLeft - kRight, ph = c.height - kTop - kBottom;
  std::string s = fmt::format(
      "<svg class=\"chart\" xmlns=\"http://www.w3.org/2000/svg\" width=\"{0}\" height=\"{1}\" "
      "viewBox=\"0 0 {0} {1}\" role=\"img\">\n",
      c.width, c.height);
  s += chart_frame(c, r, x0, x1);
  if (r.ticks.empty()) {
    s += fmt::format(
        "<text class=\"empty\" x=\"{}\" y=\"{}\" text-anchor=\"middle\">no values"
        "</text>\n</svg>\n",
        kLeft + pw / 2, kTop + ph / 2);
    return s;
  }
  auto px = [&](double x) {
    return x1 > x0 ? kLeft + (x - x0) / (x1 - x0) * pw : kLeft + pw / 2.0;
  };
  auto py = [&](double y) { return kTop + ph - (y - r.lo) / (r.hi - r.lo) * ph; };
  for (const auto& series : c.series) {
    const std::string color = html_escape(series.color);
    std::string points, dots;
    auto flush = [&] {
      if (!points.empty()) {
        s += fmt::format(
            "<polyline class=\"series\" data-series=\"{}\" fill=\"none\" stroke=\"{}\" "
            "stroke-width=\"2\" points=\"{}\"/>\n",
            html_escape(series.name), color, points);
      }
      points.clear();
    };
    for (size_t i = 0; i < c.x.size(); ++i) {
      const double y = series.y[i];
      if (!std::isfinite(y)) {
        flush();
        continue;
      }
      points += fmt::format("{}{:.1f},{:.1f}", points.empty() ? "" : " ", px(c.x[i]), py(y));
      dots += fmt::format(
          "<circle cx=\"{:.1f}\" cy=\"{:.1f}\" r=\"3\" fill=\"{}\"><title>{} {}: {}</title>"
          "</circle>\n",
          px(c.x[i]), py(y), color, html_escape(series.name), tick_text(c.x[i]), number(y, 5));
    }
    flush();
    s += dots;
  }
  return s + "</svg>\n";
}

std::string svg_bar_chart(const std::string& title, const std::vector<std::string>& labels,
                          const std::vector<double>& values, double max_value, bool percent) {
  if (labels.size() != values.size()) {
    throw std::invalid_argument(fmt::format("svg_bar_chart '{}': {} labels for {} values", title,
                                            labels.size(), values.size()));
  }
  if (!(max_value > 0)) throw std::invalid_argument("svg_bar_chart: max_value must be > 0");
  size_t longest = 4;
  for (const auto& l : labels) longest = std::max(longest, l.size());
  const int label_w = 8 + 7 * static_cast<int>(std::min<size_t>(longest, 30));
  const int bar_w = 300, row = 20, width = label_w + bar_w + 70;
  const int height = 28 + row * static_cast<int>(labels.size()) + 6;
  std::string s = fmt::format(
      "<svg class=\"bars\" xmlns=\"http://www.w3.org/2000/svg\" width=\"{0}\" height=\"{1}\" "
      "viewBox=\"0 0 {0} {1}\" role=\"img\">\n<text class=\"chart-title\" x=\"0\" y=\"16\">{2}"
      "</text>\n",
      width, height, html_escape(title));
  for (size_t i = 0; i < labels.size(); ++i) {
    const double v = values[i];
    const double frac = std::isfinite(v) ? std::clamp(v / max_value, 0.0, 1.0) : 0.0;
    const int y = 28 + row * static_cast<int>(i);
    const std::string text = !std::isfinite(v) ? "-"
                             : percent         ? fmt::format("{:.1f}%", 100.0 * v)
                                               : number(v);
    s += fmt::format(
        "<text class=\"tick\" x=\"{}\" y=\"{}\" text-anchor=\"end\">{}</text><rect class=\"bar\" "
        "x=\"{}\" y=\"{}\" width=\"{:.1f}\" height=\"{}\" fill=\"#4c78a8\"><title>{}: {}</title>"
        "</rect><text class=\"tick\" x=\"{:.1f}\" y=\"{}\">{}</text>\n",
        label_w - 6, y + 13, html_escape(labels[i]), label_w, y + 2, frac * bar_w, row - 5,
        html_escape(labels[i]), text, label_w + frac * bar_w + 4, y + 13, text);
  }
  return s + "</svg>\n";
}

std::string confusion_table(const std::vector<std::vector<int64_t>>& confusion,
                            const std::vector<std::string>& classes) {
  const size_t K = classes.size();
  if (confusion.size() != K) {
    throw std::invalid_argument(
        fmt::format("confusion_table: {} rows for {} classes", confusion.size(), K));
  }
  std::string s = "<table class=\"confusion\">\n<tr><th>true \\ predicted</th>";
  for (const auto& c : classes) s += "<th class=\"rot\">" + html_escape(c) + "</th>";
  s += "<th>total</th><th>accuracy</th></tr>\n";
  for (size_t t = 0; t < K; ++t) {
    if (confusion[t].size() != K) {
      throw std::invalid_argument(
          fmt::format("confusion_table: row {} has {} entries for {} "
                      "classes",
                      t, confusion[t].size(), K));
    }
    int64_t total = 0;
    for (int64_t v : confusion[t]) total += v;
    s += "<tr><th>" + html_escape(classes[t]) + "</th>";
    for (size_t p = 0; p < K; ++p) {
      const double share = total > 0 ? static_cast<double>(confusion[t][p]) / total : 0.0;
      const char* rgb = t == p ? "31,119,180" : "214,39,40";
      s += fmt::format("<td style=\"background:rgba({},{:.3f})\" title=\"{} as {}: {}\">{}</td>",
                       rgb, share * 0.85, html_escape(classes[t]), html_escape(classes[p]),
                       confusion[t][p], confusion[t][p]);
    }
    const double acc = total > 0 ? static_cast<double>(confusion[t][t]) / total : 0.0;
    s += fmt::format("<td>{}</td><td>{:.1f}%</td></tr>\n", total, 100.0 * acc);
  }
  return s + "</table>\n";
}

std::string thousands(int64_t v) {
  std::string digits = std::to_string(v < 0 ? -v : v), out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return v < 0 ? "-" + out : out;
}

std::string number(double v, int digits) {
  if (!std::isfinite(v)) return "-";
  return fmt::format("{:.{}g}", v, digits);
}

}  // namespace gb::interp::report
