#include "aggregator/circuit-breaker/breaker_aggregate.h"

#include <gtest/gtest.h>

#include "tests/support/aggregator_inputs.h"

namespace middlepipe::aggregator::circuit_breaker {
namespace {

constexpr char kConfig[] = R"({"latency_threshold_ms": 1000, "error_threshold_percent": 50,
  "min_requests": 20, "window_ms": 10000, "open_ms": 5000, "half_open_requests": 3,
  "scope": "cluster"})";

v1::Report Calls(uint64_t ok, uint64_t failed,
                 const std::vector<std::pair<std::string, uint64_t>>& counters = {}) {
  return testing::CallsReport("breaker", "circuit-breaker", "web", "orders", ok, failed, counters);
}

class BreakerAggregateTest : public ::testing::Test {
 protected:
  BreakerAggregateTest() {
    view_.now_ms = 1'000'000;
    view_.instances = {0, 1, 2, 3};
    view_.demand = [this](uint32_t instance) { return demand_[instance]; };
    aggregate_ = *BreakerAggregate::Create(kConfig);
  }

  v1::BreakerState State(uint32_t instance = 0) const {
    return aggregate_->DecisionFor(instance)->breaker().state();
  }
  uint32_t Permits(uint32_t instance) const {
    return aggregate_->DecisionFor(instance)->breaker().trial_permits();
  }
  uint32_t TotalPermits() const {
    uint32_t total = 0;
    for (uint32_t instance : view_.instances) total += Permits(instance);
    return total;
  }
  void Report(uint32_t instance, const v1::Report& report) { aggregate_->OnReport(instance, report, view_); }
  void Advance(int64_t ms) {
    view_.now_ms += ms;
    aggregate_->OnTick(view_);
  }
  void OpenIt() {
    for (uint32_t instance : view_.instances) Report(instance, Calls(2, 4));
    ASSERT_EQ(State(), v1::BREAKER_STATE_OPEN);
  }

  ClusterView view_;
  std::map<uint32_t, double> demand_ = {{0, 1}, {1, 5}, {2, 3}, {3, 0}};
  std::unique_ptr<KindAggregate> aggregate_;
};

TEST_F(BreakerAggregateTest, NoDecisionBeforeAnyReport) {
  EXPECT_FALSE(aggregate_->DecisionFor(0).has_value()) << "filters decide locally meanwhile";
  Report(0, Calls(1, 0));
  EXPECT_EQ(State(), v1::BREAKER_STATE_CLOSED);
}

TEST_F(BreakerAggregateTest, OpensOnTheClusterEvenThoughNoInstanceCrossedAlone) {
  // Each instance: 6 calls, 4 failed: under min_requests (20) alone, 24 calls together.
  for (uint32_t instance : {0, 1, 2}) {
    Report(instance, Calls(2, 4));
    EXPECT_EQ(State(), v1::BREAKER_STATE_CLOSED) << "18 calls < min_requests";
  }
  Report(3, Calls(2, 4));
  EXPECT_EQ(State(), v1::BREAKER_STATE_OPEN);
  for (uint32_t instance : view_.instances) EXPECT_EQ(State(instance), v1::BREAKER_STATE_OPEN);
  EXPECT_EQ(aggregate_->DecisionFor(2)->breaker().open_until_unix_ms(), view_.now_ms + 5000);
  EXPECT_NE(aggregate_->DecisionFor(2)->breaker().reason().find("across the cluster"), std::string::npos);
}

