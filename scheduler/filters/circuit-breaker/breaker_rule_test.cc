#include "scheduler/filters/circuit-breaker/breaker_rule.h"

#include "gtest/gtest.h"

namespace middlepipe::scheduler::circuit_breaker {
namespace {

TEST(ShouldOpenTest, NeedsMinRequestsAndTheThreshold) {
  BreakerConfig config;
  config.min_requests = 4;
  config.error_threshold_percent = 50;
  EXPECT_FALSE(ShouldOpen(config, 3, 3));  // too few calls, however bad
  EXPECT_TRUE(ShouldOpen(config, 4, 2));   // exactly at the threshold opens
  EXPECT_FALSE(ShouldOpen(config, 4, 1));
  EXPECT_TRUE(ShouldOpen(config, 1000, 999));
}

TEST(OpenReasonTest, SaysWhatFailedAndWhere) {
  BreakerConfig config;
  config.error_threshold_percent = 50;
  EXPECT_EQ(OpenReason(config, 20, 10), "50% of 20 calls failed (threshold 50%)");
  EXPECT_EQ(OpenReason(config, 8, 6, " across the cluster"),
            "75% of 8 calls failed across the cluster (threshold 50%)");
}

}  // namespace
}  // namespace middlepipe::scheduler::circuit_breaker
