// 1-D k-means over sorted values (assignment is a sweep over the centroid midpoints), per-layer
// codebooks, re-tying after optimizer steps.
#include "interp/prune/weight_sharing.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <stdexcept>
#include <unordered_set>

#include "runtime/layers.h"
#include "runtime/rng.h"

namespace gb::prune {
namespace {

// Assigns sorted values to sorted centroids (nearest; a value on a midpoint goes to the lower).
void assign_sorted(const std::vector<float>& sorted, const std::vector<double>& c,
                   std::vector<uint32_t>& cluster) {
  size_t j = 0;
  for (size_t i = 0; i < sorted.size(); ++i) {
    while (j + 1 < c.size() && static_cast<double>(sorted[i]) > 0.5 * (c[j] + c[j + 1])) ++j;
    cluster[i] = static_cast<uint32_t>(j);
  }
}

}  // namespace

Codebook kmeans_1d(const std::vector<float>& values, const KMeansOptions& opt, uint64_t stream) {
  if (values.empty()) throw std::invalid_argument("kmeans_1d: no values");
  if (opt.k < 1 || opt.k > 65536) {
    throw std::invalid_argument("kmeans_1d: k must be in [1, 65536], got " + std::to_string(opt.k));
  }
  const size_t n = values.size();
  std::vector<uint32_t> order(n);
  std::iota(order.begin(), order.end(), 0u);
  for (float v : values) {
    if (!std::isfinite(v)) throw std::invalid_argument("kmeans_1d: non-finite value");
  }
  std::stable_sort(order.begin(), order.end(),
                   [&](uint32_t a, uint32_t b) { return values[a] < values[b]; });
  std::vector<float> sorted(n);
  for (size_t i = 0; i < n; ++i) sorted[i] = values[order[i]];

  std::vector<double> c;
  const double lo = sorted.front(), hi = sorted.back();
  const auto k = static_cast<size_t>(opt.k);
  if (!opt.kmeans_pp) {
    if (k == 1) {
      c.push_back(0.5 * (lo + hi));
    } else {
      for (size_t j = 0; j < k; ++j) {
        c.push_back(lo + (hi - lo) * static_cast<double>(j) / static_cast<double>(k - 1));
      }
    }
  } else {
    Philox rng(opt.seed, stream);
    uint64_t counter = 0;
    c.push_back(sorted[rng.below(counter++, n)]);
    std::vector<double> d2(n);
    for (size_t i = 0; i < n; ++i) d2[i] = std::pow(sorted[i] - c[0], 2);
    while (c.size() < k) {
      const double total = std::accumulate(d2.begin(), d2.end(), 0.0);
      if (total <= 0) break;  // fewer distinct values than k
      const double r = static_cast<double>(rng.uniform(counter++)) * total;
      double acc = 0;
      size_t pick = n - 1;
      for (size_t i = 0; i < n; ++i) {
        acc += d2[i];
        if (acc > r) {
          pick = i;
          break;
        }
      }
      c.push_back(sorted[pick]);
      for (size_t i = 0; i < n; ++i) d2[i] = std::min(d2[i], std::pow(sorted[i] - c.back(), 2));
    }
  }
  std::sort(c.begin(), c.end());
  c.erase(std::unique(c.begin(), c.end()), c.end());

  std::vector<uint32_t> cluster(n);
  for (int64_t it = 0; it < std::max<int64_t>(opt.iterations, 1); ++it) {
    assign_sorted(sorted, c, cluster);
    std::vector<double> sum(c.size(), 0.0);
    std::vector<int64_t> cnt(c.size(), 0);
    for (size_t i = 0; i < n; ++i) {
      sum[cluster[i]] += sorted[i];
      ++cnt[cluster[i]];
    }
    std::vector<double> next;
    for (size_t j = 0; j < c.size(); ++j) {
      if (cnt[j] > 0) next.push_back(sum[j] / static_cast<double>(cnt[j]));
    }
    const bool same = next == c;
    c = std::move(next);
    if (same) break;
  }
  // Final assignment and exact means (so each centroid is the mean of its members).
  assign_sorted(sorted, c, cluster);
  std::vector<double> sum(c.size(), 0.0);
  std::vector<int64_t> cnt(c.size(), 0);
  for (size_t i = 0; i < n; ++i) {
    sum[cluster[i]] += sorted[i];
    ++cnt[cluster[i]];
  }
  std::vector<uint32_t> remap(c.size(), 0);
  Codebook book;
  for (size_t j = 0; j < c.size(); ++j) {
    if (cnt[j] == 0) continue;
    remap[j] = static_cast<uint32_t>(book.centroids.size());
    book.centroids.push_back(static_cast<float>(sum[j] / static_cast<double>(cnt[j])));
  }
  book.assignment.resize(n);
  for (size_t i = 0; i < n; ++i) book.assignment[order[i]] = remap[cluster[i]];
  return book;
}

SharingResult share_weights(Module& model, const KMeansOptions& opt) {
  SharingResult r;
  uint64_t stream = 0;
  for (auto& [path, m] : model.named_modules()) {
    if (dynamic_cast<nn::Conv2d*>(m) == nullptr && dynamic_cast<nn::Linear*>(m) == nullptr)
      continue;
    Tensor w = m->local_tensor("weight");
    if (!w.defined()) continue;
    SharedLayer L;
    L.param = path.empty() ? "weight" : path + ".weight";
    L.weight = w;
    const std::vector<float> v = w.to_vector();
    L.book = kmeans_1d(v, opt, stream++);
    std::vector<float> shared(v.size());
    double err = 0, norm = 0;
    for (size_t i = 0; i < v.size(); ++i) {
      shared[i] = L.book.centroids[L.book.assignment[i]];
      err += std::pow(static_cast<double>(v[i]) - shared[i], 2);
      norm += std::pow(static_cast<double>(v[i]), 2);
    }
    L.rel_error = norm > 0 ? std::sqrt(err / norm) : 0.0;
    w.copy_(Tensor::from_vector(w.shape(), shared));
    const auto numel = static_cast<int64_t>(v.size());
    const auto kk = static_cast<int64_t>(L.book.centroids.size());
    int64_t bits = 0;
    while ((int64_t{1} << bits) < kk) ++bits;
    r.bits_dense += 32 * numel;
    r.bits_shared += bits * numel + 32 * kk;
    r.layers.push_back(std::move(L));
  }
  return r;
}

void retie(SharingResult& r) {
  for (auto& L : r.layers) {
    std::vector<float> v = L.weight.to_vector();
    std::vector<double> sum(L.book.centroids.size(), 0.0);
    std::vector<int64_t> cnt(L.book.centroids.size(), 0);
    for (size_t i = 0; i < v.size(); ++i) {
      sum[L.book.assignment[i]] += v[i];
      ++cnt[L.book.assignment[i]];
    }
    for (size_t j = 0; j < sum.size(); ++j) {
      if (cnt[j] > 0)
        L.book.centroids[j] = static_cast<float>(sum[j] / static_cast<double>(cnt[j]));
    }
    for (size_t i = 0; i < v.size(); ++i) v[i] = L.book.centroids[L.book.assignment[i]];
    L.weight.copy_(Tensor::from_vector(L.weight.shape(), v));
  }
}

int64_t distinct_values(const Tensor& t) {
  std::unordered_set<float> s;
  for (float v : t.to_vector()) s.insert(v);
  return static_cast<int64_t>(s.size());
}

}  // namespace gb::prune
