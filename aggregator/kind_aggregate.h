// The aggregator half of a middlepipe kind (DESIGN.md §6): one object per (middlepipe,
// app, service) that turns all instances' reports into decisions for each instance.
//
// The core (aggregation.h) owns the plumbing: it checks and deduplicates reports, keeps
// the combined statistics, calls the kind under one lock (so kinds need none), assigns
// sequence numbers to decisions whose content changed, pushes them at once, and re-sends
// every decision as a lease. A kind only decides.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "proto/aggregator.pb.h"
#include "proto/middlepipe.pb.h"

namespace middlepipe::aggregator {

// What a kind sees of its app's instances when it decides.
struct ClusterView {
  // Now, Unix time in milliseconds (the aggregator's clock).
  int64_t now_ms = 0;
  // Instances of the app with an open report stream, ascending.
  std::vector<uint32_t> instances;
  // Requests per second an instance put through this filter over the last second.
  std::function<double(uint32_t instance)> demand = [](uint32_t) { return 0.0; };
};

class KindAggregate {
 public:
  virtual ~KindAggregate() = default;

  // An accepted report of one instance (already counted in the core's statistics).
  virtual void OnReport(uint32_t instance, const v1::Report& report, const ClusterView& cluster) {}
  // Called about every 100 ms and after instances come or go: time-driven transitions,
  // rebalancing.
  virtual void OnTick(const ClusterView& cluster) {}
  // The decision `instance` should hold now: only the body (breaker or rate_budget);
  // the core fills in routing, sequence and lease. nullopt: none (the filter decides
  // alone).
  virtual std::optional<v1::Decision> DecisionFor(uint32_t instance) const { return std::nullopt; }
  // The kind's part of the live state: the state word, its reason, kind figures.
  virtual void Describe(v1::MiddlepipeState& state) const {}
  // What a new instance's filter should import (RequestFilter::ImportState); nullopt: none.
  virtual std::optional<std::string> ExportState(int64_t now_ms) const { return std::nullopt; }
  // The rolling window the core's statistics of this middlepipe use, when the kind's
  // config sets one (the breaker's window_ms, read by the kind's own parser); nullopt:
  // the aggregator's default.
  virtual std::optional<int64_t> WindowMs() const { return std::nullopt; }

  // Grows whenever what DecisionFor returns may have changed, so the core recomputes
  // a thousand instances' decisions only when there is something new to tell.
  uint64_t version() const { return version_; }

 protected:
  void DecisionsChanged() { ++version_; }

 private:
  uint64_t version_ = 0;
};

// Builds the aggregate of one key from the middlepipe's config (defaults filled in).
using KindAggregateFactory =
    std::function<absl::StatusOr<std::unique_ptr<KindAggregate>>(const std::string& config_json)>;

// Kinds that decide something, by kind name; any other kind is aggregated for its
// statistics only.
using KindAggregateRegistry = std::map<std::string, KindAggregateFactory>;

}  // namespace middlepipe::aggregator
