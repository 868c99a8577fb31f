// Heat-map overlays, display factors, class probabilities and names (see job_pictures.h).
// Shape letters: C channels, H/W image size, K classes.
#include "interp/job_pictures.h"

#include <algorithm>

#include "runtime/autograd.h"
#include "runtime/ops.h"

namespace gb::interp {

Image heat_overlay(const Image& base, const MethodOutput& m, int64_t factor) {
  const std::vector<float> v = m.map.to_vector();
  const std::vector<float> t = m.is_signed ? normalize_signed(v.data(), v.size(), 99.0f)
                                           : normalize_percentile(v.data(), v.size(), 0.0f, 99.5f);
  const Image heat = colorize(t.data(), m.map.size(0), m.map.size(1),
                              m.is_signed ? Colormap::Diverging : Colormap::Viridis);
  return overlay(base, upscale_nearest(heat, factor), 0.5f);
}

int64_t display_factor(int64_t H, int64_t W, int64_t pixels) {
  return std::max<int64_t>(1, pixels / std::max<int64_t>(1, std::max(H, W)));
}

std::vector<float> class_probabilities(Module& model, const Tensor& x) {
  NoGradGuard no_grad;
  return ops::softmax(model(x.to(model.device()))).to_vector();
}

std::string class_name(const std::vector<std::string>& classes, int64_t k) {
  return k >= 0 && k < static_cast<int64_t>(classes.size()) ? classes[static_cast<size_t>(k)]
                                                            : std::to_string(k);
}

}  // namespace gb::interp
