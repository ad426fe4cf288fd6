#include "aggregator/rate-limit/rate_aggregate.h"

#include <gtest/gtest.h>

#include <numeric>

namespace middlepipe::aggregator::rate_limit {
namespace {

double Sum(const std::vector<double>& shares) { return std::accumulate(shares.begin(), shares.end(), 0.0); }

TEST(SplitRateTest, SharesNeverExceedTheLimit) {
  for (double limit : {1.0, 7.0, 100.0, 12345.6}) {
    for (const std::vector<double>& demands :
         std::vector<std::vector<double>>{{0, 0, 0}, {1e9, 0, 0}, {1, 2, 3, 4}, {50, 50}, {1e6}}) {
      const std::vector<double> shares = SplitRate(limit, demands);
      EXPECT_LE(Sum(shares), limit) << limit;
      EXPECT_GT(Sum(shares), limit * 0.999) << "the whole budget is handed out";
      for (double share : shares) EXPECT_GT(share, 0) << "every instance keeps a floor";
    }
  }
}

TEST(SplitRateTest, AnIdleInstancesShareGoesToTheBusyOne) {
  const std::vector<double> shares = SplitRate(100, {500, 0});
  EXPECT_NEAR(shares[0], 97.5, 1e-9);
  EXPECT_NEAR(shares[1], 2.5, 1e-9) << "5% of an equal share";
}

TEST(SplitRateTest, UnderTheLimitEachGetsItsDemandPlusTheSpare) {
  const std::vector<double> shares = SplitRate(100, {10, 30});
  EXPECT_NEAR(shares[0] - shares[1], -20, 1e-9);
  EXPECT_NEAR(Sum(shares), 100, 1e-9);
}

TEST(SplitRateTest, OverTheLimitItIsMaxMinFair) {
  const std::vector<double> shares = SplitRate(90, {10, 100, 100});
  EXPECT_NEAR(shares[0], 10, 1e-9) << "the modest one gets all it wants";
  EXPECT_NEAR(shares[1], 40, 1e-9);
  EXPECT_NEAR(shares[2], 40, 1e-9);
}

ClusterView View(std::vector<uint32_t> instances, std::vector<double> demand) {
  ClusterView view;
  view.instances = std::move(instances);
  view.demand = [demand](uint32_t instance) { return demand[instance]; };
  return view;
}

TEST(RateAggregateTest, PublishesBudgetsAndIgnoresSmallMoves) {
  RateAggregate aggregate(100, 20, /*cluster_scope=*/true);
  aggregate.OnTick(View({0, 1}, {100, 100}));
  ASSERT_TRUE(aggregate.DecisionFor(0).has_value());
  EXPECT_NEAR(aggregate.DecisionFor(0)->rate_budget().requests_per_second(), 50, 1e-9);
  EXPECT_NEAR(aggregate.DecisionFor(0)->rate_budget().burst(), 10, 1e-9);
  EXPECT_FALSE(aggregate.DecisionFor(2).has_value()) << "not connected";
  aggregate.OnTick(View({0, 1}, {101, 99}));  // noise: a share moves by < 2% of the limit
  EXPECT_NEAR(aggregate.DecisionFor(0)->rate_budget().requests_per_second(), 50, 1e-9);
  aggregate.OnTick(View({0, 1}, {300, 0}));
  EXPECT_GT(aggregate.DecisionFor(0)->rate_budget().requests_per_second(), 90);
}

TEST(RateAggregateTest, InstanceScopeDecidesNothing) {
  RateAggregate aggregate(100, 0, /*cluster_scope=*/false);
  aggregate.OnTick(View({0}, {100}));
  EXPECT_FALSE(aggregate.DecisionFor(0).has_value());
}

TEST(RateAggregateTest, CreateReadsTheConfig) {
  auto aggregate = RateAggregate::Create(R"({"requests_per_second": 10, "burst": 4, "scope": "cluster"})");
  ASSERT_TRUE(aggregate.ok());
  (*aggregate)->OnTick(View({0}, {1}));
  EXPECT_NEAR((*aggregate)->DecisionFor(0)->rate_budget().burst(), 4, 1e-9);
  EXPECT_FALSE(RateAggregate::Create(R"({"burst": 4})").ok());
}

}  // namespace
}  // namespace middlepipe::aggregator::rate_limit
