// Tests of data parallelism without MPI: a process group whose ranks are threads of this test
// (ThreadGroup, the same collectives and rank-order sums as the MPI group) runs the synced batch
// norm, the gradient sums and the sharded evaluation, which are compared with one process on the
// whole batch; the loader's shards; shard_range. The MPI group itself, and training under
// mpirun against one process, are tests/test_mpi.cpp's. Shape letters: N batch, C channels,
// H/W size, K classes.
#include <gtest/gtest.h>

#include <barrier>
#include <cmath>
#include <cstring>
#include <functional>
#include <thread>
#include <vector>

#include "data/error.h"
#include "data/loader.h"
#include "models/registry.h"
#include "models/training/data_parallel.h"
#include "models/training/evaluate.h"
#include "runtime/autograd.h"
#include "runtime/ops.h"
#include "runtime/optim.h"
#include "runtime/process_group.h"
#include "runtime/rng.h"
#include "tests/gradcheck.h"

namespace gb {
namespace {

// What the ranks of a ThreadGroup share: one slot per rank and a barrier.
struct ThreadWorld {
  explicit ThreadWorld(int n) : ranks(n), barrier(n), slots(static_cast<size_t>(n)) {}
  int ranks;
  std::barrier<> barrier;
  std::vector<std::string> slots;
};

// Rank `rank` of a group of threads: every collective exchanges each rank's bytes through the
// shared slots, then combines them in rank order as the MPI group does.
class ThreadGroup final : public ProcessGroup {
 public:
  ThreadGroup(ThreadWorld& world, int rank) : world_(world), rank_(rank) {}
  int rank() const override { return rank_; }
  int size() const override { return world_.ranks; }
  void all_gather(std::span<const std::byte> in, std::span<std::byte> out) override {
    const std::vector<std::string> all =
        exchange(std::string(reinterpret_cast<const char*>(in.data()), in.size()));
    for (size_t r = 0; r < all.size(); ++r) {
      std::memcpy(out.data() + r * in.size(), all[r].data(), in.size());
    }
  }
  std::vector<std::string> all_gather_strings(const std::string& mine) override {
    return exchange(mine);
  }
  void all_reduce_sum(std::span<float> v) override { sum(v); }
  void all_reduce_sum(std::span<double> v) override { sum(v); }
  void broadcast(std::string& bytes) override { bytes = exchange(bytes)[0]; }
  [[noreturn]] void abort(int) override { std::abort(); }
  std::string describe() const override { return "thread rank " + std::to_string(rank_); }

