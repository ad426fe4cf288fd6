// The rate-limit filter (request level): a token bucket per instance (or per value of
// `key_header`), admitting requests_per_second with a burst.
//
// With scope "cluster" the bucket fills at this instance's share of the cluster's limit,
// as the aggregator hands it out (RateBudget decisions, rebalanced by demand); no request
// waits on anyone. Before the first share and when the aggregator's lease lapses, the
// bucket fills at limit / instances (the last known instance count; the whole limit if
// none is known yet), and reports say local_fallback. With scope "instance" each
// instance has the whole limit.
//
// Over the limit the request is answered by the filter: 429 with Retry-After (seconds
// until a token), `Middlepipe-Callback: rate-limit; name="…"; event=limited` and
// `Middlepipe-Short-Circuit`, marked for the hook to raise RateLimitedError. With
// `key_header`, each value has its own bucket at the same rate; the key table holds at
// most max_keys (least recently used evicted), requests without the header share one.
#pragma once

#include <atomic>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

#include "scheduler/filters/rate-limit/config.h"
#include "scheduler/request_filter.h"

namespace middlepipe::scheduler::rate_limit {

// A token bucket on a millisecond clock, kept as one GCRA word (fastpath/gcra.h) so it can
// move into the fast-path segment and be shared with the app's client core. Holds at least
// one token's room, so a limit with burst 0 still admits one request at a time. Starts full.
class TokenBucket {
 public:
  TokenBucket(double rate_per_second, double capacity, int64_t now_ms);
  // Takes a token: 0 when taken, else the microseconds until there is one.
  int64_t Take(int64_t now_ms);
  // Changes the rate and capacity from now on, keeping the tokens it has (up to the new
  // capacity).
  void Reconfigure(double rate_per_second, double capacity, int64_t now_ms);
  // Moves the bucket, tokens and all, into a word others share (the segment's cell);
  // from then on every take is from there. `cell` must outlive the bucket.
  void Share(std::atomic<int64_t>* cell);

  int64_t interval_us() const { return interval_us_; }
  int64_t tolerance_us() const { return tolerance_us_; }

 private:
  void Shape(double rate_per_second, double capacity);

  int64_t interval_us_ = 1;
  int64_t tolerance_us_ = 0;
  std::unique_ptr<std::atomic<int64_t>> own_;
  std::atomic<int64_t>* cell_;
};

class RateState;

class RateFilter final : public RequestFilter {
 public:
  static absl::StatusOr<std::unique_ptr<RequestFilter>> Create(const FilterSpecContext& context);

  RateFilter(std::string name, RateConfig config, Clock clock);
  ~RateFilter() override;

  FilterStatus OnRequest(RequestCall& call, uint32_t& note) override;
  bool MayMarkResponse(uint32_t note) const override { return false; }
  void OnDecision(const v1::Decision& decision) override;
  // Without key_header: a take from the bucket, which moves into the segment's cell.
  FastPathPlan CompileFastPath(FastPathContext& context) override;
  uint32_t OnFastPathRequest(const FastPathCall& call) override;
  void AdoptState(RequestFilter& previous) override;
  void TakeReport(v1::Report& report) override;

  // The rate the buckets fill at now (for tests and status).
  double CurrentRate() const;

 private:
  // The body of a refusal, on both paths.
  std::string LimitedBody(const std::string& detail) const;

  const std::string name_;
  const RateConfig config_;
  const Clock clock_;
  std::shared_ptr<RateState> state_;
};

}  // namespace middlepipe::scheduler::rate_limit