TEST_F(BreakerAggregateTest, StaysClosedUnderTheThresholdAndForgetsOldCalls) {
  Report(0, Calls(11, 10));  // 47% < 50%
  EXPECT_EQ(State(), v1::BREAKER_STATE_CLOSED);
  Advance(10'000);  // the window moved past those
  Report(1, Calls(0, 19));
  EXPECT_EQ(State(), v1::BREAKER_STATE_CLOSED) << "19 calls in the window < min_requests";
  Report(1, Calls(0, 1));
  EXPECT_EQ(State(), v1::BREAKER_STATE_OPEN);
}

TEST_F(BreakerAggregateTest, HalfOpenHandsOutExactlyTheTrialsBusiestFirst) {
  OpenIt();
  Advance(4999);
  EXPECT_EQ(State(), v1::BREAKER_STATE_OPEN);
  Advance(1);
  EXPECT_EQ(State(), v1::BREAKER_STATE_HALF_OPEN);
  EXPECT_EQ(TotalPermits(), 3u) << "half_open_requests across the cluster, not per instance";
  EXPECT_EQ(Permits(1), 1u);  // demand 5
  EXPECT_EQ(Permits(2), 1u);  // demand 3
  EXPECT_EQ(Permits(0), 1u);  // demand 1
  EXPECT_EQ(Permits(3), 0u);  // idle
}

TEST_F(BreakerAggregateTest, TrialsSucceedingCloseWithAFreshWindow) {
  OpenIt();
  Advance(5000);
  Report(1, Calls(1, 0, {{"trial", 1}, {"trial_success", 1}}));
  Report(2, Calls(1, 0, {{"trial", 1}, {"trial_success", 1}}));
  EXPECT_EQ(State(), v1::BREAKER_STATE_HALF_OPEN);
  Report(0, Calls(1, 0, {{"trial", 1}, {"trial_success", 1}}));
  EXPECT_EQ(State(), v1::BREAKER_STATE_CLOSED);
  Report(0, Calls(0, 19));
  EXPECT_EQ(State(), v1::BREAKER_STATE_CLOSED) << "the failures before opening do not count again";
}

TEST_F(BreakerAggregateTest, AFailedTrialReopens) {
  OpenIt();
  Advance(5000);
  Report(1, Calls(0, 1, {{"trial", 1}, {"trial_failure", 1}}));
  EXPECT_EQ(State(), v1::BREAKER_STATE_OPEN);
  EXPECT_EQ(aggregate_->DecisionFor(0)->breaker().reason(), "a half-open trial call failed");
}

TEST_F(BreakerAggregateTest, PermitsOfADepartedInstanceGoToAnother) {
  OpenIt();
  Advance(5000);
  ASSERT_EQ(Permits(1), 1u);
  view_.instances = {0, 2, 3};  // instance 1 left without using its permit
  Advance(100);
  uint32_t total = 0;
  for (uint32_t instance : view_.instances) total += Permits(instance);
  EXPECT_EQ(total, 3u);
  EXPECT_EQ(Permits(3), 0u) << "still busiest first: 0 and 2 hold them";
}

TEST_F(BreakerAggregateTest, AUsedPermitIsNotHandedOutAgain) {
  OpenIt();
  Advance(5000);
  Report(1, Calls(1, 0, {{"trial", 1}}));  // used, outcome not reported yet
  view_.instances = {0, 2, 3};
  Advance(100);
  EXPECT_EQ(Permits(0) + Permits(2) + Permits(3), 2u);
}

TEST_F(BreakerAggregateTest, AdoptsAnOpenInstanceAfterARestart) {
  Report(2, Calls(0, 0, {{"intervals_open", 1}}));
  EXPECT_EQ(State(), v1::BREAKER_STATE_OPEN);
  EXPECT_NE(aggregate_->DecisionFor(0)->breaker().reason().find("adopted"), std::string::npos);
}

TEST_F(BreakerAggregateTest, InstanceScopeOnlyReports) {
  auto aggregate = *BreakerAggregate::Create(
      R"({"latency_threshold_ms": 1000, "error_threshold_percent": 50, "min_requests": 1,
          "window_ms": 10000, "open_ms": 5000, "half_open_requests": 3, "scope": "instance"})");
  aggregate->OnReport(0, Calls(0, 100), view_);
  EXPECT_FALSE(aggregate->DecisionFor(0).has_value());
  v1::MiddlepipeState state;
  aggregate->Describe(state);
  EXPECT_EQ(state.state(), "per-instance");
}

TEST_F(BreakerAggregateTest, ExportsTheStateANewInstanceStartsFrom) {
  EXPECT_FALSE(aggregate_->ExportState(view_.now_ms).has_value());
  OpenIt();
  const std::string exported = *aggregate_->ExportState(view_.now_ms + 1000);
  EXPECT_NE(exported.find("\"state\":\"open\""), std::string::npos) << exported;
  EXPECT_NE(exported.find("\"open_remaining_ms\":4000"), std::string::npos) << exported;
}

}  // namespace
}  // namespace middlepipe::aggregator::circuit_breaker
