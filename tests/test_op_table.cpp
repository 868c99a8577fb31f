// The op table itself: rows complete and in OpId order, every kernel set complete (each pass
// names its function), the files a row lists exist, supports() and require_kernel() follow the
// rows (a missing kernel is an error naming the op and the device, never a fallback), dispatch
// follows the CPU kernel mode, and the dispatch log sees what ran.
#include <gtest/gtest.h>

#include <filesystem>
#include <set>
#include <sstream>
#include <string>

#include "runtime/op_table.h"
#include "runtime/ops.h"
#include "runtime/tensor.h"

namespace gb {
namespace {

TEST(OpTable, RowsAreCompleteAndInOrder) {
  const auto& table = op_table();
  std::set<std::string> names;
  for (size_t i = 0; i < table.size(); ++i) {
    const OpRow& r = table[i];
    EXPECT_EQ(static_cast<size_t>(r.id), i);
    ASSERT_NE(r.name, nullptr);
    EXPECT_TRUE(names.insert(r.name).second) << "duplicate name " << r.name;
    EXPECT_NE(r.backward, nullptr) << r.name;
    EXPECT_NE(r.files, nullptr) << r.name;
    EXPECT_NE(r.list_kernels, nullptr) << r.name;
    EXPECT_EQ(&op_row(r.id), &r);
    EXPECT_STREQ(op_name(r.id), r.name);
    EXPECT_TRUE(r.dtypes & dtype_bit(DType::F32)) << r.name;
  }
}

// Every op has reference and fast CPU kernels; every set names a function for each of its
// passes, and the reference set is made of ref:: functions only.
TEST(OpTable, EveryKernelSetIsComplete) {
  for (const OpRow& r : op_table()) {
    SCOPED_TRACE(r.name);
    if (r.is_view) continue;
    for (size_t b = 0; b < kBackendCount; ++b) {
      const void* set = r.kernel_sets[b];
      if (static_cast<Backend>(b) != Backend::Cuda) {
        ASSERT_NE(set, nullptr) << backend_name(static_cast<Backend>(b));
      }
      if (!set) continue;
      const auto passes = r.list_kernels(set);
      EXPECT_FALSE(passes.empty());
      for (const auto& k : passes) {
        ASSERT_NE(k.function, nullptr) << k.pass;
        const std::string fn = k.function;
        if (static_cast<Backend>(b) == Backend::Reference) {
          EXPECT_EQ(fn.rfind("ref::", 0), 0u) << fn;
        }
        if (static_cast<Backend>(b) == Backend::Cuda) {
          EXPECT_EQ(fn.rfind("cuda::", 0), 0u) << fn;
        }
      }
    }
  }
}

// The walk from a row to its code starts at `files`: every listed file exists.
TEST(OpTable, ListedFilesExist) {
  for (const OpRow& r : op_table()) {
    std::istringstream in(r.files);
    std::string f;
    int count = 0;
    while (in >> f) {
      ++count;
      EXPECT_TRUE(std::filesystem::exists(std::filesystem::path(GB_SOURCE_DIR) / f))
          << r.name << ": " << f;
    }
    EXPECT_GT(count, 0) << r.name;
  }
}

// In a CPU-only build no op claims a CUDA kernel and asking for one names the op and the device;
// in a CUDA build every op but the inference-only conv2d_fused has one (the GPU parity suites in
// test_cuda_*.cpp and the conformance harness check them against the references).
TEST(OpTable, EveryOpSupportsCpuAndNoOpSilentlyClaimsCuda) {
  for (const OpRow& r : op_table()) {
    const std::string name = r.name;
    SCOPED_TRACE(name);
    EXPECT_TRUE(supports(r.id, DeviceType::Cpu));
    EXPECT_NO_THROW(require_kernel(r.id, DeviceType::Cpu));
    {
      CpuKernelModeGuard reference(CpuKernelMode::Reference);
      EXPECT_TRUE(supports(r.id, DeviceType::Cpu));
    }
#ifdef GB_WITH_CUDA
    if (r.id != OpId::Conv2dFused) {
      EXPECT_TRUE(supports(r.id, DeviceType::Cuda));
      continue;
    }
#endif
    if (r.is_view) {  // views need no kernel: any device
      EXPECT_TRUE(supports(r.id, DeviceType::Cuda));
      continue;
    }
    EXPECT_FALSE(supports(r.id, DeviceType::Cuda));
    try {
      require_kernel(r.id, DeviceType::Cuda);
      ADD_FAILURE() << "require_kernel(" << name << ", CUDA) did not throw";
    } catch (const std::exception& e) {
      const std::string msg = e.what();
      EXPECT_NE(msg.find("'" + name + "'"), std::string::npos) << msg;
      EXPECT_NE(msg.find("cuda"), std::string::npos) << msg;
    }
  }
}

TEST(OpTable, SupportsChecksTheDtype) {
  EXPECT_TRUE(supports(OpId::Conv2d, DeviceType::Cpu, DType::F32));
  EXPECT_FALSE(supports(OpId::Conv2d, DeviceType::Cpu, DType::I64));
  EXPECT_TRUE(supports(OpId::Reshape, DeviceType::Cpu, DType::I64));
  EXPECT_TRUE(supports(OpId::Copy, DeviceType::Cpu, DType::I32));
  try {
    require_kernel(OpId::Linear, DeviceType::Cpu, DType::BF16);
    ADD_FAILURE() << "no throw";
  } catch (const std::runtime_error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("'linear'"), std::string::npos) << msg;
    EXPECT_NE(msg.find("BF16"), std::string::npos) << msg;
  }
}

// kernels_for picks the backend from the device and the CPU kernel mode, and the dispatch log
// records it: the reference mode really runs the ref:: set.
TEST(OpTable, DispatchFollowsTheCpuKernelMode) {
  EXPECT_EQ(backend_for(DeviceType::Cpu), Backend::CpuFast);
  EXPECT_EQ(&kernels_for<OpId::Conv2d>(Device{}), &kernels::cpu::conv2d_kernels);
  {
    CpuKernelModeGuard reference(CpuKernelMode::Reference);
    EXPECT_EQ(backend_for(DeviceType::Cpu), Backend::Reference);
    EXPECT_EQ(&kernels_for<OpId::Conv2d>(Device{}), &kernels::ref::conv2d_kernels);
  }
  EXPECT_EQ(backend_for(DeviceType::Cuda), Backend::Cuda);
  DispatchLog log;
  const Tensor x = Tensor::full({1, 2, 3, 3}, 0.5f), w = Tensor::full({2, 2, 3, 3}, 0.25f);
  ops::relu(ops::conv2d(x, w, Tensor(), {1, 1, 1}));
  EXPECT_TRUE(log.saw(OpId::Conv2d, Backend::CpuFast));
  EXPECT_TRUE(log.saw(OpId::Relu, Backend::CpuFast));
  EXPECT_FALSE(log.saw(OpId::Conv2d, Backend::Reference));
}

TEST(OpTable, FormatListsEveryOpAndItsKernels) {
  const std::string text = format_op_table();
  for (const OpRow& r : op_table()) EXPECT_NE(text.find(r.name), std::string::npos) << r.name;
  EXPECT_NE(text.find("cpu::conv2d_forward"), std::string::npos);
  EXPECT_NE(text.find("ref::relu_backward_guided"), std::string::npos);
  EXPECT_NE(text.find("kernels/conv2d.h"), std::string::npos);
}

}  // namespace
}  // namespace gb
