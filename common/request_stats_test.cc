#include "common/request_stats.h"

#include <gtest/gtest.h>


#include "tests/support/aggregator_inputs.h"

namespace middlepipe {
namespace {

v1::RequestStats Calls(uint64_t ok, uint64_t failed) { return testing::CallsStats(ok, failed); }

v1::Histogram Histogram(std::vector<double> bounds, std::vector<uint64_t> counts) {
  v1::Histogram histogram;
  for (double bound : bounds) histogram.add_bounds_ms(bound);
  for (uint64_t count : counts) histogram.add_counts(count);
  return histogram;
}

TEST(RequestStatsTest, AddsEveryField) {
  v1::RequestStats into = Calls(3, 1);
  v1::RequestStats delta = Calls(2, 2);
  delta.set_short_circuited(5);
  (*delta.mutable_counters())["opened"] = 1;
  *delta.mutable_latency() = Histogram({10, 100}, {1, 2, 1});
  delta.mutable_latency()->set_sum_ms(250);
  AddRequestStats(into, delta);
  AddRequestStats(into, delta);
  EXPECT_EQ(into.requests(), 4u + 8u);
  EXPECT_EQ(into.status_classes(2), 3u + 4u);
  EXPECT_EQ(into.failures(), 1u + 4u);
  EXPECT_EQ(into.short_circuited(), 10u);
  EXPECT_EQ(into.counters().at("opened"), 2u);
  EXPECT_EQ(into.latency().counts(1), 4u);
  EXPECT_DOUBLE_EQ(into.latency().sum_ms(), 500);
}

TEST(RequestStatsTest, HistogramWithOtherBoundsReplacesTheOld) {
  v1::RequestStats into;
  *into.mutable_latency() = Histogram({10}, {5, 5});
  v1::RequestStats delta;
  *delta.mutable_latency() = Histogram({1, 2}, {1, 1, 1});
  AddRequestStats(into, delta);
  EXPECT_EQ(into.latency().bounds_ms_size(), 2);
  EXPECT_EQ(into.latency().counts(0), 1u);
}

TEST(RequestStatsTest, ChecksRefuseOutOfRangeFigures) {
  EXPECT_TRUE(CheckRequestStats(Calls(5, 5)).ok());
  v1::RequestStats stats = Calls(1, 1);
  stats.set_failures(3);
  EXPECT_FALSE(CheckRequestStats(stats).ok()) << "more failures than calls";
  stats = Calls(1, 0);
  stats.add_status_classes(1);
  EXPECT_FALSE(CheckRequestStats(stats).ok()) << "7 status classes";
  stats = Calls(1, 0);
  stats.set_requests(kMaxRequestsPerReport + 1);
  EXPECT_FALSE(CheckRequestStats(stats).ok());
  stats = Calls(1, 0);
  *stats.mutable_latency() = Histogram({10, 5}, {0, 0, 1});
  EXPECT_FALSE(CheckRequestStats(stats).ok()) << "bounds not ascending";
  *stats.mutable_latency() = Histogram({10}, {0});
  EXPECT_FALSE(CheckRequestStats(stats).ok()) << "counts must be bounds + 1";
  stats = Calls(1, 0);
  for (int i = 0; i <= kMaxCounters; ++i) (*stats.mutable_counters())["c" + std::to_string(i)] = 1;
  EXPECT_FALSE(CheckRequestStats(stats).ok());
}

TEST(RequestStatsTest, QuantilesInterpolateInsideTheBucket) {
  const v1::Histogram histogram = Histogram({10, 20, 40}, {50, 40, 10, 0});
  EXPECT_DOUBLE_EQ(HistogramQuantile(histogram, 0.5), 10);
  EXPECT_DOUBLE_EQ(HistogramQuantile(histogram, 0.7), 15);
  EXPECT_DOUBLE_EQ(HistogramQuantile(histogram, 0.95), 30);
  EXPECT_DOUBLE_EQ(HistogramQuantile(Histogram({10}, {0, 4}), 0.5), 10) << "+Inf reports the last bound";
  EXPECT_DOUBLE_EQ(HistogramQuantile(Histogram({10}, {0, 0}), 0.5), 0);
}

}  // namespace
}  // namespace middlepipe
