// Counter-based random numbers: Philox4x32-10 (Salmon et al., SC'11).
// A stream is (seed, stream id); value i of a stream depends only on (seed, stream, i), never on
// threading or device, so any parallel split of the work draws the same numbers.
// Philox::block(counter) returns four 32-bit words; the helpers below turn counters into floats.
#pragma once
#include <array>
#include <cstdint>

namespace gb {

class Philox {
 public:
  // requires: nothing; seed and stream select an independent sequence.
  explicit Philox(uint64_t seed = 0, uint64_t stream = 0) : seed_(seed), stream_(stream) {}

  // The four 32-bit words of block `counter` of this stream.
  std::array<uint32_t, 4> block(uint64_t counter) const;

  // Value `i` of the stream as a uniform float in [0, 1) (24 random bits).
  float uniform(uint64_t i) const;
  // Value `i` of the stream as a standard normal (Box-Muller on block i's words).
  float normal(uint64_t i) const;
  // Value `i` of the stream as a uniform integer in [0, n); requires n > 0.
  uint64_t below(uint64_t i, uint64_t n) const;

  uint64_t seed() const { return seed_; }
  uint64_t stream() const { return stream_; }

 private:
  uint64_t seed_;
  uint64_t stream_;
};

// A sequential generator over a Philox stream: draw() advances an internal counter.
// Used where a simple "next number" interface is wanted (initialisation, shuffling).
class Generator {
 public:
  explicit Generator(uint64_t seed = 0, uint64_t stream = 0) : philox_(seed, stream) {}
  float uniform() { return philox_.uniform(counter_++); }
  float normal() { return philox_.normal(counter_++); }
  uint64_t below(uint64_t n) { return philox_.below(counter_++, n); }
  uint64_t counter() const { return counter_; }
  void set_counter(uint64_t c) { counter_ = c; }
  const Philox& philox() const { return philox_; }

 private:
  Philox philox_;
  uint64_t counter_ = 0;
};

}  // namespace gb
