#include "aggregator/aggregation.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "aggregator/builtin_aggregates.h"
#include "scheduler/filters/builtin_kinds.h"
#include "tests/support/aggregator_inputs.h"

namespace middlepipe::aggregator {
namespace {

constexpr char kBreakerConfig[] =
    R"({"min_requests": 10, "error_threshold_percent": 50, "open_ms": 1500, "window_ms": 5000,
        "half_open_requests": 2})";

// A report of web -> orders.
v1::Report Calls(const std::string& middlepipe, const std::string& kind, uint64_t ok, uint64_t failed) {
  return testing::CallsReport(middlepipe, kind, "web", "orders", ok, failed);
}

class AggregationTest : public ::testing::Test {
 protected:
  AggregationTest()
      : catalog_(*scheduler::KindCatalog::Create(scheduler::BuiltinKinds())),
        kinds_(BuiltinAggregates()) {
    AggregationOptions options;
    options.user = "alice";
    options.clock = [this] { return now_; };
    options.lease_ms = 3000;
    options.max_batches_per_second = 50;
    aggregation_ = std::make_unique<Aggregation>(options, &catalog_, &kinds_);
    v1::ConfigureRequest configure;
    configure.set_user("alice");
    configure.set_epoch(1);
    *configure.add_middlepipes() = testing::BoundMiddlepipe("breaker", "circuit-breaker", kBreakerConfig, "web", "orders");
    *configure.add_middlepipes() = testing::BoundMiddlepipe("stats", "monitor", "{}", "web", "orders");
    EXPECT_TRUE(aggregation_->Configure(configure).ok());
  }

  // Connects instance `i` of web with a sender that records what it gets.
  uint64_t Connect(uint32_t instance) {
    v1::AgentIdentity agent;
    agent.set_app("web");
    agent.set_instance(instance);
    agent.set_incarnation(7);
    return aggregation_->Connect(agent, [this, instance](const v1::DecisionBatch& batch) {
      for (const v1::Decision& decision : batch.decisions()) received_[instance].push_back(decision);
      return true;
    });
  }

  absl::StatusOr<uint64_t> Send(uint32_t instance, uint64_t sequence, std::vector<v1::Report> reports,
                                uint64_t incarnation = 7) {
    v1::ReportBatch batch;
    batch.mutable_agent()->set_app("web");
    batch.mutable_agent()->set_instance(instance);
    batch.mutable_agent()->set_incarnation(incarnation);
    batch.set_sequence(sequence);
    for (v1::Report& report : reports) {
      report.set_instance(instance);
      *batch.add_reports() = std::move(report);
    }
    return aggregation_->Ingest(batch);
  }

  v1::MiddlepipeState State(const std::string& middlepipe) {
    v1::QueryRequest query;
    query.set_middlepipe(middlepipe);
    v1::QueryResponse response = aggregation_->Query(query);
    EXPECT_EQ(response.states_size(), 1);
    return response.states(0);
  }

  int64_t now_ = 1'700'000'000'000;
  scheduler::KindCatalog catalog_;
  KindAggregateRegistry kinds_;
  std::unique_ptr<Aggregation> aggregation_;
  std::map<uint32_t, std::vector<v1::Decision>> received_;
};

