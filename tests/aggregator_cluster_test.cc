// One real mp-aggregator and many simulated agents (tests/support/report_swarm.h): the
// cluster-wide decisions of issue 5, seen from the agents' side of the Exchange stream.
#include <gtest/gtest.h>

#include <thread>

#include "tests/support/aggregator_process.h"
#include "tests/support/report_swarm.h"
#include "tests/support/wait_for.h"

namespace middlepipe::testing {
namespace {

using std::chrono::milliseconds;

constexpr char kApp[] = "web";
constexpr char kService[] = "orders";

v1::BreakerState BreakerOf(const ReportSwarm& swarm, int agent) {
  std::optional<v1::Decision> decision = swarm.Latest(agent, "breaker");
  return decision.has_value() ? decision->breaker().state() : v1::BREAKER_STATE_UNSPECIFIED;
}

bool AllHold(const ReportSwarm& swarm, v1::BreakerState state) {
  for (int agent = 0; agent < swarm.size(); ++agent) {
    if (BreakerOf(swarm, agent) != state) return false;
  }
  return true;
}

class AggregatorClusterTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(aggregator_.Start().ok()); }

  v1::MiddlepipeState Live(const std::string& middlepipe) {
    grpc::ClientContext context;
    v1::QueryRequest request;
    request.set_middlepipe(middlepipe);
    v1::QueryResponse response;
    EXPECT_TRUE(aggregator_.stub().Query(&context, request, &response).ok());
    EXPECT_EQ(response.states_size(), 1);
    return response.states_size() > 0 ? response.states(0) : v1::MiddlepipeState();
  }

  ScratchDir scratch_;
  AggregatorProcess aggregator_{scratch_, "alice"};
};

TEST_F(AggregatorClusterTest, TheClusterOpensTheBreakerEverywhereAndProbesWithExactlyTheTrials) {
  constexpr int kAgents = 20;
  // 20 instances x 6 calls (3 failed) = 120 calls at 50%; 19 of them make only 114.
  ASSERT_TRUE(aggregator_
                  .Configure({BoundMiddlepipe("breaker", "circuit-breaker",
                                              R"({"min_requests": 115, "error_threshold_percent": 50,
                                                  "window_ms": 60000, "open_ms": 1500,
                                                  "half_open_requests": 3})",
                                              kApp, kService)})
                  .ok());
  ReportSwarm swarm(aggregator_.target(), kApp, kAgents);
  for (int agent = 0; agent < kAgents - 1; ++agent) {
    swarm.Send(agent, {CallsReport("breaker", "circuit-breaker", kApp, kService, 3, 3)});
  }
  ASSERT_TRUE(WaitFor([&] {
    for (int agent = 0; agent < kAgents - 1; ++agent) {
      if (swarm.Acknowledged(agent) < 1) return false;
    }
    return true;
  }));
  ASSERT_TRUE(WaitFor([&] { return AllHold(swarm, v1::BREAKER_STATE_CLOSED); }))
      << "every instance holds the cluster's (closed) decision once it reported";
  EXPECT_EQ(Live("breaker").state(), "closed") << "114 calls < min_requests";

  swarm.Send(kAgents - 1, {CallsReport("breaker", "circuit-breaker", kApp, kService, 3, 3)});
  ASSERT_TRUE(WaitFor([&] { return AllHold(swarm, v1::BREAKER_STATE_OPEN); }))
      << "no instance crossed the threshold alone, the cluster did: all must open";
  const v1::MiddlepipeState open = Live("breaker");
  EXPECT_EQ(open.state(), "open");
  EXPECT_NE(open.reason().find("across the cluster"), std::string::npos) << open.reason();
  EXPECT_EQ(open.window().requests(), 120u);
  EXPECT_EQ(open.instances_reporting(), static_cast<uint32_t>(kAgents));

  ASSERT_TRUE(WaitFor([&] { return AllHold(swarm, v1::BREAKER_STATE_HALF_OPEN); }));
  std::vector<int> holders;
  uint32_t permits = 0;
  for (int agent = 0; agent < kAgents; ++agent) {
    const uint32_t mine = swarm.Latest(agent, "breaker")->breaker().trial_permits();
    permits += mine;
    if (mine > 0) holders.push_back(agent);
  }
  EXPECT_EQ(permits, 3u) << "half_open_requests across the whole cluster, not per instance";

  for (int agent : holders) {
    const uint64_t mine = swarm.Latest(agent, "breaker")->breaker().trial_permits();
    swarm.Send(agent, {CallsReport("breaker", "circuit-breaker", kApp, kService, mine, 0,
                                   {{"trial", mine}, {"trial_success", mine}})});
  }
  ASSERT_TRUE(WaitFor([&] { return AllHold(swarm, v1::BREAKER_STATE_CLOSED); }))
      << "all trials succeeded: the cluster closes everywhere";
}

