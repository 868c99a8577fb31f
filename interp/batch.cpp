// Chunked no-grad evaluation sized from a measured one-image peak memory.
#include "interp/batch.h"

#include <algorithm>
#include <cstring>
#include <stdexcept>

#include "runtime/autograd.h"
#include "runtime/ops.h"
#include "runtime/storage.h"

namespace gb::interp {
namespace {

// Peak tensor memory, per input, of running `forward` on one input (host memory, or GPU memory
// for a model on CUDA).
size_t peak_bytes_of_one(Module& model, const std::function<void()>& forward) {
  const bool gpu = model.device().type != DeviceType::Cpu;
  const size_t before = gpu ? Storage::device_live_bytes() : Storage::live_bytes();
  if (gpu) {
    Storage::reset_device_peak();
  } else {
    Storage::reset_peak();
  }
  forward();
  const size_t peak = gpu ? Storage::device_peak_bytes() : Storage::peak_bytes();
  return std::max<size_t>(peak - std::min(before, peak), 1);
}

int64_t chunk_for(size_t per_input, const BatchOptions& opt) {
  const auto fit = static_cast<int64_t>(opt.mem_budget_bytes / per_input);
  return std::clamp<int64_t>(fit, 1, std::max<int64_t>(opt.max_chunk, 1));
}

}  // namespace

ForwardPrecisionScope forward_precision_scope(const Module& model, const BatchOptions& opt) {
  if (opt.precision != ForwardPrecision::Fp32 && model.device().type != DeviceType::Cpu) {
    throw std::invalid_argument(std::string("--precision ") +
                                forward_precision_name(opt.precision) +
                                " runs the CPU kernels only; this model is on " +
                                model.device().str() + ": use --precision fp32");
  }
  return ForwardPrecisionScope(opt.precision);
}

int64_t chunk_size_for(Module& model, const Shape& chw, const BatchOptions& opt) {
  if (chw.size() != 3) throw std::invalid_argument("interp: input shape must be [C,H,W]");
  EvalModeScope eval(model);
  NoGradGuard no_grad;
  Shape one{1};
  one.insert(one.end(), chw.begin(), chw.end());
  Tensor x = Tensor::zeros(one, DType::F32, model.device());
  return chunk_for(peak_bytes_of_one(model, [&] { Tensor y = model(x); }), opt);
}

void forward_streamed(Module& model, int64_t total, const Shape& chw,
                      const std::function<Tensor(int64_t, int64_t)>& make,
                      const std::function<void(int64_t, const Tensor&)>& consume,
                      const BatchOptions& opt) {
  if (chw.size() != 3) throw std::invalid_argument("interp: input shape must be [C,H,W]");
  EvalModeScope eval(model);
  NoGradGuard no_grad;
  const ForwardPrecisionScope precision = forward_precision_scope(model, opt);
  // The model runs on its device; the consumer always sees host logits.
  auto run = [&](int64_t begin, int64_t count) {
    Tensor x = make(begin, count);
    if (x.dim() != 4 || x.size(0) != count) {
      throw std::invalid_argument("interp: make() returned shape " + shape_str(x.shape()) +
                                  " for " + std::to_string(count) + " inputs");
    }
    consume(begin, model(x.to(model.device())).to(Device{}));
  };
  if (total <= 0) return;
  // Input 0 runs alone and its peak memory sizes the chunks of the rest (no extra forward).
  const int64_t chunk = chunk_for(peak_bytes_of_one(model, [&] { run(0, 1); }), opt);
  for (int64_t begin = 1; begin < total; begin += chunk) run(begin, std::min(chunk, total - begin));
}

Tensor forward_batched(Module& model, const Tensor& inputs, const BatchOptions& opt) {
  if (inputs.dim() != 4) {
    throw std::invalid_argument("interp: inputs must be [N,C,H,W], got " +
                                shape_str(inputs.shape()));
  }
  const int64_t N = inputs.size(0);
  const Shape chw{inputs.size(1), inputs.size(2), inputs.size(3)};
  Tensor out;
  forward_streamed(
      model, N, chw,
      [&](int64_t begin, int64_t count) {
        return ops::contiguous(ops::slice(inputs, 0, begin, begin + count));
      },
      [&](int64_t begin, const Tensor& logits) {
        if (!out.defined()) out = Tensor::empty({N, logits.size(1)});
        Tensor lc = logits.is_contiguous() ? logits : logits.clone();
        std::memcpy(out.f32() + begin * logits.size(1), lc.f32(),
                    static_cast<size_t>(lc.numel()) * sizeof(float));
      },
      opt);
  return out;
}

}  // namespace gb::interp