TEST_F(AggregationTest, RefusesAnotherUsersOrABadSnapshotAndKeepsTheOld) {
  v1::ConfigureRequest configure;
  configure.set_user("mallory");
  configure.set_epoch(2);
  EXPECT_EQ(aggregation_->Configure(configure).code(), absl::StatusCode::kPermissionDenied);
  configure.set_user("alice");
  *configure.add_middlepipes() = testing::BoundMiddlepipe("breaker", "circuit-breaker", R"({"open_ms": -1})", "web", "orders");
  absl::Status refused = aggregation_->Configure(configure);
  EXPECT_EQ(refused.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(refused.message().find("open_ms"), std::string::npos) << refused;
  EXPECT_EQ(aggregation_->epoch(), 1u);
  EXPECT_EQ(aggregation_->Query({}).states_size(), 2) << "the old snapshot still holds";
}

TEST_F(AggregationTest, RefusesReportsTheUserDoesNotOwnOrThatAreOutOfRange) {
  v1::Report other_app = Calls("stats", "monitor", 1, 0);
  other_app.set_app("admin");
  v1::Report wrong_kind = Calls("stats", "circuit-breaker", 1, 0);
  v1::Report unknown = Calls("nope", "monitor", 1, 0);
  v1::Report out_of_range = Calls("stats", "monitor", 1, 0);
  out_of_range.mutable_request_stats()->set_failures(5);
  ASSERT_TRUE(Send(0, 1, {other_app, wrong_kind, unknown, out_of_range, Calls("stats", "monitor", 4, 1)}).ok());
  EXPECT_EQ(aggregation_->counters().rejected.count("unknown middlepipe or binding"), 0u)
      << "an unknown binding may be configured any moment: its reports wait";
  now_ += 5000;
  aggregation_->Tick();
  const AggregatorCounters counters = aggregation_->counters();
  EXPECT_EQ(counters.reports, 1u);
  EXPECT_EQ(counters.rejected.at("report for another app than the agent's"), 1u);
  EXPECT_EQ(counters.rejected.at("kind does not match the middlepipe"), 1u);
  EXPECT_EQ(counters.rejected.at("unknown middlepipe or binding"), 1u);
  EXPECT_EQ(counters.rejected.at("value out of range"), 1u);
  EXPECT_EQ(State("stats").total().requests(), 5u);
}

TEST_F(AggregationTest, AReportAheadOfItsConfigurationCountsWhenTheConfigurationArrives) {
  v1::Report early = Calls("late", "monitor", 3, 0);
  ASSERT_TRUE(Send(0, 1, {early}).ok());
  now_ += 1000;
  aggregation_->Tick();
  v1::ConfigureRequest configure;
  configure.set_user("alice");
  configure.set_epoch(2);
  *configure.add_middlepipes() = testing::BoundMiddlepipe("late", "monitor", "{}", "web", "orders");
  ASSERT_TRUE(aggregation_->Configure(configure).ok());
  EXPECT_EQ(State("late").total().requests(), 3u);
  EXPECT_TRUE(aggregation_->counters().rejected.empty());
}

TEST_F(AggregationTest, AppliesAResentBatchOnceAndANewIncarnationAfresh) {
  EXPECT_EQ(*Send(0, 1, {Calls("stats", "monitor", 3, 0)}), 1u);
  EXPECT_EQ(*Send(0, 2, {Calls("stats", "monitor", 3, 0)}), 2u);
  EXPECT_EQ(*Send(0, 2, {Calls("stats", "monitor", 3, 0)}), 2u) << "resent after a reconnect";
  EXPECT_EQ(State("stats").total().requests(), 6u);
  EXPECT_EQ(aggregation_->counters().duplicate_batches, 1u);
  EXPECT_EQ(*Send(0, 5, {Calls("stats", "monitor", 1, 0)}), 5u);
  EXPECT_EQ(aggregation_->counters().lost_batches, 2u);
  EXPECT_EQ(*Send(0, 1, {Calls("stats", "monitor", 1, 0)}, /*incarnation=*/8), 1u) << "agent restarted";
  EXPECT_EQ(State("stats").total().requests(), 8u);
}

TEST_F(AggregationTest, CapsFloods) {
  for (uint64_t sequence = 1; sequence <= 50; ++sequence) ASSERT_TRUE(Send(0, sequence, {}).ok());
  EXPECT_EQ(Send(0, 51, {}).status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(aggregation_->counters().rejected.at("flood: too many batches per second"), 1u);
  now_ += 1000;
  EXPECT_TRUE(Send(0, 51, {}).ok()) << "the refused batch is taken when resent later";
}

TEST_F(AggregationTest, PushesTheClusterDecisionToEveryInstanceAtOnceThenAsLeases) {
  for (uint32_t instance : {0, 1, 2}) Connect(instance);
  for (uint32_t instance : {0, 1, 2}) ASSERT_TRUE(Send(instance, 1, {Calls("breaker", "circuit-breaker", 2, 2)}).ok());
  // 12 calls, 6 failed (50%) across the cluster, 4 each: no instance alone has 10.
  for (uint32_t instance : {0, 1, 2}) {
    ASSERT_FALSE(received_[instance].empty());
    const v1::Decision& last = received_[instance].back();
    EXPECT_EQ(last.breaker().state(), v1::BREAKER_STATE_OPEN) << instance;
    EXPECT_EQ(last.middlepipe(), "breaker");
    EXPECT_EQ(last.app(), "web");
    EXPECT_EQ(last.service(), "orders");
    EXPECT_EQ(last.lease_ms(), 3000u);
  }
  const uint64_t sequence = received_[0].back().sequence();
  const size_t count = received_[0].size();
  now_ += 500;
  aggregation_->Tick();
  EXPECT_EQ(received_[0].size(), count) << "the lease is fresh: nothing re-sent";
  now_ += 500;
  aggregation_->Tick();
  ASSERT_EQ(received_[0].size(), count + 1) << "re-sent as a lease after lease/3";
  EXPECT_EQ(received_[0].back().sequence(), sequence) << "a lease keeps the sequence";
  EXPECT_EQ(State("breaker").state(), "open");
}

TEST_F(AggregationTest, HalfOpenPermitsFollowConnectedInstances) {
  Connect(0);
  const uint64_t connection = Connect(1);
  ASSERT_TRUE(Send(0, 1, {Calls("breaker", "circuit-breaker", 0, 10)}).ok());
  now_ += 1500;
  aggregation_->Tick();
  ASSERT_EQ(received_[0].back().breaker().state(), v1::BREAKER_STATE_HALF_OPEN);
  EXPECT_EQ(received_[0].back().breaker().trial_permits() + received_[1].back().breaker().trial_permits(), 2u);
  v1::AgentIdentity leaving;
  leaving.set_app("web");
  leaving.set_instance(1);
  aggregation_->Disconnect(leaving, connection);
  EXPECT_EQ(received_[0].back().breaker().trial_permits(), 2u) << "1's unused permit moved to 0";
}

TEST_F(AggregationTest, ANewerConnectionOfTheSameInstanceIsNotDisconnectedByTheOld) {
  const uint64_t old_connection = Connect(0);
  Connect(0);
  v1::AgentIdentity agent;
  agent.set_app("web");
  agent.set_instance(0);
  aggregation_->Disconnect(agent, old_connection);
  EXPECT_EQ(aggregation_->counters().agents_connected, 1u);
}

TEST_F(AggregationTest, QueryShowsWindowTotalsPercentilesAndReporters) {
  v1::Report report = Calls("stats", "monitor", 90, 10);
  v1::Histogram* latency = report.mutable_request_stats()->mutable_latency();
  for (double bound : {1.0, 10.0, 100.0}) latency->add_bounds_ms(bound);
  for (uint64_t count : {50, 40, 10, 0}) latency->add_counts(count);
  ASSERT_TRUE(Send(0, 1, {report}).ok());
  ASSERT_TRUE(Send(1, 1, {report}).ok());
  v1::MiddlepipeState state = State("stats");
  EXPECT_EQ(state.instances_reporting(), 2u);
  EXPECT_EQ(state.window().requests(), 200u);
  EXPECT_DOUBLE_EQ(state.figures().at("error_percent"), 10);
  EXPECT_DOUBLE_EQ(state.figures().at("p50_ms"), 1);
  EXPECT_DOUBLE_EQ(state.figures().at("p90_ms"), 10);
  EXPECT_NEAR(state.figures().at("p99_ms"), 91, 1e-9);
  now_ += 10'000;  // the monitor's default window passes
  state = State("stats");
  EXPECT_EQ(state.window().requests(), 0u);
  EXPECT_EQ(state.total().requests(), 200u);
  EXPECT_EQ(state.instances_reporting(), 0u);
}

TEST_F(AggregationTest, MergesADepartingInstancesStatisticsAndRefusesWhatIsNotBound) {
  v1::MergeStateRequest merge;
  merge.mutable_agent()->set_app("web");
  merge.mutable_agent()->set_instance(3);
  v1::FilterState* state = merge.add_states();
  state->set_middlepipe("stats");
  state->set_kind("monitor");
  state->set_app("web");
  state->set_service("orders");
  state->set_state(Calls("stats", "monitor", 7, 0).request_stats().SerializeAsString());
  EXPECT_EQ(*aggregation_->MergeState(merge), 1u);
  EXPECT_EQ(State("stats").total().requests(), 7u);
  state->set_middlepipe("nope");
  EXPECT_EQ(aggregation_->MergeState(merge).status().code(), absl::StatusCode::kNotFound);
  state->set_middlepipe("stats");
  state->set_state("garbage");
  EXPECT_EQ(aggregation_->MergeState(merge).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(State("stats").total().requests(), 7u) << "nothing merged from a refused request";
}

TEST_F(AggregationTest, ExportsTheBreakerStateForANewInstance) {
  ASSERT_TRUE(Send(0, 1, {Calls("breaker", "circuit-breaker", 0, 10)}).ok());
  v1::ExportStateRequest request;
  request.set_app("web");
  v1::ExportStateResponse response = aggregation_->ExportState(request);
  ASSERT_EQ(response.states_size(), 1);
  EXPECT_EQ(response.states(0).middlepipe(), "breaker");
  EXPECT_NE(response.states(0).state().find("\"open\""), std::string::npos);
}

TEST_F(AggregationTest, ReconfiguringKeepsWhatWasCountedAndDecisionsStayNewer) {
  Connect(0);
  ASSERT_TRUE(Send(0, 1, {Calls("stats", "monitor", 5, 0), Calls("breaker", "circuit-breaker", 0, 12)}).ok());
  ASSERT_FALSE(received_[0].empty());
  ASSERT_EQ(received_[0].back().breaker().state(), v1::BREAKER_STATE_OPEN);
  const uint64_t held = received_[0].back().sequence();

  v1::ConfigureRequest configure;
  configure.set_user("alice");
  configure.set_epoch(2);
  *configure.add_middlepipes() = testing::BoundMiddlepipe("breaker", "circuit-breaker", R"({"open_ms": 2000})", "web", "orders");
  *configure.add_middlepipes() = testing::BoundMiddlepipe("stats", "monitor", "{}", "web", "orders");
  ASSERT_TRUE(aggregation_->Configure(configure).ok());
  EXPECT_EQ(State("stats").total().requests(), 5u);
  EXPECT_EQ(State("breaker").total().requests(), 12u) << "a new config keeps what was counted";

  // The breaker decides afresh under its new config; the agent must take that decision
  // for a new one, not a stale repeat of the one it holds.
  ASSERT_TRUE(Send(0, 2, {Calls("breaker", "circuit-breaker", 0, 12)}).ok());
  ASSERT_GE(received_[0].size(), 2u);
  EXPECT_GT(received_[0].back().sequence(), held);

  configure.set_epoch(1);
  configure.clear_middlepipes();
  ASSERT_TRUE(aggregation_->Configure(configure).ok());
  EXPECT_EQ(aggregation_->epoch(), 2u) << "an older snapshot is ignored";
  EXPECT_EQ(aggregation_->Query({}).states_size(), 2);
}

TEST_F(AggregationTest, AgentsTicksAndQueriesRunConcurrently) {
  // Under TSan this is the aggregator's threading: gRPC threads ingest and connect, the
  // ticker decides, the controller queries, all at once.
  std::atomic<bool> running{true};
  std::vector<std::thread> threads;
  for (uint32_t instance = 0; instance < 4; ++instance) {
    threads.emplace_back([&, instance] {
      const uint64_t connection = Connect(instance);
      for (uint64_t sequence = 1; sequence <= 40; ++sequence) {
        EXPECT_TRUE(Send(instance, sequence, {Calls("breaker", "circuit-breaker", 1, 1),
                                              Calls("stats", "monitor", 2, 0)})
                        .ok());
      }
      v1::AgentIdentity agent;
      agent.set_app("web");
      agent.set_instance(instance);
      aggregation_->Disconnect(agent, connection);
    });
  }
  threads.emplace_back([&] {
    while (running.load()) aggregation_->Tick();
  });
  threads.emplace_back([&] {
    while (running.load()) aggregation_->Query({});
  });
  for (size_t i = 0; i < 4; ++i) threads[i].join();
  running = false;
  for (size_t i = 4; i < threads.size(); ++i) threads[i].join();
  EXPECT_EQ(State("stats").total().requests(), 4u * 40u * 2u);
  EXPECT_EQ(State("breaker").state(), "open");
}

}  // namespace
}  // namespace middlepipe::aggregator
