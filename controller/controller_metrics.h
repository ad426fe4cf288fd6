// The controller's own figures, rendered for Prometheus at /metrics:
//   mp_controller_requests_total{method,code}   northbound calls by outcome
//   mp_controller_epochs_committed_total         app epochs committed (rollouts + nothing else)
//   mp_controller_rollout_seconds                histogram: change received -> committed on
//                                                every instance (or timed out)
//   mp_controller_rollouts_failed_total          changes refused by an instance
//   mp_controller_connected_agents               gauge, from the registry at scrape time
// Thread-safe; written on the control path only, so a mutex is cheap enough.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace middlepipe::controller {

class ControllerMetrics {
 public:
  // `connected_agents` is read at every scrape.
  explicit ControllerMetrics(std::function<size_t()> connected_agents);

  void RecordRequest(const std::string& method, const std::string& code);
  void RecordRollout(std::chrono::microseconds duration, size_t epochs_committed);
  void RecordFailedRollout();

  // Prometheus text exposition format 0.0.4.
  std::string Render() const;

 private:
  const std::function<size_t()> connected_agents_;
  mutable std::mutex mu_;
  std::map<std::pair<std::string, std::string>, uint64_t> requests_;
  uint64_t epochs_committed_ = 0;
  uint64_t rollouts_failed_ = 0;
  std::vector<uint64_t> rollout_buckets_;  // one per bound, plus +Inf
  double rollout_seconds_sum_ = 0;
  uint64_t rollout_count_ = 0;
};

}  // namespace middlepipe::controller
