#include "scheduler/filters/monitor/monitor_filter.h"

#include "gtest/gtest.h"

namespace middlepipe::scheduler::monitor {
namespace {

void Call(MonitorFilter& monitor, uint32_t status, uint64_t latency_us) {
  RequestCall call;
  uint32_t note = 0;
  EXPECT_EQ(monitor.OnRequest(call, note), FilterStatus::kContinue);
  call.status = status;
  call.latency_us = latency_us;
  monitor.OnResponse(call, note);
}

TEST(MonitorFilterTest, CountsStatusClassesAndLatencyBuckets) {
  MonitorFilter monitor({10, 100});
  Call(monitor, 200, 5'000);    // 5 ms -> bucket <=10
  Call(monitor, 204, 10'000);   // 10 ms -> bucket <=10 (bounds are inclusive)
  Call(monitor, 503, 50'000);   // 50 ms -> bucket <=100
  Call(monitor, 0, 900'000);    // transport failure, 900 ms -> +Inf
  v1::Report report;
  monitor.TakeReport(report);
  const v1::RequestStats& stats = report.request_stats();
  EXPECT_EQ(stats.requests(), 4u);
  EXPECT_EQ(std::vector<uint64_t>(stats.status_classes().begin(), stats.status_classes().end()),
            (std::vector<uint64_t>{1, 0, 2, 0, 0, 1}));
  EXPECT_EQ(std::vector<uint64_t>(stats.latency().counts().begin(), stats.latency().counts().end()),
            (std::vector<uint64_t>{2, 1, 1}));
  EXPECT_DOUBLE_EQ(stats.latency().sum_ms(), 965.0);
  v1::Report empty;
  monitor.TakeReport(empty);
  EXPECT_EQ(empty.request_stats().requests(), 0u);
}

TEST(MonitorFilterTest, KeepsCountsAcrossEpochsUnlessBucketsChange) {
  MonitorFilter old_epoch({10});
  Call(old_epoch, 200, 1000);
  MonitorFilter same_buckets({10});
  same_buckets.AdoptState(old_epoch);
  v1::Report report;
  same_buckets.TakeReport(report);
  EXPECT_EQ(report.request_stats().requests(), 1u);

  Call(old_epoch, 200, 1000);
  MonitorFilter new_buckets({5, 50});
  new_buckets.AdoptState(old_epoch);
  v1::Report fresh;
  new_buckets.TakeReport(fresh);
  EXPECT_EQ(fresh.request_stats().requests(), 0u);
}

TEST(MonitorFilterTest, ADepartingInstancesUnreportedCountsMergeIntoOneThatStays) {
  MonitorFilter departing({10});
  Call(departing, 200, 1000);
  Call(departing, 500, 20'000);
  MonitorFilter staying({10});
  Call(staying, 200, 1000);
  const std::string exported = departing.ExportState();
  MonitorFilter clone({10});
  ASSERT_TRUE(clone.ImportState(exported).ok());
  ASSERT_TRUE(staying.MergeState(exported).ok());
  EXPECT_EQ(staying.MergeState("\xff\xff garbage").code(), absl::StatusCode::kInvalidArgument);

  v1::Report merged;
  staying.TakeReport(merged);
  EXPECT_EQ(merged.request_stats().requests(), 3u) << "nothing counted is lost";
  EXPECT_EQ(merged.request_stats().status_classes(5), 1u);
  EXPECT_EQ(merged.request_stats().latency().counts(1), 1u);
  v1::Report cloned;
  clone.TakeReport(cloned);
  EXPECT_EQ(cloned.request_stats().requests(), 0u) << "a clone does not count calls it did not see";
}

}  // namespace
}  // namespace middlepipe::scheduler::monitor
