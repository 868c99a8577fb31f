// The building blocks of `glassbox report`'s HTML page, as plain strings with no external
// resource: HTML escaping, base64 and PNG data: URIs, inline SVG line charts (training curves)
// and horizontal bar charts (per-class accuracy), the confusion matrix as a shaded table, and
// number formatting. Every text that comes from a file goes through html_escape here.
// Shape letters: K classes.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace gb::interp::report {

// & < > " ' replaced by their entities; safe in element text and in quoted attributes.
std::string html_escape(std::string_view text);

// Standard base64 (RFC 4648, with '=' padding).
std::string base64(const std::vector<uint8_t>& bytes);

// "data:image/png;base64,..." of PNG file bytes. requires: png non-empty.
std::string png_data_uri(const std::vector<uint8_t>& png);

// One line of a chart: y per x (NaN: no value there, the line breaks).
struct ChartSeries {
  std::string name;
  std::vector<double> y;  // one per LineChart::x
  std::string color = "#1f77b4";
};

struct LineChart {
  std::string title, x_label, y_label;
  std::vector<double> x;  // increasing
  std::vector<ChartSeries> series;
  int width = 520, height = 260;
};

// An inline <svg> with axes, ticks, a legend and, per series, one <polyline class="series"> per
// run of consecutive finite values plus a <circle> (with a <title> tooltip) per point. A chart
// with no finite value says so in its body instead of drawing lines.
// requires: every series has x.size() values.
// throws: std::invalid_argument when a series' length differs from x's.
std::string svg_line_chart(const LineChart& chart);

// Horizontal bars, one per label, value / max_value of the bar area's width, the value printed
// after the bar (as a percentage when `percent`). requires: labels.size() == values.size().
// throws: std::invalid_argument on a size mismatch or max_value <= 0.
std::string svg_bar_chart(const std::string& title, const std::vector<std::string>& labels,
                          const std::vector<double>& values, double max_value, bool percent);

// confusion[true][predicted] (K x K) as a <table class="confusion">: rows are the true classes,
// columns the predicted ones, each cell shaded by its share of the row (diagonal blue, the rest
// red), with row totals and per-class accuracy. throws: std::invalid_argument when confusion is
// not K x K for K = classes.size().
std::string confusion_table(const std::vector<std::vector<int64_t>>& confusion,
                            const std::vector<std::string>& classes);

// Numbers for the page: 1234567 -> "1,234,567".
std::string thousands(int64_t v);
// A value with `digits` significant digits, "-" for NaN.
std::string number(double v, int digits = 4);

// Ticks covering [lo, hi] at a 1/2/5 x 10^k step, about `count` of them (lo < hi).
std::vector<double> nice_ticks(double lo, double hi, int count);

}  // namespace gb::interp::report
