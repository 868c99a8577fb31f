// The CUDA backend through the runtime: device tensors and copies, every zoo model's forward and
// backward on the GPU against the CPU, short training runs whose losses match the CPU's, and
// bitwise determinism of GPU training. GPU cases skip themselves without a GPU; the CPU-only
// build checks that asking for CUDA fails with a clear error instead of falling back.
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "interp/cam.h"
#include "interp/gradients.h"
#include "interp/perturb.h"
#include "models/registry.h"
#include "runtime/autograd.h"
#include "runtime/device_copy.h"
#include "runtime/op_table.h"
#include "runtime/ops.h"
#include "runtime/optim.h"
#include "runtime/rng.h"

namespace gb {
namespace {

#ifndef GB_WITH_CUDA
TEST(CudaRuntime, CpuOnlyBuildRefusesCuda) {
  try {
    parse_device("cuda");
    FAIL() << "parse_device(\"cuda\") should throw in a CPU-only build";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("without CUDA"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(supports(OpId::Conv2d, DeviceType::Cuda));
  EXPECT_THROW(Tensor::empty({2}, DType::F32, Device{DeviceType::Cuda, 0}), std::runtime_error);
  EXPECT_THROW(parse_device("gpu"), std::invalid_argument);
}
#else

#define REQUIRE_GPU()                                     \
  do {                                                    \
    if (!cuda_available()) GTEST_SKIP() << "no CUDA GPU"; \
  } while (0)

const Device kGpu{DeviceType::Cuda, 0};

double rel_err(const std::vector<float>& a, const std::vector<float>& b) {
  double num = 0, den = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    if (!std::isfinite(a[i])) return INFINITY;
    num += (static_cast<double>(a[i]) - b[i]) * (static_cast<double>(a[i]) - b[i]);
    den += static_cast<double>(b[i]) * b[i];
  }
  return std::sqrt(num) / std::max(std::sqrt(den), 1e-30);
}

TEST(CudaRuntime, EveryOpHasACudaKernelExceptInferenceFusion) {
  for (const OpRow& op : op_table()) {
    if (op.id == OpId::Conv2dFused || op.is_view) continue;
    EXPECT_NE(op.kernel_sets[static_cast<size_t>(Backend::Cuda)], nullptr) << op.name;
  }
}

TEST(CudaRuntime, CopiesRoundTripIncludingStridedViews) {
  REQUIRE_GPU();
  Generator gen(3, 0);
  Tensor h = Tensor::randn({3, 5, 7}, gen);
  Tensor d = h.to(kGpu);
  EXPECT_EQ(d.device(), kGpu);
  EXPECT_EQ(d.to_vector(), h.to_vector());
  // A permuted (non-contiguous) device view made contiguous on the device.
  Tensor dp = ops::permute(d, {2, 0, 1});
  Tensor hp = ops::permute(h, {2, 0, 1});
  EXPECT_EQ(dp.to_vector(), hp.to_vector());
  EXPECT_EQ(dp.clone().to(Device{}).to_vector(), hp.clone().to_vector());
  // Fill and copy into a strided slice of a device tensor.
  Tensor z = Tensor::zeros({4, 6}, DType::F32, kGpu);
  Tensor col = ops::slice(z, 1, 1, 6, 2);  // columns 1, 3, 5
  col.fill_(2.5f);
  const auto v = z.to_vector();
  for (int r = 0; r < 4; ++r)
    for (int c = 0; c < 6; ++c) EXPECT_EQ(v[r * 6 + c], c % 2 == 1 ? 2.5f : 0.0f);
  // Integer labels travel too.
  Tensor labels = Tensor::from_labels({3, 1, 4, 1, 5}).to(kGpu);
  Tensor back = labels.to(Device{});
  EXPECT_EQ(back.i64()[2], 4);
  EXPECT_FLOAT_EQ(Tensor::scalar(1.5f).to(kGpu).item(), 1.5f);
}

TEST(CudaRuntime, MixedDevicesAreRefusedNamingTheOp) {
  REQUIRE_GPU();
  Tensor a = Tensor::ones({2, 2}).to(kGpu);
  Tensor b = Tensor::ones({2, 2});
  try {
    ops::add(a, b);
    FAIL() << "add across devices should throw";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("add"), std::string::npos) << e.what();
  }
}

// Forward and backward of a zoo model on the GPU against the CPU, train and eval mode.
// Tolerances: a parameter's gradient error is measured against max(|its CPU gradient|, 1e-3 x
// the largest gradient norm of the model), since a conv bias followed by batch norm has a
// gradient that is zero in exact arithmetic (its computed value is rounding noise on both
// devices). Training-mode gradients at initialisation with a batch of 6 are ill-conditioned
// (ReLU masks flip on values within rounding of zero, and batch statistics spread each flip over a
// channel). The CPU's own fast and reference kernels differ there by up to 1.2e-2 over all
// gradients and 1.8e-2 for one parameter (inception; resnet56 1.1e-2), and in eval mode by
// 3.7e-3 (inception's stem). So train mode allows 5e-2 over all gradients and 1e-1 per
// parameter, eval mode 5e-3 and 2e-2; a wrong kernel gives errors of order 1.
void check_model(const std::string& name, int64_t batch) {
  models::ModelConfig mc;
  manual_seed(7);
  auto cpu = models::build_model(name, mc);
  manual_seed(7);
  auto gpu = models::build_model(name, mc);
  gpu->to(kGpu);
  Generator gen(11, 0);
  Tensor x = Tensor::randn({batch, 3, 32, 32}, gen);
  std::vector<int64_t> labels;
  for (int64_t i = 0; i < batch; ++i) labels.push_back(i % 10);
  for (bool training : {true, false}) {
    const double per_param_tol = training ? 1e-1 : 2e-2, global_tol = training ? 5e-2 : 5e-3;
    cpu->train(training);
    gpu->train(training);
    // The same dropout masks on both sides (they are drawn from one global counter).
    dropout_generator().set_counter(0);
    Tensor lc = ops::cross_entropy((*cpu)(x), Tensor::from_labels(labels));
    dropout_generator().set_counter(0);
    Tensor lg = ops::cross_entropy((*gpu)(x.to(kGpu)), Tensor::from_labels(labels).to(kGpu));
    EXPECT_NEAR(lg.item(), lc.item(), 1e-3 * std::abs(lc.item()) + 1e-6) << name;
    for (auto& p : cpu->parameters()) p.zero_grad();
    for (auto& p : gpu->parameters()) p.zero_grad();
    lc.backward();
    lg.backward();
    const auto pc = cpu->named_parameters();
    const auto pg = gpu->named_parameters();
    ASSERT_EQ(pc.size(), pg.size());
    std::vector<std::vector<float> > gc, gg;
    double max_norm = 0, diff2 = 0, ref2 = 0;
    for (size_t i = 0; i < pc.size(); ++i) {
      ASSERT_TRUE(pg[i].second.grad().defined()) << pg[i].first;
      EXPECT_EQ(pg[i].second.grad().device(), kGpu);
      gc.push_back(pc[i].second.grad().to_vector());
      gg.push_back(pg[i].second.grad().to_vector());
      double n2 = 0;
      for (size_t k = 0; k < gc[i].size(); ++k) {
        const double d = static_cast<double>(gg[i][k]) - gc[i][k];
        n2 += static_cast<double>(gc[i][k]) * gc[i][k];
        diff2 += d * d;
      }
      ref2 += n2;
      max_norm = std::max(max_norm, std::sqrt(n2));
    }
    EXPECT_LT(std::sqrt(diff2 / std::max(ref2, 1e-30)), global_tol)
        << name << (training ? " (train)" : " (eval)") << ": all gradients";
    for (size_t i = 0; i < pc.size(); ++i) {
      double d2 = 0, n2 = 0;
      for (size_t k = 0; k < gc[i].size(); ++k) {
        const double d = static_cast<double>(gg[i][k]) - gc[i][k];
        d2 += d * d;
        n2 += static_cast<double>(gc[i][k]) * gc[i][k];
      }
      const double scale = std::max(std::sqrt(n2), 1e-3 * max_norm);
      EXPECT_LT(std::sqrt(d2) / std::max(scale, 1e-30), per_param_tol)
          << name << " " << pg[i].first << (training ? " (train)" : " (eval)");
    }
  }
  // Running statistics were updated on the device like on the host.
  const auto bc = cpu->named_buffers();
  const auto bg = gpu->named_buffers();
  for (size_t i = 0; i < bc.size(); ++i) {
    if (bc[i].second.dtype() != DType::F32) continue;
    EXPECT_LT(rel_err(bg[i].second.to_vector(), bc[i].second.to_vector()), 1e-3) << bc[i].first;
  }
}

TEST(CudaRuntime, ZooModelsMatchTheCpu) {
  REQUIRE_GPU();
  for (const auto& name : models::model_names()) check_model(name, 6);
}

// `steps` SGD steps of resnet20 on fixed random batches; returns the losses and final weights.
struct TrainRun {
  std::vector<float> losses;
  std::vector<float> weights;
};
TrainRun train_steps(Device device, int steps) {
  manual_seed(1);
  auto model = models::build_model("resnet20", {});
  model->to(device);
  optim::SgdOptions so;
  so.lr = 0.05f;
  so.momentum = 0.9f;
  so.nesterov = true;
  so.weight_decay = 5e-4f;
  optim::SGD sgd(model->named_parameters(), so);
  Generator gen(5, 0);
  TrainRun r;
  for (int s = 0; s < steps; ++s) {
    Tensor x = Tensor::randn({16, 3, 32, 32}, gen).to(device);
    std::vector<int64_t> labels;
    for (int i = 0; i < 16; ++i) labels.push_back((i * 7 + s) % 10);
    Tensor loss = ops::cross_entropy((*model)(x), Tensor::from_labels(labels).to(device), 0.1f);
    r.losses.push_back(loss.item());
    sgd.zero_grad();
    loss.backward();
    sgd.step();
  }
  for (const auto& [n, p] : model->named_parameters()) {
    const auto v = p.to_vector();
    r.weights.insert(r.weights.end(), v.begin(), v.end());
  }
  return r;
}

TEST(CudaRuntime, TrainingLossesTrackTheCpuRun) {
  REQUIRE_GPU();
  const TrainRun cpu = train_steps(Device{}, 5);
  const TrainRun gpu = train_steps(kGpu, 5);
  for (size_t i = 0; i < cpu.losses.size(); ++i) {
    EXPECT_NEAR(gpu.losses[i], cpu.losses[i], 2e-3 * std::abs(cpu.losses[i])) << "step " << i;
  }
  // Five SGD steps (Nesterov momentum, batch-16 BN) amplify the 1e-6-level rounding
  // differences of each step; measured on an H100: 1.9e-3.
  EXPECT_LT(rel_err(gpu.weights, cpu.weights), 1e-2);
}

TEST(CudaRuntime, GpuTrainingIsBitwiseDeterministic) {
  REQUIRE_GPU();
  const TrainRun a = train_steps(kGpu, 4);
  const TrainRun b = train_steps(kGpu, 4);
  EXPECT_EQ(a.losses, b.losses);
  EXPECT_EQ(a.weights, b.weights);
}

TEST(CudaRuntime, AdamWAndClippingMatchTheCpu) {
  REQUIRE_GPU();
  Generator gen(9, 0);
  Tensor w0 = Tensor::randn({37, 5}, gen);
  Tensor g0 = Tensor::randn({37, 5}, gen);
  auto run = [&](Device dev) {
    Tensor w = w0.clone().to(dev);  // clone: on the CPU, to() would return w0 itself
    w.set_requires_grad(true);
    optim::AdamWOptions o;
    o.lr = 0.01f;
    optim::AdamW opt({{"w", w}}, o);
    for (int s = 0; s < 3; ++s) {
      w.set_grad(g0.clone().to(dev));
      optim::clip_grad_norm({{"w", w}}, 1.0f);
      opt.step();
    }
    return w.to_vector();
  };
  const auto gpu = run(kGpu);
  const auto cpu = run(Device{});
  EXPECT_LT(rel_err(gpu, cpu), 1e-5);
}

TEST(CudaRuntime, GradientsOfInputsForSaliencyOnTheGpu) {
  REQUIRE_GPU();
  manual_seed(2);
  auto cpu = models::build_model("resnet20", {});
  manual_seed(2);
  auto gpu = models::build_model("resnet20", {});
  gpu->to(kGpu);
  cpu->eval();
  gpu->eval();
  Generator gen(4, 0);
  Tensor x = Tensor::randn({2, 3, 32, 32}, gen);
  auto grad_of_input = [](Module& m, Tensor in) {
    in.set_requires_grad(true);
    Tensor out = m(in);
    Tensor score = ops::sum(ops::slice(out, 1, 3, 4, 1));
    return grad(score, {in})[0].to_vector();
  };
  EXPECT_LT(rel_err(grad_of_input(*gpu, x.to(kGpu)), grad_of_input(*cpu, x.clone())), 2e-3);
}

// Explanations with the model on the GPU (inputs and results stay on the host) against the same
// model on the CPU: Grad-CAM (hooks, gradients of an activation), Grad-CAM++, Score-CAM (batched
// masked forwards), saliency and Integrated Gradients (input gradients).
TEST(CudaRuntime, ExplanationsOnTheGpuMatchTheCpu) {
  REQUIRE_GPU();
  manual_seed(3);
  auto cpu = models::build_model("resnet20", {});
  manual_seed(3);
  auto gpu = models::build_model("resnet20", {});
  gpu->to(kGpu);
  Generator gen(6, 0);
  Tensor x = Tensor::randn({2, 3, 32, 32}, gen);
  for (auto method : {interp::CamMethod::GradCam, interp::CamMethod::GradCamPlusPlus,
                      interp::CamMethod::ScoreCam}) {
    interp::CamOptions o;
    o.method = method;
    const auto mc = interp::cam(*cpu, x, o);
    const auto mg = interp::cam(*gpu, x, o);
    EXPECT_EQ(mg.classes, mc.classes);
    EXPECT_EQ(mg.map.device().type, DeviceType::Cpu);
    EXPECT_LT(rel_err(mg.map.to_vector(), mc.map.to_vector()), 5e-3)
        << interp::cam_method_name(method);
  }
  const auto sc = interp::saliency(*cpu, x);
  const auto sg = interp::saliency(*gpu, x);
  EXPECT_LT(rel_err(sg.attr.to_vector(), sc.attr.to_vector()), 5e-3);
  const Tensor base = interp::black_baseline(x);
  const auto ic = interp::integrated_gradients(*cpu, x, base);
  const auto ig = interp::integrated_gradients(*gpu, x, base);
  EXPECT_LT(rel_err(ig.attr.to_vector(), ic.attr.to_vector()), 5e-3);
}

#endif

}  // namespace
}  // namespace gb
