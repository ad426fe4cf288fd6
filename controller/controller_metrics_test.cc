#include "controller/controller_metrics.h"

#include "gtest/gtest.h"

namespace middlepipe::controller {
namespace {

bool Has(const std::string& text, const std::string& line) {
  return text.find(line + "\n") != std::string::npos;
}

TEST(ControllerMetricsTest, RendersCountersGaugeAndCumulativeHistogram) {
  size_t agents = 7;
  ControllerMetrics metrics([&agents] { return agents; });
  metrics.RecordRequest("BindMiddlepipe", "OK");
  metrics.RecordRequest("BindMiddlepipe", "OK");
  metrics.RecordRequest("BindMiddlepipe", "NOT_FOUND");
  metrics.RecordRollout(std::chrono::microseconds(3000), 1);    // 3 ms
  metrics.RecordRollout(std::chrono::microseconds(40000), 2);   // 40 ms
  metrics.RecordRollout(std::chrono::microseconds(20000000), 1);  // 20 s: +Inf only
  metrics.RecordFailedRollout();

  std::string text = metrics.Render();
  EXPECT_TRUE(Has(text, "mp_controller_requests_total{method=\"BindMiddlepipe\",code=\"OK\"} 2"));
  EXPECT_TRUE(Has(text, "mp_controller_requests_total{method=\"BindMiddlepipe\",code=\"NOT_FOUND\"} 1"));
  EXPECT_TRUE(Has(text, "mp_controller_epochs_committed_total 4"));
  EXPECT_TRUE(Has(text, "mp_controller_rollouts_failed_total 1"));
  EXPECT_TRUE(Has(text, "mp_controller_connected_agents 7"));
  EXPECT_TRUE(Has(text, "mp_controller_rollout_seconds_bucket{le=\"0.0025\"} 0"));
  EXPECT_TRUE(Has(text, "mp_controller_rollout_seconds_bucket{le=\"0.005\"} 1"));
  EXPECT_TRUE(Has(text, "mp_controller_rollout_seconds_bucket{le=\"0.05\"} 2"));
  EXPECT_TRUE(Has(text, "mp_controller_rollout_seconds_bucket{le=\"10\"} 2"));
  EXPECT_TRUE(Has(text, "mp_controller_rollout_seconds_bucket{le=\"+Inf\"} 3"));
  EXPECT_TRUE(Has(text, "mp_controller_rollout_seconds_count 3"));
  agents = 2;
  EXPECT_TRUE(Has(metrics.Render(), "mp_controller_connected_agents 2"));
}

}  // namespace
}  // namespace middlepipe::controller