TEST_F(AggregatorClusterTest, RateSharesSumToAtMostTheLimitAndFollowDemand) {
  constexpr int kAgents = 4;
  constexpr double kLimit = 100;
  ASSERT_TRUE(aggregator_
                  .Configure({BoundMiddlepipe("limit", "rate-limit",
                                              R"({"requests_per_second": 100, "burst": 20})", kApp,
                                              kService)})
                  .ok());
  ReportSwarm swarm(aggregator_.target(), kApp, kAgents);
  auto shares = [&] {
    std::vector<double> all;
    for (int agent = 0; agent < kAgents; ++agent) {
      std::optional<v1::Decision> decision = swarm.Latest(agent, "limit");
      all.push_back(decision.has_value() ? decision->rate_budget().requests_per_second() : 0);
    }
    return all;
  };
  auto total = [](const std::vector<double>& all) {
    double sum = 0;
    for (double share : all) sum += share;
    return sum;
  };
  ASSERT_TRUE(WaitFor([&] { return total(shares()) > kLimit * 0.99; })) << "equal shares at first";
  EXPECT_LE(total(shares()), kLimit);

  // Instance 0 is busy (400 req/s offered), the rest idle; then the load moves to 3.
  for (int busy : {0, 3}) {
    std::atomic<bool> loading{true};
    std::thread load([&] {
      while (loading.load()) {
        swarm.Send(busy, {CallsReport("limit", "rate-limit", kApp, kService, 40, 0)});
        std::this_thread::sleep_for(milliseconds(100));
      }
    });
    const auto moved = std::chrono::steady_clock::now();
    const bool followed = WaitFor([&] { return shares()[static_cast<size_t>(busy)] > 0.9 * kLimit; });
    const auto took = std::chrono::duration_cast<milliseconds>(std::chrono::steady_clock::now() - moved);
    loading = false;
    load.join();
    ASSERT_TRUE(followed) << "instance " << busy << " did not get the idle instances' share";
    std::cerr << "share followed demand to instance " << busy << " in " << took.count() << " ms\n";
    EXPECT_LE(total(shares()), kLimit);
  }
}

TEST_F(AggregatorClusterTest, CountsEveryReportOnceAndRefusesWhatTheUserDoesNotOwn) {
  ASSERT_TRUE(aggregator_.Configure({BoundMiddlepipe("stats", "monitor", "{}", kApp, kService)}).ok());
  ReportSwarm swarm(aggregator_.target(), kApp, 10);
  for (int round = 0; round < 5; ++round) {
    for (int agent = 0; agent < 10; ++agent) {
      swarm.Send(agent, {CallsReport("stats", "monitor", kApp, kService, 9, 1),
                         CallsReport("secret", "monitor", kApp, kService, 100, 0)});
    }
  }
  ASSERT_TRUE(WaitFor([&] {
    for (int agent = 0; agent < 10; ++agent) {
      if (swarm.Acknowledged(agent) < 5) return false;
    }
    return true;
  }));
  const v1::MiddlepipeState stats = Live("stats");
  EXPECT_EQ(stats.total().requests(), 500u);
  EXPECT_EQ(stats.total().failures(), 50u);
  EXPECT_EQ(stats.instances_reporting(), 10u);
}

}  // namespace
}  // namespace middlepipe::testing
