#include "scheduler/filters/fault-inject/fault_filter.h"

#include <gtest/gtest.h>

namespace middlepipe::scheduler::fault_inject {
namespace {

struct Counts {
  int aborted = 0;
  int delayed = 0;
  int total = 0;
};

Counts Offer(FaultFilter& filter, int requests) {
  Counts counts;
  for (int i = 0; i < requests; ++i) {
    RequestCall call;
    uint32_t note = 0;
    ++counts.total;
    if (filter.OnRequest(call, note) == FilterStatus::kRespond) {
      ++counts.aborted;
    } else if (call.delay_ms > 0) {
      ++counts.delayed;
    }
  }
  return counts;
}

TEST(FaultFilterTest, InjectsTheConfiguredSharesWithinStatisticalBounds) {
  FaultConfig config;
  config.abort_percent = 10;
  config.delay_percent = 30;
  config.delay_ms = 200;
  FaultFilter filter("chaos", config, /*seed=*/42);
  const Counts counts = Offer(filter, 10000);
  // Binomial: 10% of 10,000 has sd 30; 30% of the 9,000 left has sd ~43. Five sd each.
  EXPECT_NEAR(counts.aborted, 1000, 150);
  EXPECT_NEAR(counts.delayed, 2700, 215);
  v1::Report report;
  filter.TakeReport(report);
  EXPECT_EQ(report.request_stats().requests(), 10000u);
  EXPECT_EQ(report.request_stats().counters().at("injected_abort"), static_cast<uint64_t>(counts.aborted));
  EXPECT_EQ(report.request_stats().counters().at("injected_delay"), static_cast<uint64_t>(counts.delayed));
  EXPECT_EQ(report.request_stats().short_circuited(), static_cast<uint64_t>(counts.aborted));
}

TEST(FaultFilterTest, AnAbortIsTheAppsAnswerWithMarkersADelayIsTheHooksWait) {
  FaultConfig config;
  config.abort_percent = 100;
  config.abort_status = 502;
  FaultFilter aborting("chaos", config, 1);
  RequestCall call;
  uint32_t note = 0;
  ASSERT_EQ(aborting.OnRequest(call, note), FilterStatus::kRespond);
  EXPECT_EQ(call.response.status(), 502u);
  EXPECT_FALSE(call.response.raise()) << "the app sees the injected status, not an exception";
  std::map<std::string, std::string> headers;
  for (const v1::Header& header : call.response.headers()) headers[header.name()] = header.value();
  EXPECT_EQ(headers["Middlepipe-Callback"], R"(fault-inject; name="chaos"; event=abort; detail="status 502")");
  EXPECT_EQ(headers["Middlepipe-Short-Circuit"], "chaos");

  FaultConfig slow;
  slow.delay_percent = 100;
  slow.delay_ms = 75;
  FaultFilter delaying("slow", slow, 1);
  RequestCall delayed;
  ASSERT_EQ(delaying.OnRequest(delayed, note), FilterStatus::kContinue);
  EXPECT_EQ(delayed.delay_ms, 75u);
  EXPECT_FALSE(delaying.MayMarkResponse(note));
}

TEST(FaultFilterTest, NothingIsInjectedAtZeroPercent) {
  FaultFilter filter("calm", FaultConfig(), 3);
  const Counts counts = Offer(filter, 1000);
  EXPECT_EQ(counts.aborted + counts.delayed, 0);
}

TEST(FaultFilterTest, ANewEpochLosesNoCount) {
  FaultConfig config;
  config.abort_percent = 100;
  FaultFilter before("chaos", config, 1);
  Offer(before, 3);
  FaultFilter after("chaos", config, 2);
  after.AdoptState(before);  // the chain of the next epoch, built before the swap
  Offer(before, 1);          // a request still on the old chain
  Offer(after, 2);
  v1::Report report;
  after.TakeReport(report);
  EXPECT_EQ(report.request_stats().requests(), 6u);
  EXPECT_EQ(report.request_stats().counters().at("injected_abort"), 6u);
}

TEST(FaultConfigTest, ReadsAndRefuses) {
  auto config = ParseFaultConfig(R"({"delay_ms": 10, "delay_percent": 5.5, "abort_percent": 1})");
  ASSERT_TRUE(config.ok());
  EXPECT_EQ(config->delay_ms, 10u);
  EXPECT_DOUBLE_EQ(config->delay_percent, 5.5);
  EXPECT_EQ(config->abort_status, 503u);
  EXPECT_FALSE(ParseFaultConfig(R"({"abort_percent": 101})").ok());
  EXPECT_FALSE(ParseFaultConfig("7").ok());
}

}  // namespace
}  // namespace middlepipe::scheduler::fault_inject
