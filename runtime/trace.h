// Op tracing: while a TraceScope is active on a thread, every op of the table that runs there
// appends what it computed to the trace (the op, its input and output tensors, its attributes
// and the module path it ran under), whether or not grad mode is on. ONNX export
// (models/onnx/onnx_export.h) turns a trace of one forward pass into a graph. When no trace is
// active an op pays one call and a thread-local load. Ops record themselves through autograd's
// record() (runtime/autograd.h), which calls trace_op(); ops with attributes add them with
// trace_attrs().
#pragma once
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "runtime/op_table.h"
#include "runtime/tensor.h"

namespace gb {

// Numeric attributes of an op, by name ("stride", "dims"); integers are exact (|x| < 2^53).
using OpAttrs = std::map<std::string, std::vector<double>>;

struct TracedOp {
  std::optional<OpId> op;      // the op-table row, or none for a custom node
  const char* label = "";      // a custom node's label (record_custom), else the op's name
  std::string module;          // module path the op ran under ("" at the root)
  std::vector<Tensor> inputs;  // as passed (undefined for an absent optional input)
  Tensor output;
  OpAttrs attrs;
};

struct OpTrace {
  std::vector<TracedOp> ops;  // in execution order
};

// True while a TraceScope is active on this thread. (A function, not an inline read of the
// thread-local: other translation units then never touch the variable through GCC's TLS wrapper,
// which UBSan flags as a null load.)
bool tracing();

// Makes `trace` this thread's active trace for its lifetime (scopes nest; the inner one wins).
class TraceScope {
 public:
  explicit TraceScope(OpTrace& trace);
  ~TraceScope();
  TraceScope(const TraceScope&) = delete;
  TraceScope& operator=(const TraceScope&) = delete;

 private:
  OpTrace* prev_;
};

// Appends an op to the active trace (called by record()); does nothing when not tracing.
void trace_op(std::optional<OpId> op, const char* label, const std::vector<Tensor>& inputs,
              const Tensor& output);
// Sets the attributes of the op traced last and appends `extra_inputs` (tensors it reads that
// are not its differentiable inputs: batch norm's running statistics) to its inputs. Call right
// after the op's record(), under `if (tracing())`, so that building them costs nothing otherwise.
// requires: an op was traced on this thread's active trace.
void trace_attrs(OpAttrs attrs, const std::vector<Tensor>& extra_inputs = {});
// For ops that compute without recording (conv2d_fused): throws std::logic_error naming the op
// when a trace is active, so a trace never misses a computation.
void refuse_when_tracing(OpId op);

}  // namespace gb
