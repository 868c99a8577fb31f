// KernelFn: one entry of an op family's kernel set, a plain function pointer together with the
// qualified name of the function it points to ("cpu::conv2d_forward"), so the op table can both
// call a kernel and say which one it is. A kernel set (Conv2dKernels, ReluKernels, ...) is a struct
// of KernelFn members, one per pass, declared in the family's contract header (kernels/<family>.h);
// each backend defines one constant set (ref::conv2d_kernels, cpu::..., cuda::...). A set is
// complete: every member points to a function (a backend without its own kernel for a pass names
// another backend's function explicitly, e.g. cpu::relu_kernels.backward_guided =
// ref::relu_backward_guided), so the table shows exactly what runs.
// Plain C++17 (the CUDA sources include the family headers through nvcc).
#pragma once
#include <vector>

namespace gb::kernels {

template <class Signature>
struct KernelFn;

template <class R, class... Args>
struct KernelFn<R(Args...)> {
  R (*fn)(Args...) = nullptr;
  const char* name = nullptr;

  R operator()(Args... args) const { return fn(args...); }
  explicit operator bool() const { return fn != nullptr; }
};

// One pass of a kernel set as listed by `glassbox ops`: the pass and the function's name. Every
// kernel set has names(), its passes in declaration order.
struct KernelName {
  const char* pass;
  const char* function;
};

}  // namespace gb::kernels

// KernelFn{&f, "f"} for a function f whose type must equal the member's signature exactly.
#define GB_KERNEL(f) \
  { &f, #f }
