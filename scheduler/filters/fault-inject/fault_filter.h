// The fault-inject filter (request level): aborts abort_percent of requests with a
// response of abort_status (the service is not called; `Middlepipe-Callback:
// fault-inject; name="…"; event=abort`), and delays delay_percent of the others by
// delay_ms before they are sent (event=delay). The delay counts in the call's latency,
// as a slow service would, so a circuit breaker in the same chain sees it (rehearse a
// slow dependency and watch the breaker open). Injected faults are counted in reports.
#pragma once

#include <functional>
#include <memory>
#include <mutex>
#include <random>
#include <string>

#include "scheduler/filters/fault-inject/config.h"
#include "scheduler/pending_stats.h"
#include "scheduler/request_filter.h"

namespace middlepipe::scheduler::fault_inject {

class FaultFilter final : public RequestFilter {
 public:
  static absl::StatusOr<std::unique_ptr<RequestFilter>> Create(const FilterSpecContext& context);

  // `seed` makes the random choices repeatable (tests).
  FaultFilter(std::string name, FaultConfig config, uint64_t seed);

  FilterStatus OnRequest(RequestCall& call, uint32_t& note) override;
  bool MayMarkResponse(uint32_t note) const override { return false; }
  // Always decidable in-process: the client core rolls the same percentages.
  FastPathPlan CompileFastPath(FastPathContext& context) override;
  uint32_t OnFastPathRequest(const FastPathCall& call) override;
  void AdoptState(RequestFilter& previous) override;
  void TakeReport(v1::Report& report) override;

 private:
  // The client core's choice for a call it delayed.
  static constexpr uint8_t kDelayedChoice = 1;

  // A uniform number in [0, 100).
  double Roll();
  void Count(bool abort, bool delay);
  // Answers `call` with the abort response and its markers.
  void Abort(RequestCall& call) const;
  v1::Header DelayMarker() const;

  const std::string name_;
  const FaultConfig config_;
  std::mutex mu_;
  std::mt19937_64 random_;  // mu_
  std::shared_ptr<PendingStats> pending_ = std::make_shared<PendingStats>();
};

}  // namespace middlepipe::scheduler::fault_inject
