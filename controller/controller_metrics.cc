#include "controller/controller_metrics.h"

#include "absl/strings/str_cat.h"

namespace middlepipe::controller {
namespace {

// Upper bounds in seconds: a rollout to local agents takes milliseconds; a timed-out one
// takes the rollout timeout (seconds).
constexpr double kRolloutBounds[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                     0.25,  0.5,    1,     2.5,  5,     10};
constexpr size_t kBucketCount = sizeof(kRolloutBounds) / sizeof(kRolloutBounds[0]);

}  // namespace

ControllerMetrics::ControllerMetrics(std::function<size_t()> connected_agents)
    : connected_agents_(std::move(connected_agents)), rollout_buckets_(kBucketCount + 1, 0) {}

void ControllerMetrics::RecordRequest(const std::string& method, const std::string& code) {
  std::lock_guard<std::mutex> lock(mu_);
  ++requests_[{method, code}];
}

void ControllerMetrics::RecordRollout(std::chrono::microseconds duration, size_t epochs_committed) {
  const double seconds = static_cast<double>(duration.count()) / 1e6;
  std::lock_guard<std::mutex> lock(mu_);
  epochs_committed_ += epochs_committed;
  size_t bucket = 0;
  while (bucket < kBucketCount && seconds > kRolloutBounds[bucket]) ++bucket;
  ++rollout_buckets_[bucket];
  rollout_seconds_sum_ += seconds;
  ++rollout_count_;
}

void ControllerMetrics::RecordFailedRollout() {
  std::lock_guard<std::mutex> lock(mu_);
  ++rollouts_failed_;
}

std::string ControllerMetrics::Render() const {
  const size_t agents = connected_agents_();
  std::lock_guard<std::mutex> lock(mu_);
  std::string text;
  absl::StrAppend(&text,
                  "# HELP mp_controller_requests_total Northbound API calls, by method and status code.\n"
                  "# TYPE mp_controller_requests_total counter\n");
  for (const auto& [key, count] : requests_) {
    absl::StrAppend(&text, "mp_controller_requests_total{method=\"", key.first, "\",code=\"",
                    key.second, "\"} ", count, "\n");
  }
  absl::StrAppend(&text,
                  "# HELP mp_controller_epochs_committed_total App epochs committed.\n"
                  "# TYPE mp_controller_epochs_committed_total counter\n"
                  "mp_controller_epochs_committed_total ", epochs_committed_, "\n",
                  "# HELP mp_controller_rollouts_failed_total Changes refused by an instance.\n"
                  "# TYPE mp_controller_rollouts_failed_total counter\n"
                  "mp_controller_rollouts_failed_total ", rollouts_failed_, "\n",
                  "# HELP mp_controller_connected_agents Agents connected now.\n"
                  "# TYPE mp_controller_connected_agents gauge\n"
                  "mp_controller_connected_agents ", agents, "\n",
                  "# HELP mp_controller_rollout_seconds From change received to committed on "
                  "every live instance.\n"
                  "# TYPE mp_controller_rollout_seconds histogram\n");
  uint64_t cumulative = 0;
  for (size_t i = 0; i < kBucketCount; ++i) {
    cumulative += rollout_buckets_[i];
    absl::StrAppend(&text, "mp_controller_rollout_seconds_bucket{le=\"", kRolloutBounds[i], "\"} ",
                    cumulative, "\n");
  }
  cumulative += rollout_buckets_[kBucketCount];
  absl::StrAppend(&text, "mp_controller_rollout_seconds_bucket{le=\"+Inf\"} ", cumulative, "\n",
                  "mp_controller_rollout_seconds_sum ", rollout_seconds_sum_, "\n",
                  "mp_controller_rollout_seconds_count ", rollout_count_, "\n");
  return text;
}

}  // namespace middlepipe::controller
