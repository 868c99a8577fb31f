// run_probe: loads the checkpoint and the input tensors, runs forward (and backward, Grad-CAM)
// and writes the raw results (interp/explain/tensor_probe.h).
// Shape letters: N inputs, C channels, H/W image size, K classes.
#include "interp/explain/tensor_probe.h"

#include "interp/cam.h"
#include "models/training/checkpoint_meta.h"
#include "runtime/autograd.h"
#include "runtime/output_path.h"
#include "runtime/safetensors.h"

namespace gb::interp {
namespace {

Tensor read_f32(const SafetensorsFile& file, const std::filesystem::path& path,
                const std::string& name, const Shape& expected) {
  const SafetensorsEntry* e = file.find(name);
  if (!e) throw std::runtime_error(path.string() + ": no tensor '" + name + "'");
  Tensor t = Tensor::empty(expected);
  copy_f32(*e, expected, t.data<float>());
  return t;
}

void add(SafetensorsFile& out, const std::string& name, const Tensor& t) {
  const Tensor c = ops::contiguous(t.detach());
  out.entries.push_back(make_f32_entry(name, c.shape(), c.data<float>()));
}

}  // namespace

void run_probe(const ProbeJob& job) {
  refuse_directory(job.out);
  refuse_existing(job.out, job.overwrite);
  require_parent_directory(job.out, "--out");
  const training::LoadedModel lm = training::load_model(job.checkpoint);
  Module& model = *lm.model;
  const SafetensorsFile in = read_safetensors(job.input);
  const SafetensorsEntry* xe = in.find("input");
  if (!xe) throw std::runtime_error(job.input.string() + ": no tensor 'input'");
  Shape x_shape = lm.meta.input_shape;
  x_shape.insert(x_shape.begin(), xe->shape.empty() ? 0 : xe->shape[0]);
  Tensor x = read_f32(in, job.input, "input", x_shape);
  if (job.train_mode) model.train();
  SafetensorsFile out;
  if (job.backward) {
    x.set_requires_grad(true);
    const Tensor logits = model(x);
    const Tensor g = read_f32(in, job.input, "grad_output", logits.shape());
    backward(ops::sum(ops::mul(logits, g)));
    add(out, "logits", logits);
    add(out, "grad.input", x.grad());
    for (const auto& [name, p] : model.named_parameters()) {
      if (job.param_grads && p.grad().defined()) add(out, "grad." + name, p.grad());
    }
  } else {
    NoGradGuard no_grad;
    add(out, "logits", model(x));
  }
  if (!job.cam_layer.empty()) {
    CamOptions opt;
    opt.layer = job.cam_layer;
    opt.target = parse_target(job.cam_target);
    const CamResult cam = grad_cam(model, x.detach(), opt);
    add(out, "cam.map", cam.map);
    add(out, "cam.low_res", cam.low_res);
  }
  write_safetensors(job.out, out);
}

}  // namespace gb::interp
