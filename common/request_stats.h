// Arithmetic on RequestStats and PacketStats (proto/middlepipe.proto): adding deltas, checking that a
// report's figures are in range, and reading percentiles off a histogram.
#pragma once

#include <string>

#include "absl/status/status.h"
#include "proto/middlepipe.pb.h"

namespace middlepipe {

// Bounds a report must stay within (a flood or a broken agent, not a real interval).
inline constexpr uint64_t kMaxRequestsPerReport = 100'000'000;
inline constexpr int kMaxHistogramBuckets = 64;
inline constexpr int kMaxCounters = 64;
inline constexpr size_t kMaxCounterNameLength = 128;

// OK, or INVALID_ARGUMENT naming the field that is out of range.
absl::Status CheckRequestStats(const v1::RequestStats& stats);

// into += delta. Histograms add bucket-wise when their bounds agree; a delta with other
// bounds (the monitor's buckets changed) replaces the histogram.
void AddRequestStats(v1::RequestStats& into, const v1::RequestStats& delta);

// into += delta, field by field.
void AddPacketStats(v1::PacketStats& into, const v1::PacketStats& delta);

// Completed calls (the sum of the status classes).
uint64_t CompletedCalls(const v1::RequestStats& stats);

// The q-quantile (0 < q < 1) in milliseconds, interpolated linearly inside the bucket it
// falls in (as Prometheus' histogram_quantile does); 0 for an empty histogram. Calls in
// the +Inf bucket report the last bound.
double HistogramQuantile(const v1::Histogram& histogram, double q);

}  // namespace middlepipe
