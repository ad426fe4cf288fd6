// The circuit-breaker filter (request level).
//
//   closed     calls go through and are counted over a rolling window (10 slices of
//              window_ms); a call fails if the service answered 5xx, the transport
//              failed, or it took longer than latency_threshold_ms. Once the window holds
//              min_requests calls and failures reach error_threshold_percent, it opens.
//   open       calls are answered by the filter (the fallback response, or a 503 that the
//              client hook turns into CircuitOpenError) until open_ms passed, then
//   half-open  lets half_open_requests trial calls through: any trial failing re-opens,
//              all succeeding closes (with a fresh window).
//
// Transitions put `Middlepipe-Callback: circuit-breaker; name="…"; event=open|half-open|closed`
// on the call that caused them; short-circuited calls carry the open callback and
// `Middlepipe-Short-Circuit: <name>`.
//
// With scope "cluster", the aggregator's decisions rule while their lease holds: the
// cluster opens the breaker, half-opens it with this instance's share of the trial
// permits, and closes it (the next call carries the closed callback); the filter only
// counts, except that a failed trial re-opens at once. When no decision has arrived or
// the lease lapsed (aggregator gone), the breaker decides alone from its own calls, and
// its reports say so (local_fallback). Reports carry "trial", "trial_success",
// "trial_failure" and, while not closed, "intervals_open"/"intervals_half_open".
#pragma once

#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "scheduler/filters/circuit-breaker/config.h"
#include "scheduler/request_filter.h"

namespace middlepipe::scheduler::circuit_breaker {

// The breaker's state, shared by the filters of consecutive epochs. Thread-safe.
class BreakerState;

class BreakerFilter final : public RequestFilter {
 public:
  static absl::StatusOr<std::unique_ptr<RequestFilter>> Create(const FilterSpecContext& context);

  BreakerFilter(std::string name, BreakerConfig config, Clock clock);
  ~BreakerFilter() override;

  FilterStatus OnRequest(RequestCall& call, uint32_t& note) override;
  void OnResponse(RequestCall& call, uint32_t note) override;
  void OnDecision(const v1::Decision& decision) override;
  bool MayMarkResponse(uint32_t note) const override;
  // Open: the short-circuit answer, until the open interval or the cluster's lease ends.
  // Half-open with every trial permit taken: the same answer. Closed under a live cluster
  // lease: pass. Otherwise (trials, whose outcome's callback goes on their own response;
  // a closed breaker deciding alone, whose next response may trip it) the agent must see
  // calls.
  FastPathPlan CompileFastPath(FastPathContext& context) override;
  uint32_t OnFastPathRequest(const FastPathCall& call) override;
  void AdoptState(RequestFilter& previous) override;
  std::string ExportState() const override;
  absl::Status ImportState(absl::string_view state) override;
  // The more cautious of the two wins: open (with the longer remaining time) over
  // half-open over closed.
  absl::Status MergeState(absl::string_view state) override;
  void TakeReport(v1::Report& report) override;

  // "closed", "open" or "half-open", for tests and status pages.
  std::string StateName() const;

 private:
  void ShortCircuit(RequestCall& call, const std::string& reason) const;

  const std::string name_;
  const BreakerConfig config_;
  const Clock clock_;
  std::shared_ptr<BreakerState> state_;
};

}  // namespace middlepipe::scheduler::circuit_breaker
