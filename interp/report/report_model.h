// The model half of the report's data: the layer table (models/summary.h), the traced dataflow
// graph (models/model_graph.h) drawn by Graphviz or listed as text, and, for a pruned
// checkpoint, each layer's parameters and MACs before and after pruning.
// Shape letters: C channels, H/W image size.
#pragma once
#include <string>

#include "interp/report/report_job.h"
#include "models/training/checkpoint_meta.h"
#include "runtime/module.h"

namespace gb::interp::report {

// Fills d.summary, d.graph_svg / d.graph_nodes / d.graph_note, d.pruned and d.pruning. With
// `draw_graph`, Graphviz's dot draws the graph (models::render_svg); without it, or when dot is
// not installed or fails, the graph is a text list and d.graph_note says why. The model must be
// on the host; it is left in eval mode.
// throws: what summarize / trace_model_graph throw for a model that rejects meta.input_shape.
void describe_model(Module& model, const training::CheckpointMeta& meta, bool draw_graph,
                    ReportData& d);

// The layers of a pruned checkpoint compared with its source: structured pruning rebuilds the
// source architecture from the "pruning" section's source_model_config and joins both layer
// tables by module path (layers with parameters or MACs); unstructured pruning lists each
// parameter's size and its non-zero count, and the totals are the model's parameters and its
// non-zero ones. `after` is the pruned model's table.
PruningView pruning_view(const training::CheckpointMeta& meta, const models::ModelSummary& after);

}  // namespace gb::interp::report
