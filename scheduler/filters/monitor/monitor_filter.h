// The monitor filter (request level): counts every completed call by status class
// (transport failure, 1xx…5xx) and its latency in the configured histogram buckets, and
// hands the deltas to the agent's reports. Never changes a call.
#pragma once

#include <memory>
#include <mutex>
#include <vector>

#include "scheduler/request_filter.h"

namespace middlepipe::scheduler::monitor {

class MonitorCounts;

class MonitorFilter final : public RequestFilter {
 public:
  static absl::StatusOr<std::unique_ptr<RequestFilter>> Create(const FilterSpecContext& context);

  explicit MonitorFilter(std::vector<double> bounds_ms);
  ~MonitorFilter() override;

  FilterStatus OnRequest(RequestCall& call, uint32_t& note) override;
  void OnResponse(RequestCall& call, uint32_t note) override;
  bool MayMarkResponse(uint32_t note) const override { return false; }  // it only counts
  FastPathPlan CompileFastPath(FastPathContext& context) override { return FastPathPlan::Pass(); }
  uint32_t OnFastPathRequest(const FastPathCall& call) override;
  void AdoptState(RequestFilter& previous) override;
  // The counts not reported yet (a serialized RequestStats). A clone starts at zero
  // (Import does nothing: counts belong to the instance that saw the calls); Merge adds
  // a departing instance's unreported counts to this one's, to be reported with them.
  std::string ExportState() const override;
  absl::Status ImportState(absl::string_view state) override;
  absl::Status MergeState(absl::string_view state) override;
  void TakeReport(v1::Report& report) override;

 private:
  const std::vector<double> bounds_ms_;
  std::shared_ptr<MonitorCounts> counts_;
};

}  // namespace middlepipe::scheduler::monitor
