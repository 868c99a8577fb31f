// The HTML page of `glassbox report`, rendered from the gathered ReportData: one file with inline
// CSS, inline SVG charts and data: URI images, no script and no external resource. Each section
// has a fixed id (overview, training, evaluation, gallery, explanations, layers, graph, and
// pruning for a pruned checkpoint) that the Chromium test queries. Shape letters: K classes.
#pragma once
#include <string>
#include <vector>

#include "interp/report/report_job.h"

namespace gb::interp::report {

// The whole page. Every string from the checkpoint and the input files is HTML-escaped.
std::string render_report(const ReportData& d);

// The ids of the sections render_report writes, in page order.
std::vector<std::string> report_sections(const ReportData& d);

}  // namespace gb::interp::report
