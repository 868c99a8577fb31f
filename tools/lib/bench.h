// Transitional alias header, kept only because tests/test_profiler.cpp (owned by the op-table
// redesign) still includes this path. The per-layer table lives in models/training/throughput.h
// now; once that test includes it directly (training::ThroughputRow, training::LayerProfile,
// training::format_per_layer), delete this file and tools/lib/.
#pragma once
#include "models/training/throughput.h"

namespace gb::app {
using BenchRow = training::ThroughputRow;
using training::format_per_layer;
using training::LayerProfile;
}  // namespace gb::app
