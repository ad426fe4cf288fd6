// The circuit breaker's aggregator half: one breaker for the whole app.
//
// It sums every instance's calls and failures over the breaker's window and opens when
// the cluster crosses the threshold, even if no single instance did; after open_ms it
// half-opens and hands out exactly half_open_requests trial permits across the cluster
// (busiest instances first; the permits of an instance that leaves go to another); any
// failed trial re-opens, all succeeding close with a fresh window. With scope "instance"
// it decides nothing and only reports.
//
// After an aggregator restart it knows nothing; the first reports rebuild the state, and
// an instance that reports being open makes the cluster open (adopted) instead of being
// closed by a decision made without its history.
#pragma once

#include <map>
#include <memory>
#include <string>

#include "aggregator/kind_aggregate.h"
#include "aggregator/request_window.h"
#include "scheduler/filters/circuit-breaker/config.h"

namespace middlepipe::aggregator::circuit_breaker {

class BreakerAggregate final : public KindAggregate {
 public:
  static absl::StatusOr<std::unique_ptr<KindAggregate>> Create(const std::string& config_json);

  explicit BreakerAggregate(scheduler::circuit_breaker::BreakerConfig config);

  void OnReport(uint32_t instance, const v1::Report& report, const ClusterView& cluster) override;
  void OnTick(const ClusterView& cluster) override;
  std::optional<v1::Decision> DecisionFor(uint32_t instance) const override;
  void Describe(v1::MiddlepipeState& state) const override;
  std::optional<std::string> ExportState(int64_t now_ms) const override;
  std::optional<int64_t> WindowMs() const override { return config_.window_ms; }

 private:
  void Open(int64_t now_ms, std::string reason);
  void HalfOpen(const ClusterView& cluster);
  void Close();
  // Hands the unallocated trial permits to connected instances, busiest first.
  void AllocatePermits(const ClusterView& cluster);

  const scheduler::circuit_breaker::BreakerConfig config_;
  v1::BreakerState state_ = v1::BREAKER_STATE_CLOSED;
  bool decided_ = false;  // false until the first report after (re)start
  int64_t open_until_ms_ = 0;
  std::string reason_;
  RequestWindow window_;  // the cluster's calls since the breaker last closed
  int64_t window_now_ms_ = 0;
  // Half-open round.
  uint32_t trial_successes_ = 0;
  uint32_t unallocated_permits_ = 0;
  std::map<uint32_t, uint32_t> permits_;      // granted per instance
  std::map<uint32_t, uint32_t> trials_used_;  // reported used per instance
};

}  // namespace middlepipe::aggregator::circuit_breaker