 private:
  std::vector<std::string> exchange(const std::string& mine) {
    world_.slots[static_cast<size_t>(rank_)] = mine;
    world_.barrier.arrive_and_wait();
    std::vector<std::string> all = world_.slots;
    world_.barrier.arrive_and_wait();  // nobody overwrites a slot before everyone has read it
    return all;
  }
  template <class T>
  void sum(std::span<T> v) {
    const std::vector<std::string> all =
        exchange(std::string(reinterpret_cast<const char*>(v.data()), v.size_bytes()));
    std::vector<T> total(v.size());
    std::memcpy(total.data(), all[0].data(), v.size_bytes());
    for (size_t r = 1; r < all.size(); ++r) {
      const T* part = reinterpret_cast<const T*>(all[r].data());
      for (size_t i = 0; i < v.size(); ++i) total[i] += part[i];
    }
    std::copy(total.begin(), total.end(), v.begin());
  }
  ThreadWorld& world_;
  int rank_;
};

// Runs fn(group) on `ranks` threads, one rank each.
void run_ranks(int ranks, const std::function<void(ProcessGroup&)>& fn) {
  ThreadWorld world(ranks);
  std::vector<std::thread> threads;
  for (int r = 0; r < ranks; ++r) {
    threads.emplace_back([&, r] {
      ThreadGroup group(world, r);
      fn(group);
    });
  }
  for (auto& t : threads) t.join();
}

Tensor randn(const Shape& shape, uint64_t seed, float stddev = 1.0f) {
  Generator gen(seed, 0);
  return Tensor::randn(shape, gen, stddev);
}

// Rows [begin, end) of x along dimension 0, as a new tensor.
Tensor rows(const Tensor& x, int64_t begin, int64_t end) {
  const int64_t per_row = x.numel() / x.size(0);
  const std::vector<float> all = x.to_vector();
  Shape shape = x.shape();
  shape[0] = end - begin;
  return Tensor::from_vector(
      shape, std::vector<float>(all.begin() + begin * per_row, all.begin() + end * per_row));
}

void expect_close(const std::vector<float>& got, const std::vector<float>& want, double tol,
                  const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  for (size_t i = 0; i < got.size(); ++i) {
    ASSERT_NEAR(got[i], want[i], tol * (1.0 + std::fabs(want[i]))) << what << " at " << i;
  }
}

// The forward, running statistics and gradients of one training batch norm.
struct NormRun {
  std::vector<float> y, running_mean, running_var, dx, dgamma, dbeta;
};

// Batch norm of x (batch_norm, or batch_norm_synced over `group` with weight w when given), its
// backward seeded with `seed` / w (this rank's part of the global loss sum(y * seed)).
NormRun run_norm(const Tensor& x_in, const Tensor& seed, ProcessGroup* group, float w) {
  const int64_t C = x_in.size(1);
  Tensor x = x_in.clone().set_requires_grad(true);
  Tensor gamma = Tensor::from_vector({C}, {1.5f, -0.5f, 0.75f}).set_requires_grad(true);
  Tensor beta = Tensor::from_vector({C}, {0.25f, 2.0f, -1.0f}).set_requires_grad(true);
  Tensor rm = Tensor::from_vector({C}, {0.5f, -0.2f, 0.1f});
  Tensor rv = Tensor::from_vector({C}, {2.0f, 0.7f, 1.2f});
  const Tensor y = group ? ops::batch_norm_synced(x, gamma, beta, rm, rv, 0.3f, 1e-5f, *group, w)
                         : ops::batch_norm(x, gamma, beta, rm, rv, true, 0.3f, 1e-5f);
  const Tensor scaled = ops::scale(seed, 1.0f / w);
  const std::vector<Tensor> g = grad(y, {x, gamma, beta}, scaled);
  return {y.to_vector(),    rm.to_vector(),   rv.to_vector(),
          g[0].to_vector(), g[1].to_vector(), g[2].to_vector()};
}

TEST(SyncedBatchNorm, OneRankEqualsBatchNorm) {
  const Tensor x = randn({4, 3, 3, 2}, 1, 2.0f), seed = randn({4, 3, 3, 2}, 2);
  LocalProcessGroup one;
  const NormRun want = run_norm(x, seed, nullptr, 1.0f);
  const NormRun got = run_norm(x, seed, &one, 1.0f);
  expect_close(got.y, want.y, 1e-5, "y");
  expect_close(got.running_mean, want.running_mean, 1e-6, "running_mean");
  expect_close(got.running_var, want.running_var, 1e-6, "running_var");
  expect_close(got.dx, want.dx, 1e-4, "dx");
  expect_close(got.dgamma, want.dgamma, 1e-4, "dgamma");
  expect_close(got.dbeta, want.dbeta, 1e-5, "dbeta");
}

// Two ranks with 4 and 2 of 6 images (weights 4/6 and 2/6): every rank's rows of y and of
// w * dx, and the weighted sums of the parameter gradients, are those of one process on the
// whole batch; both ranks hold the same running statistics.
TEST(SyncedBatchNorm, UnequalShardsEqualTheWholeBatch) {
  const Tensor x = randn({6, 3, 2, 3}, 3, 1.5f), seed = randn({6, 3, 2, 3}, 4);
  const NormRun whole = run_norm(x, seed, nullptr, 1.0f);
  const int64_t split = 4;
  std::vector<NormRun> part(2);
  run_ranks(2, [&](ProcessGroup& g) {
    const int64_t b = g.rank() == 0 ? 0 : split, e = g.rank() == 0 ? split : 6;
    const float w = static_cast<float>(e - b) / 6.0f;
    part[static_cast<size_t>(g.rank())] = run_norm(rows(x, b, e), rows(seed, b, e), &g, w);
  });
  const size_t at = whole.y.size() * split / 6;
  std::vector<float> y = part[0].y, dx;
  y.insert(y.end(), part[1].y.begin(), part[1].y.end());
  expect_close(y, whole.y, 1e-5, "y");
  for (size_t r = 0; r < 2; ++r) {
    const float w = r == 0 ? 4.0f / 6.0f : 2.0f / 6.0f;
    for (float v : part[r].dx) dx.push_back(v * w);
    expect_close(part[r].running_mean, whole.running_mean, 1e-6, "running_mean");
    expect_close(part[r].running_var, whole.running_var, 1e-5, "running_var");
  }
  ASSERT_EQ(dx.size(), whole.dx.size());
  expect_close(std::vector<float>(dx.begin(), dx.begin() + static_cast<ptrdiff_t>(at)),
               std::vector<float>(whole.dx.begin(), whole.dx.begin() + static_cast<ptrdiff_t>(at)),
               1e-4, "dx of rank 0");
  expect_close(dx, whole.dx, 1e-4, "dx");
  for (size_t c = 0; c < 3; ++c) {
    EXPECT_NEAR(4.0 / 6 * part[0].dgamma[c] + 2.0 / 6 * part[1].dgamma[c], whole.dgamma[c], 1e-4);
    EXPECT_NEAR(4.0 / 6 * part[0].dbeta[c] + 2.0 / 6 * part[1].dbeta[c], whole.dbeta[c], 1e-4);
  }
}

TEST(SyncedBatchNorm, GradientCheckOnOneRank) {
  LocalProcessGroup one;
  const test::TensorFn f = [&](const std::vector<Tensor>& in) {
    return ops::batch_norm_synced(in[0], in[1], in[2], Tensor(), Tensor(), 0.1f, 1e-5f, one, 1.0f);
  };
  EXPECT_TRUE(test::gradcheck(f, {randn({3, 2, 2, 2}, 5), Tensor::from_vector({2}, {1.2f, -0.7f}),
                                  Tensor::from_vector({2}, {0.3f, 0.1f})}));
}

TEST(DataParallel, GradientSumsAreWeightedAndInRankOrder) {
  const std::vector<std::vector<float>> grads = {
      {1.0f, 2.0f, 3.0f}, {0.5f, -4.0f, 1e-8f}, {3.0f, 0.25f, -1.0f}};
  const std::vector<float> weights = {0.5f, 0.25f, 0.25f};
  std::vector<std::vector<float>> result(3);
  run_ranks(3, [&](ProcessGroup& g) {
    const size_t r = static_cast<size_t>(g.rank());
    Tensor p = Tensor::zeros({3});
    p.set_grad(Tensor::from_vector({3}, grads[r]));
    training::sum_gradients(g, {{"p", p}}, weights[r]);
    result[r] = p.grad().to_vector();
  });
  for (size_t i = 0; i < 3; ++i) {
    float want = weights[0] * grads[0][i];
    want += weights[1] * grads[1][i];
    want += weights[2] * grads[2][i];
    for (size_t r = 0; r < 3; ++r) EXPECT_EQ(result[r][i], want);  // bit-identical everywhere
  }
}

// The parameter gradients of smallcnn's cross-entropy loss on images x [N,3,8,8] and labels:
// one process on the whole batch (group null), or rank g's rows [begin, end) with synced batch
// norm and the gradients summed over the ranks.
std::vector<std::vector<float>> model_gradients(const Tensor& x, const std::vector<int64_t>& labels,
                                                Module& model, ProcessGroup* group, int64_t begin,
                                                int64_t end) {
  model.train();
  const float w = static_cast<float>(end - begin) / static_cast<float>(x.size(0));
  const training::DataParallel parallel{group, true};
  Tensor loss;
  {
    const training::BatchNormSyncScope sync(parallel, w);
    const std::vector<int64_t> mine(labels.begin() + begin, labels.begin() + end);
    loss = ops::cross_entropy(model(rows(x, begin, end)), Tensor::from_labels(mine));
  }
  optim::NamedTensors params = model.named_parameters();
  for (auto& [name, p] : params) p.zero_grad();
  loss.backward();
  if (group) training::sum_gradients(*group, params, w);
  std::vector<std::vector<float>> grads;
  for (const auto& [name, p] : params) grads.push_back(p.grad().to_vector());
  return grads;
}

// A training step's gradients over 2 ranks with synced batch norm (5 + 4 images) are those of one
// process on the 9 images, to float rounding.
TEST(DataParallel, SyncedStepGradientsEqualOneProcess) {
  models::ModelConfig mc;
  mc.num_classes = 4;
  mc.image_size = 8;
  std::vector<std::shared_ptr<Module>> models;  // built here: the seed is process-wide
  for (int r = 0; r < 3; ++r) {
    manual_seed(2);
    models.push_back(models::build_model("smallcnn", mc));
  }
  const Tensor x = randn({9, 3, 8, 8}, 6);
  const std::vector<int64_t> labels = {0, 1, 2, 3, 0, 1, 2, 3, 1};
  const auto whole = model_gradients(x, labels, *models[2], nullptr, 0, 9);
  std::vector<std::vector<std::vector<float>>> ranks(2);
  run_ranks(2, [&](ProcessGroup& g) {
    const size_t r = static_cast<size_t>(g.rank());
    ranks[r] = model_gradients(x, labels, *models[r], &g, r == 0 ? 0 : 5, r == 0 ? 5 : 9);
  });
  ASSERT_EQ(ranks[0].size(), whole.size());
  for (size_t i = 0; i < whole.size(); ++i) {
    EXPECT_EQ(ranks[0][i], ranks[1][i]) << "parameter " << i << " differs between the ranks";
    double scale = 1e-6;
    for (float v : whole[i]) scale = std::max(scale, std::fabs(static_cast<double>(v)));
    for (size_t j = 0; j < whole[i].size(); ++j) {
      ASSERT_NEAR(ranks[0][i][j], whole[i][j], 1e-4 * scale) << "parameter " << i << " at " << j;
    }
  }
}

// n images of 1x2x2 whose pixels are their index, labels index % 3.
data::Dataset numbered_dataset(size_t n) {
  data::Dataset ds;
  ds.source = "numbered";
  ds.channels = 1;
  ds.height = ds.width = 2;
  ds.classes = {"a", "b", "c"};
  for (size_t i = 0; i < n; ++i) {
    ds.images.insert(ds.images.end(), 4, static_cast<uint8_t>(i));
    ds.labels.push_back(static_cast<int64_t>(i % 3));
  }
  return ds;
}

TEST(DataParallel, LoaderShardsConcatenateToTheUnshardedBatches) {
  const auto ds = std::make_shared<const data::Dataset>(numbered_dataset(24));
  data::LoaderConfig lc;
  lc.batch_size = 7;  // batches of 7, 7, 7, 3: shards of 3+2+2 and 1+1+1
  lc.seed = 3;
  lc.augment.flip = true;
  data::Loader whole(ds, lc);
  std::vector<std::unique_ptr<data::Loader>> shards;
  for (size_t s = 0; s < 3; ++s) {
    data::LoaderConfig c = lc;
    c.shard = s;
    c.shards = 3;
    shards.push_back(std::make_unique<data::Loader>(ds, c));
  }
  while (auto b = whole.next()) {
    std::vector<float> images;
    std::vector<int64_t> labels;
    for (auto& s : shards) {
      const auto part = s->next();
      ASSERT_TRUE(part);
      EXPECT_EQ(part->global_size, b->size());
      images.insert(images.end(), part->images.begin(), part->images.end());
      labels.insert(labels.end(), part->labels.begin(), part->labels.end());
    }
    EXPECT_EQ(images, b->images);
    EXPECT_EQ(labels, b->labels);
  }
  for (auto& s : shards) EXPECT_FALSE(s->next());
}

TEST(DataParallel, LoaderRefusesABatchTooSmallToSplit) {
  const auto ds = std::make_shared<const data::Dataset>(numbered_dataset(9));
  data::LoaderConfig lc;
  lc.batch_size = 4;  // the last batch has 1 image
  lc.shards = 2;
  try {
    data::Loader loader(ds, lc);
    FAIL() << "expected a DataError";
  } catch (const data::DataError& e) {
    EXPECT_NE(std::string(e.what()).find("cannot be split over 2 processes"), std::string::npos)
        << e.what();
  }
}

TEST(DataParallel, ShardRangesCoverInOrder) {
  EXPECT_EQ(shard_range(10, 0, 3).begin, 0);
  EXPECT_EQ(shard_range(10, 0, 3).end, 4);
  EXPECT_EQ(shard_range(10, 1, 3).end, 7);
  EXPECT_EQ(shard_range(10, 2, 3).end, 10);
  EXPECT_EQ(shard_range(2, 2, 3).size(), 0);
  EXPECT_THROW(shard_range(5, 3, 3), std::invalid_argument);
}

// The sharded evaluation gives every rank exactly the single-process result (same batches).
TEST(DataParallel, ShardedEvaluationEqualsOneProcess) {
  data::Dataset ds;
  ds.source = "random";
  ds.channels = 3;
  ds.height = ds.width = 8;
  ds.classes = {"a", "b", "c", "d"};
  Generator gen(9, 0);
  for (int i = 0; i < 37; ++i) {
    for (int p = 0; p < 3 * 64; ++p)
      ds.images.push_back(static_cast<uint8_t>(gen.uniform() * 255.0f));
    ds.labels.push_back(i % 4);
  }
  models::ModelConfig mc;
  mc.num_classes = 4;
  mc.image_size = 8;
  manual_seed(1);
  const auto model = models::build_model("smallcnn", mc);
  const training::EvalResult want = training::evaluate(*model, ds, data::Normalization{}, 5, true);
  std::vector<std::shared_ptr<Module>> copies;  // built here: the seed is process-wide
  for (int r = 0; r < 3; ++r) {
    manual_seed(1);
    copies.push_back(models::build_model("smallcnn", mc));
  }
  std::vector<training::EvalResult> got(3);
  run_ranks(3, [&](ProcessGroup& g) {
    const size_t r = static_cast<size_t>(g.rank());
    got[r] = training::evaluate(*copies[r], ds, data::Normalization{}, 5, true, "eval", false, &g);
  });
  for (const auto& r : got) {
    EXPECT_EQ(r.samples, want.samples);
    EXPECT_EQ(r.loss, want.loss);  // bit-identical: the same batches, summed in batch order
    EXPECT_EQ(r.accuracy, want.accuracy);
    EXPECT_EQ(r.confusion, want.confusion);
  }
}

}  // namespace
}  // namespace gb
