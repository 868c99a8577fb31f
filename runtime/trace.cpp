// The thread-local active trace and the calls ops make into it (runtime/trace.h).
#include "runtime/trace.h"

#include <stdexcept>

#include "runtime/autograd.h"

namespace gb {
namespace {
thread_local OpTrace* t_active_trace = nullptr;
}

bool tracing() { return t_active_trace != nullptr; }

TraceScope::TraceScope(OpTrace& trace) : prev_(t_active_trace) { t_active_trace = &trace; }

TraceScope::~TraceScope() { t_active_trace = prev_; }

void trace_op(std::optional<OpId> op, const char* label, const std::vector<Tensor>& inputs,
              const Tensor& output) {
  OpTrace* trace = t_active_trace;
  if (trace == nullptr) return;
  TracedOp traced;
  traced.op = op;
  traced.label = op ? op_name(*op) : label;
  traced.module = ModuleScope::current();
  traced.inputs = inputs;
  traced.output = output;
  trace->ops.push_back(std::move(traced));
}

void trace_attrs(OpAttrs attrs, const std::vector<Tensor>& extra_inputs) {
  OpTrace* trace = t_active_trace;
  if (trace == nullptr) return;
  if (trace->ops.empty()) throw std::logic_error("trace_attrs: no op has been traced");
  TracedOp& last = trace->ops.back();
  last.attrs = std::move(attrs);
  last.inputs.insert(last.inputs.end(), extra_inputs.begin(), extra_inputs.end());
}

void refuse_when_tracing(OpId op) {
  if (!tracing()) return;
  throw std::logic_error(std::string("trace: op '") + op_name(op) +
                         "' computes without recording and cannot be traced (fusion must be off "
                         "while tracing)");
}

}  // namespace gb
