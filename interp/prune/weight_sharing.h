// Weight sharing (Han et al., Deep Compression): the weights of each conv and linear layer are
// clustered with 1-D k-means into at most K centroids and every weight is replaced by its
// centroid, so a layer stores K floats plus ceil(log2 K) bits per weight. Assignments stay fixed
// during fine-tuning; retie() after each optimizer step sets every weight of a cluster to the
// cluster's mean (its centroid moved by the mean update). Biases and BN are left alone.
// Shape letters: K output channels, C input channels, R/S kernel size (the weights are treated
// as a flat list of values).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "runtime/module.h"

namespace gb::prune {

struct KMeansOptions {
  int64_t k = 16;           // clusters per layer (>= 1, at most 65536)
  int64_t iterations = 50;  // Lloyd iterations at most (stops when nothing moves)
  bool kmeans_pp = false;   // k-means++ seeding (Philox(seed, layer)); else linear: k values
                            // evenly spaced over [min, max], Deep Compression's best
  uint64_t seed = 0;
};

struct Codebook {
  std::vector<float> centroids;      // ascending; at most k
  std::vector<uint32_t> assignment;  // cluster of each value
};

// 1-D k-means of `values`. ensures: centroids.size() <= min(k, distinct values), every
// centroid the mean of its members, assignment[i] the nearest centroid to values[i].
// requires: values non-empty and finite. throws: std::invalid_argument otherwise.
Codebook kmeans_1d(const std::vector<float>& values, const KMeansOptions& opt, uint64_t stream = 0);

struct SharedLayer {
  std::string param;  // "layer1.0.conv1.weight"
  Tensor weight;      // the model's parameter (tied to this model)
  Codebook book;
  double rel_error = 0;  // ||w - shared|| / ||w||
};

struct SharingResult {
  std::vector<SharedLayer> layers;
  int64_t bits_dense = 0;   // 32 bits per shared weight
  int64_t bits_shared = 0;  // ceil(log2 K) bits per weight + 32 per centroid
};

// Clusters every conv and linear weight of `model` and writes the shared values in place.
SharingResult share_weights(Module& model, const KMeansOptions& opt);

// Sets every weight of a cluster to the mean of the cluster's current values (assignments
// fixed) and updates the centroids; call after each optimizer step of fine-tuning.
void retie(SharingResult& r);

// Distinct values of a tensor (for reports and tests).
int64_t distinct_values(const Tensor& t);

}  // namespace gb::prune
