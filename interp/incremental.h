// Incremental inference for perturbation explanations, the idea of Krypton (Nakandala, Kumar and
// Papakonstantinou, SIGMOD 2019): a perturbed image differs from the explained one only inside a
// box, so each layer only changes where that box reaches (a region growing with the receptive
// field). IncrementalForward traces the model once on the original image, keeps every activation,
// and for a chunk of perturbed images computes each layer only over its changed region, reading
// the rest from the cache. Every image of a chunk gets a region of one size (the largest, placed
// to cover its own), so each layer runs as one batched op on [B,C,h,w] patches: a convolution or
// pool over the patch with its halo (assembled from the cache, zero or -inf padding outside the
// layer), pointwise ops and additions over the union of their inputs' regions. Where a layer's
// region exceeds `full_fraction` of it, or an op has no windowed rule (global pooling, linear,
// reshape), that op and every op downstream of it run on whole activations, as a full forward
// does.
// Batch norms are folded into the preceding convolution and a following residual add and ReLU run
// in its epilogue (ops::conv2d_fused), as in the full forward.
// Exact up to float rounding: a patch convolution may take another kernel (direct instead of
// Winograd) and the folded weights round differently from the module-level fusion; the tests
// bound the difference on the zoo models.
// Shape letters: B images in a chunk, C channels, H/W the input (and a layer's) size, K classes.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "interp/batch.h"
#include "runtime/module.h"

namespace gb::interp {

// Rows [y0, y0 + h) x columns [x0, x0 + w) of the input; h or w 0 means nothing changed.
struct ChangedBox {
  int64_t y0 = 0, x0 = 0, h = 0, w = 0;
};

struct IncrementalStats {
  double macs_done = 0.0;  // multiply-adds of convolutions and linear layers actually computed
  double macs_full = 0.0;  // those a full forward of the same images computes
  int64_t images = 0;
  // Multiply-adds done per module (trace order).
  std::vector<std::pair<std::string, double>> macs_by_module;
  std::string not_run;  // why incremental inference did not run ("" when it did)

  // macs_done / macs_full (1 before anything ran).
  double mac_fraction() const { return macs_full > 0 ? macs_done / macs_full : 1.0; }
  // Adds another run's figures.
  void add(const IncrementalStats& o);
  // These figures less an earlier snapshot `o` of the same running totals.
  IncrementalStats minus(const IncrementalStats& o) const;
};

// Not safe to use from two threads at once (forward() adds to the running statistics).
class IncrementalForward {
 public:
  // Traces `model` (eval mode, no grad; its training flag is restored) on `image` [C,H,W] (or
  // [1,C,H,W]) and caches the activations. Keeps a reference to `model` (chunks whose changed
  // region covers more than full_fraction of the image from the start run its own forward), which
  // must outlive this object. full_fraction in (0, 1]: a layer whose changed region
  // covers more than this fraction of it runs whole.
  // throws: std::invalid_argument naming the op and its module when the model has an op that
  // cannot be replayed or that touches the batch dimension (a permute, slice, reduction or concat
  // over it, a reshape across it, a concat with a traced constant) (the relevance graph's list,
  // interp/relevance/relevance_graph.h), a final softmax, a module with hooks (the plan would not
  // call them), or a non-CPU model; callers then run the full forward (forward_streamed).
  IncrementalForward(Module& model, const Tensor& image, double full_fraction = 0.5);
  ~IncrementalForward();
  IncrementalForward(IncrementalForward&&) noexcept;
  IncrementalForward& operator=(IncrementalForward&&) noexcept;

  // Logits [B,K] of `batch` [B,C,H,W] (contiguous F32), where image b equals the original image
  // outside boxes[b]. requires: boxes.size() == B, every box inside the image.
  // throws: std::invalid_argument for a shape or box that breaks this.
  Tensor forward(const Tensor& batch, const std::vector<ChangedBox>& boxes);

  // The original image's logits [1,K], from the trace.
  const Tensor& base_logits() const;
  // The original image [1,C,H,W].
  const Tensor& base_image() const;
  // Running totals over every forward() so far.
  const IncrementalStats& stats() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// An IncrementalForward for `model` on `image`, or null when the model cannot run incrementally
// (any exception of the constructor: an op without a rule, a final softmax, hooks, a model off
// the CPU); `why` (when given) gets the reason.
std::unique_ptr<IncrementalForward> try_incremental(Module& model, const Tensor& image,
                                                    std::string* why = nullptr);

// The bounding box of the pixels where a [C,H,W] image differs from `base` (empty when equal).
ChangedBox changed_box(const Tensor& base, const Tensor& image);

// forward_streamed (interp/batch.h) through `inc`: make(begin, count) returns the perturbed images
// [count,C,H,W], box_of(i) the box image i differs in, consume(begin, logits) as there. Chunks
// are sized as forward_streamed sizes them for `model`. A chunk whose common region (the largest
// box height x the largest box width) exceeds the full fraction of the image runs whole from the
// first layer (the plan's folded ops).
void forward_streamed_incremental(
    Module& model, IncrementalForward& inc, int64_t total,
    const std::function<Tensor(int64_t begin, int64_t count)>& make,
    const std::function<ChangedBox(int64_t index)>& box_of,
    const std::function<void(int64_t begin, const Tensor& logits)>& consume,
    const BatchOptions& opt = {});

}  // namespace gb::interp
