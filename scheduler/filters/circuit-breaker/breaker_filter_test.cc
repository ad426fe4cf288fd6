#include "scheduler/filters/circuit-breaker/breaker_filter.h"

#include <limits>

#include "gtest/gtest.h"

namespace middlepipe::scheduler::circuit_breaker {
namespace {

class BreakerFilterTest : public ::testing::Test {
 protected:
  BreakerFilterTest() {
    config_.latency_threshold_ms = 100;
    config_.error_threshold_percent = 50;
    config_.min_requests = 4;
    config_.window_ms = 1000;
    config_.open_ms = 500;
    config_.half_open_requests = 2;
  }

  std::unique_ptr<BreakerFilter> Make() {
    return std::make_unique<BreakerFilter>("orders-breaker", config_, [this] { return now_; });
  }

  // One call through the breaker: its request verdict, then (if sent) its outcome.
  struct Outcome {
    FilterStatus status;
    RequestCall call;
  };
  Outcome Call(BreakerFilter& breaker, uint32_t http_status, uint64_t latency_ms = 1) {
    Outcome outcome{FilterStatus::kContinue, {}};
    uint32_t note = 0;
    outcome.status = breaker.OnRequest(outcome.call, note);
    if (outcome.status == FilterStatus::kContinue) {
      outcome.call.status = http_status;
      outcome.call.latency_us = latency_ms * 1000;
      breaker.OnResponse(outcome.call, note);
    }
    return outcome;
  }

  static std::vector<std::string> Markers(const RequestCall& call) {
    std::vector<std::string> markers;
    for (const auto& marker : call.markers) markers.push_back(marker.name() + ": " + marker.value());
    return markers;
  }

  // Opens the breaker: 2 good + 2 failing calls = 50% of 4.
  void Trip(BreakerFilter& breaker) {
    Call(breaker, 200);
    Call(breaker, 200);
    Call(breaker, 500);
    Call(breaker, 503);
    ASSERT_EQ(breaker.StateName(), "open");
  }

