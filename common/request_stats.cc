#include "common/request_stats.h"

#include <cmath>

#include "absl/strings/str_cat.h"

namespace middlepipe {

absl::Status CheckRequestStats(const v1::RequestStats& stats) {
  if (stats.requests() > kMaxRequestsPerReport) {
    return absl::InvalidArgumentError(absl::StrCat("requests ", stats.requests(), " > ",
                                                   kMaxRequestsPerReport, " in one report"));
  }
  if (stats.status_classes_size() != 0 && stats.status_classes_size() != 6) {
    return absl::InvalidArgumentError(
        absl::StrCat("status_classes has ", stats.status_classes_size(), " entries, not 6"));
  }
  uint64_t completed = 0;
  for (uint64_t count : stats.status_classes()) {
    if (count > kMaxRequestsPerReport) return absl::InvalidArgumentError("status class count out of range");
    completed += count;
  }
  if (stats.failures() > completed || stats.slow() > completed) {
    return absl::InvalidArgumentError("failures or slow exceed the completed calls");
  }
  const v1::Histogram& latency = stats.latency();
  if (latency.counts_size() != 0 || latency.bounds_ms_size() != 0) {
    if (latency.bounds_ms_size() > kMaxHistogramBuckets ||
        latency.counts_size() != latency.bounds_ms_size() + 1) {
      return absl::InvalidArgumentError(absl::StrCat("latency histogram has ",
                                                     latency.bounds_ms_size(), " bounds and ",
                                                     latency.counts_size(), " counts"));
    }
    for (int i = 0; i < latency.bounds_ms_size(); ++i) {
      const double bound = latency.bounds_ms(i);
      if (!std::isfinite(bound) || (i > 0 && bound <= latency.bounds_ms(i - 1))) {
        return absl::InvalidArgumentError("latency histogram bounds are not finite and ascending");
      }
    }
    if (!std::isfinite(latency.sum_ms()) || latency.sum_ms() < 0) {
      return absl::InvalidArgumentError("latency sum is not a finite non-negative number");
    }
  }
  if (stats.counters_size() > kMaxCounters) {
    return absl::InvalidArgumentError(
        absl::StrCat(stats.counters_size(), " counters > ", kMaxCounters));
  }
  for (const auto& [name, value] : stats.counters()) {
    if (name.empty() || name.size() > kMaxCounterNameLength) {
      return absl::InvalidArgumentError("a counter name is empty or too long");
    }
    if (value > kMaxRequestsPerReport) {
      return absl::InvalidArgumentError(absl::StrCat("counter ", name, " out of range"));
    }
  }
  return absl::OkStatus();
}

void AddRequestStats(v1::RequestStats& into, const v1::RequestStats& delta) {
  into.set_requests(into.requests() + delta.requests());
  if (delta.status_classes_size() == 6) {
    if (into.status_classes_size() != 6) into.mutable_status_classes()->Resize(6, 0);
    for (int i = 0; i < 6; ++i) {
      into.set_status_classes(i, into.status_classes(i) + delta.status_classes(i));
    }
  }
  into.set_failures(into.failures() + delta.failures());
  into.set_slow(into.slow() + delta.slow());
  into.set_short_circuited(into.short_circuited() + delta.short_circuited());
  const v1::Histogram& from = delta.latency();
  if (from.counts_size() > 0) {
    v1::Histogram* to = into.mutable_latency();
    const bool same_bounds = to->bounds_ms_size() == from.bounds_ms_size() &&
                             std::equal(to->bounds_ms().begin(), to->bounds_ms().end(),
                                        from.bounds_ms().begin());
    if (!same_bounds || to->counts_size() != from.counts_size()) {
      *to = from;
    } else {
      for (int i = 0; i < from.counts_size(); ++i) to->set_counts(i, to->counts(i) + from.counts(i));
      to->set_sum_ms(to->sum_ms() + from.sum_ms());
    }
  }
  for (const auto& [name, value] : delta.counters()) (*into.mutable_counters())[name] += value;
}

void AddPacketStats(v1::PacketStats& into, const v1::PacketStats& delta) {
  into.set_packets_out(into.packets_out() + delta.packets_out());
  into.set_packets_in(into.packets_in() + delta.packets_in());
  into.set_bytes_out(into.bytes_out() + delta.bytes_out());
  into.set_bytes_in(into.bytes_in() + delta.bytes_in());
  into.set_retransmissions(into.retransmissions() + delta.retransmissions());
  into.set_inconsistent_retransmissions(into.inconsistent_retransmissions() +
                                        delta.inconsistent_retransmissions());
  into.set_connections_started(into.connections_started() + delta.connections_started());
  into.set_dropped(into.dropped() + delta.dropped());
  for (const auto& [name, value] : delta.counters()) (*into.mutable_counters())[name] += value;
}

uint64_t CompletedCalls(const v1::RequestStats& stats) {
  uint64_t completed = 0;
  for (uint64_t count : stats.status_classes()) completed += count;
  return completed;
}

double HistogramQuantile(const v1::Histogram& histogram, double q) {
  uint64_t total = 0;
  for (uint64_t count : histogram.counts()) total += count;
  if (total == 0 || histogram.bounds_ms_size() == 0) return 0;
  const double rank = q * static_cast<double>(total);
  double below = 0;
  for (int i = 0; i < histogram.counts_size(); ++i) {
    const double count = static_cast<double>(histogram.counts(i));
    if (below + count >= rank && count > 0) {
      if (i == histogram.bounds_ms_size()) return histogram.bounds_ms(i - 1);  // +Inf bucket
      const double lower = i == 0 ? 0 : histogram.bounds_ms(i - 1);
      const double upper = histogram.bounds_ms(i);
      return lower + (upper - lower) * (rank - below) / count;
    }
    below += count;
  }
  return histogram.bounds_ms(histogram.bounds_ms_size() - 1);
}

}  // namespace middlepipe