  BreakerConfig config_;
  int64_t now_ = 1'000'000;
};

TEST_F(BreakerFilterTest, OpensWhenTheErrorRateReachesTheThresholdWithEnoughCalls) {
  auto breaker = Make();
  Call(*breaker, 200);
  Call(*breaker, 500);
  Call(*breaker, 500);  // 2/3 failed, but fewer than min_requests
  EXPECT_EQ(breaker->StateName(), "closed");
  Outcome tripping = Call(*breaker, 200);  // 2/4 = 50%
  EXPECT_EQ(breaker->StateName(), "open");
  EXPECT_EQ(Markers(tripping.call),
            std::vector<std::string>{"Middlepipe-Callback: circuit-breaker; "
                                     "name=\"orders-breaker\"; event=open; detail=\"50% of 4 "
                                     "calls failed (threshold 50%)\""});
}

TEST_F(BreakerFilterTest, StaysClosedBelowTheThreshold) {
  auto breaker = Make();
  for (int i = 0; i < 20; ++i) Call(*breaker, i % 3 == 1 ? 500 : 200);  // at most 40% failing
  EXPECT_EQ(breaker->StateName(), "closed");
}

TEST_F(BreakerFilterTest, SlowCallsAndTransportFailuresCountAsFailures) {
  auto breaker = Make();
  Call(*breaker, 200, 150);  // slower than 100 ms
  Call(*breaker, 0);         // transport failure
  Call(*breaker, 200);
  Call(*breaker, 200);
  EXPECT_EQ(breaker->StateName(), "open");
}

TEST_F(BreakerFilterTest, FailuresOlderThanTheWindowNoLongerCount) {
  auto breaker = Make();
  Call(*breaker, 500);
  Call(*breaker, 500);
  now_ += config_.window_ms;  // both failures slide out of the window
  Call(*breaker, 200);
  Call(*breaker, 200);
  Call(*breaker, 500);
  EXPECT_EQ(breaker->StateName(), "closed") << "old failures still counted";
  Call(*breaker, 500);  // 2/4 within the window
  EXPECT_EQ(breaker->StateName(), "open");
}

TEST_F(BreakerFilterTest, OpenShortCircuitsWithA503AndMarkers) {
  auto breaker = Make();
  Trip(*breaker);
  Outcome blocked = Call(*breaker, 200);
  ASSERT_EQ(blocked.status, FilterStatus::kRespond);
  EXPECT_EQ(blocked.call.response.status(), 503u);
  EXPECT_TRUE(blocked.call.response.raise());
  std::vector<std::string> markers = Markers(blocked.call);
  ASSERT_EQ(markers.size(), 2u);
  EXPECT_EQ(markers[0].rfind("Middlepipe-Callback: circuit-breaker; name=\"orders-breaker\"; "
                             "event=open; detail=",
                             0),
            0u);
  EXPECT_EQ(markers[1], "Middlepipe-Short-Circuit: orders-breaker");
  EXPECT_EQ(blocked.call.response.headers_size(), 2) << "markers travel on the response";
}

TEST_F(BreakerFilterTest, FallbackResponseWhenConfigured) {
  v1::SynthesizedResponse fallback;
  fallback.set_status(200);
  fallback.set_body("cached orders");
  config_.fallback = fallback;
  auto breaker = Make();
  Trip(*breaker);
  Outcome blocked = Call(*breaker, 500);
  ASSERT_EQ(blocked.status, FilterStatus::kRespond);
  EXPECT_EQ(blocked.call.response.status(), 200u);
  EXPECT_EQ(blocked.call.response.body(), "cached orders");
  EXPECT_FALSE(blocked.call.response.raise());
}

TEST_F(BreakerFilterTest, HalfOpensAfterOpenMsWithLimitedTrials) {
  auto breaker = Make();
  Trip(*breaker);
  now_ += config_.open_ms - 1;
  EXPECT_EQ(Call(*breaker, 200).status, FilterStatus::kRespond) << "opened too early";
  now_ += 1;
  uint32_t first_note = 0;
  uint32_t second_note = 0;
  RequestCall first;
  RequestCall second;
  RequestCall third;
  EXPECT_EQ(breaker->OnRequest(first, first_note), FilterStatus::kContinue);
  EXPECT_EQ(breaker->OnRequest(second, second_note), FilterStatus::kContinue);
  EXPECT_EQ(breaker->StateName(), "half-open");
  EXPECT_EQ(Markers(first), std::vector<std::string>{"Middlepipe-Callback: circuit-breaker; "
                                                     "name=\"orders-breaker\"; event=half-open"});
  uint32_t third_note = 0;
  EXPECT_EQ(breaker->OnRequest(third, third_note), FilterStatus::kRespond)
      << "only half_open_requests trials may pass";

  first.status = 200;
  breaker->OnResponse(first, first_note);
  EXPECT_EQ(breaker->StateName(), "half-open");
  second.status = 200;
  breaker->OnResponse(second, second_note);
  EXPECT_EQ(breaker->StateName(), "closed");
  EXPECT_EQ(Markers(second).back(),
            "Middlepipe-Callback: circuit-breaker; name=\"orders-breaker\"; event=closed");
  // Closed with a fresh window: the failures from before do not re-open it.
  Call(*breaker, 500);
  EXPECT_EQ(breaker->StateName(), "closed");
}

// On the fast path: trials go to the agent (their outcome's callback rides on their own
// response); once the permits are taken, the rest are short-circuited in-process with the
// answer OnRequest gives, for as long as the breaker stays so.
TEST_F(BreakerFilterTest, FastPathShortCircuitsHalfOpenCallsBeyondThePermits) {
  auto breaker = Make();
  Trip(*breaker);
  now_ += config_.open_ms;
  FastPathContext context;
  context.now_ms = now_;
  EXPECT_FALSE(breaker->CompileFastPath(context).possible) << "half-open is due: the agent moves it";
  uint32_t note = 0;
  RequestCall trial;
  ASSERT_EQ(breaker->OnRequest(trial, note), FilterStatus::kContinue);
  EXPECT_EQ(breaker->StateName(), "half-open");
  EXPECT_FALSE(breaker->CompileFastPath(context).possible) << "a permit is left: its trial asks";
  RequestCall second;
  ASSERT_EQ(breaker->OnRequest(second, note), FilterStatus::kContinue);
  FastPathPlan plan = breaker->CompileFastPath(context);
  ASSERT_TRUE(plan.possible);
  ASSERT_TRUE(plan.step.has_value());
  EXPECT_EQ(plan.valid_until_ms, std::numeric_limits<int64_t>::max()) << "time alone does not move it";
  RequestCall beyond;
  ASSERT_EQ(breaker->OnRequest(beyond, note), FilterStatus::kRespond);
  EXPECT_EQ(plan.step->response.status, beyond.response.status());
  EXPECT_EQ(plan.step->response.body, beyond.response.body());
  EXPECT_EQ(plan.step->markers, ToHeaderList(beyond.markers));
  EXPECT_TRUE(plan.step->response.headers.empty()) << "the client adds the markers";
}

TEST_F(BreakerFilterTest, AFailedTrialReopensForAnotherOpenMs) {
  auto breaker = Make();
  Trip(*breaker);
  now_ += config_.open_ms;
  Outcome trial = Call(*breaker, 502);
  EXPECT_EQ(breaker->StateName(), "open");
  EXPECT_EQ(Markers(trial.call).back(),
            "Middlepipe-Callback: circuit-breaker; name=\"orders-breaker\"; event=open; "
            "detail=\"a half-open trial call failed\"");
  now_ += config_.open_ms - 1;
  EXPECT_EQ(Call(*breaker, 200).status, FilterStatus::kRespond);
}

TEST_F(BreakerFilterTest, ClusterDecisionsSetTheStateInstanceScopeIgnoresThem) {
  auto breaker = Make();
  v1::Decision decision;
  decision.mutable_breaker()->set_state(v1::BREAKER_STATE_OPEN);
  decision.mutable_breaker()->set_reason("cluster error rate 70%");
  breaker->OnDecision(decision);
  Outcome blocked = Call(*breaker, 200);
  EXPECT_EQ(blocked.status, FilterStatus::kRespond);
  EXPECT_NE(Markers(blocked.call)[0].find("detail=\"cluster error rate 70%\""), std::string::npos);

  decision.mutable_breaker()->set_state(v1::BREAKER_STATE_HALF_OPEN);
  decision.mutable_breaker()->set_trial_permits(1);
  breaker->OnDecision(decision);
  EXPECT_EQ(Call(*breaker, 200).status, FilterStatus::kContinue);
  EXPECT_EQ(Call(*breaker, 200).status, FilterStatus::kRespond) << "one permit only";

  decision.mutable_breaker()->set_state(v1::BREAKER_STATE_CLOSED);
  breaker->OnDecision(decision);
  EXPECT_EQ(breaker->StateName(), "closed");

  config_.cluster_scope = false;
  auto local = Make();
  decision.mutable_breaker()->set_state(v1::BREAKER_STATE_OPEN);
  local->OnDecision(decision);
  EXPECT_EQ(local->StateName(), "closed");
}

TEST_F(BreakerFilterTest, StateMovesBetweenInstancesAndEpochs) {
  auto breaker = Make();
  Trip(*breaker);
  now_ += 200;
  std::string exported = breaker->ExportState();
  auto clone = Make();
  ASSERT_TRUE(clone->ImportState(exported).ok());
  EXPECT_EQ(clone->StateName(), "open");
  now_ += config_.open_ms - 200 - 1;
  EXPECT_EQ(Call(*clone, 200).status, FilterStatus::kRespond) << "remaining open time kept";
  EXPECT_FALSE(clone->ImportState("{\"state\":\"sideways\"}").ok());

  auto next_epoch = Make();
  next_epoch->AdoptState(*breaker);
  EXPECT_EQ(next_epoch->StateName(), "open");
}

TEST_F(BreakerFilterTest, ReportsDeltas) {
  auto breaker = Make();
  Trip(*breaker);
  Call(*breaker, 200);  // short-circuited
  v1::Report report;
  breaker->TakeReport(report);
  EXPECT_EQ(report.request_stats().requests(), 5u);
  EXPECT_EQ(report.request_stats().failures(), 2u);
  EXPECT_EQ(report.request_stats().short_circuited(), 1u);
  EXPECT_EQ(report.request_stats().status_classes(5), 2u);
  EXPECT_EQ(report.request_stats().counters().at("opened"), 1u);
  v1::Report next;
  breaker->TakeReport(next);
  EXPECT_EQ(next.request_stats().requests(), 0u);
}

v1::Decision BreakerDecision(uint64_t sequence, v1::BreakerState state, uint32_t permits = 0) {
  v1::Decision decision;
  decision.set_sequence(sequence);
  decision.set_lease_ms(3000);
  decision.mutable_breaker()->set_state(state);
  decision.mutable_breaker()->set_trial_permits(permits);
  decision.mutable_breaker()->set_reason("cluster");
  return decision;
}

TEST_F(BreakerFilterTest, UnderALiveLeaseTheClusterDecidesNotTheInstance) {
  auto breaker = Make();
  breaker->OnDecision(BreakerDecision(1, v1::BREAKER_STATE_CLOSED));
  for (int i = 0; i < 10; ++i) Call(*breaker, 500);
  EXPECT_EQ(breaker->StateName(), "closed") << "the aggregator opens, from all instances' calls";
  v1::Report report;
  breaker->TakeReport(report);
  EXPECT_FALSE(report.local_fallback());
  EXPECT_EQ(report.request_stats().failures(), 10u);

  breaker->OnDecision(BreakerDecision(2, v1::BREAKER_STATE_OPEN));
  now_ += config_.open_ms * 4;
  breaker->OnDecision(BreakerDecision(2, v1::BREAKER_STATE_OPEN));  // lease refresh
  EXPECT_EQ(Call(*breaker, 200).status, FilterStatus::kRespond)
      << "no local half-open while the aggregator keeps it open";
}

TEST_F(BreakerFilterTest, WhenTheLeaseLapsesTheInstanceDecidesAloneAgain) {
  auto breaker = Make();
  breaker->OnDecision(BreakerDecision(1, v1::BREAKER_STATE_CLOSED));
  now_ += 3000;  // the aggregator went silent
  Trip(*breaker);
  v1::Report report;
  breaker->TakeReport(report);
  EXPECT_TRUE(report.local_fallback());
  EXPECT_EQ(report.request_stats().counters().at("intervals_open"), 1u);
}

TEST_F(BreakerFilterTest, HalfOpenPermitsCountTheWholeRoundAndARefreshGrantsNoMore) {
  auto breaker = Make();
  breaker->OnDecision(BreakerDecision(1, v1::BREAKER_STATE_OPEN));
  breaker->OnDecision(BreakerDecision(2, v1::BREAKER_STATE_HALF_OPEN, 1));
  RequestCall trial;
  uint32_t note = 0;
  ASSERT_EQ(breaker->OnRequest(trial, note), FilterStatus::kContinue);  // outcome pending
  breaker->OnDecision(BreakerDecision(2, v1::BREAKER_STATE_HALF_OPEN, 1));  // lease refresh
  EXPECT_EQ(Call(*breaker, 200).status, FilterStatus::kRespond) << "the refresh granted nothing";
  breaker->OnDecision(BreakerDecision(3, v1::BREAKER_STATE_HALF_OPEN, 2));  // one more permit
  EXPECT_EQ(Call(*breaker, 200).status, FilterStatus::kContinue);
  EXPECT_EQ(Call(*breaker, 200).status, FilterStatus::kRespond) << "2 permits in the round, 2 used";
  trial.status = 200;
  breaker->OnResponse(trial, note);
  EXPECT_EQ(breaker->StateName(), "half-open") << "under the aggregator, the cluster closes";
  v1::Report report;
  breaker->TakeReport(report);
  EXPECT_EQ(report.request_stats().counters().at("trial"), 2u);
  EXPECT_EQ(report.request_stats().counters().at("trial_success"), 2u);
  EXPECT_EQ(report.request_stats().counters().at("intervals_half_open"), 1u);
}

TEST_F(BreakerFilterTest, AFailedTrialReopensAtOnceEvenUnderTheAggregator) {
  auto breaker = Make();
  breaker->OnDecision(BreakerDecision(1, v1::BREAKER_STATE_HALF_OPEN, 1));
  Outcome failed = Call(*breaker, 502);
  EXPECT_EQ(breaker->StateName(), "open");
  EXPECT_NE(Markers(failed.call).back().find("event=open"), std::string::npos);
}

TEST_F(BreakerFilterTest, AClosingDecisionIsToldToTheAppOnItsNextCall) {
  auto breaker = Make();
  breaker->OnDecision(BreakerDecision(1, v1::BREAKER_STATE_OPEN));
  breaker->OnDecision(BreakerDecision(2, v1::BREAKER_STATE_CLOSED));
  Outcome next = Call(*breaker, 200);
  EXPECT_EQ(next.status, FilterStatus::kContinue);
  EXPECT_EQ(Markers(next.call), std::vector<std::string>{"Middlepipe-Callback: circuit-breaker; "
                                                         "name=\"orders-breaker\"; event=closed"});
  EXPECT_TRUE(Markers(Call(*breaker, 200).call).empty()) << "told once";
  breaker->OnDecision(BreakerDecision(1, v1::BREAKER_STATE_OPEN));
  EXPECT_EQ(breaker->StateName(), "closed") << "an older decision is ignored";
}

TEST_F(BreakerFilterTest, SaysWhenAResponseMayCarryMarkers) {
  auto breaker = Make();
  EXPECT_TRUE(breaker->MayMarkResponse(0)) << "deciding alone, any response may trip it";
  breaker->OnDecision(BreakerDecision(1, v1::BREAKER_STATE_CLOSED));
  EXPECT_FALSE(breaker->MayMarkResponse(0)) << "under the lease, the cluster opens it";
  breaker->OnDecision(BreakerDecision(2, v1::BREAKER_STATE_HALF_OPEN, 1));
  RequestCall trial;
  uint32_t note = 0;
  ASSERT_EQ(breaker->OnRequest(trial, note), FilterStatus::kContinue);
  EXPECT_TRUE(breaker->MayMarkResponse(note)) << "a trial's outcome re-opens or closes";
  now_ += 3000;
  EXPECT_TRUE(breaker->MayMarkResponse(0)) << "the lease lapsed";
}

TEST_F(BreakerFilterTest, MergingKeepsTheMoreCautiousState) {
  auto open_one = Make();
  Trip(*open_one);
  auto closed_one = Make();
  ASSERT_TRUE(closed_one->MergeState(open_one->ExportState()).ok());
  EXPECT_EQ(closed_one->StateName(), "open") << "open wins over closed";

  auto still_open = Make();
  Trip(*still_open);
  now_ += 100;
  auto later_open = Make();
  Trip(*later_open);  // opened 100 ms after still_open: longer remaining
  ASSERT_TRUE(still_open->MergeState(later_open->ExportState()).ok());
  now_ += config_.open_ms - 50;
  EXPECT_EQ(Call(*still_open, 200).status, FilterStatus::kRespond) << "the longer open time won";

  auto closed_again = Make();
  ASSERT_TRUE(open_one->MergeState(closed_again->ExportState()).ok());
  EXPECT_EQ(open_one->StateName(), "open") << "closed does not override open";
  EXPECT_FALSE(open_one->MergeState("{\"state\":\"sideways\"}").ok());
}

}  // namespace
}  // namespace middlepipe::scheduler::circuit_breaker
