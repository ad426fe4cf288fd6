// The aggregator is killed under a running app: requests never wait on it, the agent's
// breaker decides locally once the aggregator's lease lapses, the controller restarts
// and reconfigures the aggregator, the agent reconnects and resends what was not
// acknowledged, and the new aggregator rebuilds its state from fresh reports (adopting
// the breaker the instance opened meanwhile).
#include <signal.h>

#include <atomic>
#include <regex>
#include <thread>

#include <httplib.h>

#include "clients/cpp/hook.h"
#include "gtest/gtest.h"
#include "tests/support/breaker_stack.h"
#include "tests/support/wait_for.h"

namespace middlepipe {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using Stub = v1::Controller::Stub;
using testing::WaitFor;

// The pids of every aggregator the controller started, in order, from its log.
std::vector<pid_t> AggregatorPids(testing::ControllerProcess& controller) {
  const std::string log = controller.process().Stderr();
  static const std::regex started(R"(aggregator of user \S+ started \(pid (\d+)\))");
  std::vector<pid_t> pids;
  for (auto it = std::sregex_iterator(log.begin(), log.end(), started); it != std::sregex_iterator(); ++it) {
    pids.push_back(static_cast<pid_t>(std::stoi((*it)[1])));
  }
  return pids;
}

TEST(AggregatorRestartTest, AgentsKeepWorkingAndTheNewAggregatorRebuildsFromFreshReports) {
  testing::ScratchDir scratch;
  testing::BreakerStack stack(scratch);
  ASSERT_TRUE(stack
                  .Start(R"({"min_requests":4,"error_threshold_percent":50,"open_ms":60000})",
                         {"--report-interval-ms", "100"})
                  .ok());
  testing::ControllerProcess& controller = stack.controller();
  testing::ChildProcess& agent = stack.agent();
  testing::SampleService& service = stack.service();
  controller::ControllerClient& client = stack.client();

  HookOptions options;
  options.socket_path = stack.hook_socket();
  Hook hook(options);
  httplib::Client http("127.0.0.1", service.port());
  v1::GetMiddlepipeRequest get;
  get.set_name("orders-breaker");
  auto live = [&]() -> std::optional<v1::MiddlepipeState> {
    absl::StatusOr<v1::GetMiddlepipeResponse> shown = client.Call(&Stub::GetMiddlepipe, get);
    if (!shown.ok() || shown->live_size() != 1) return std::nullopt;
    return shown->live(0);
  };
  for (int i = 0; i < 5; ++i) ASSERT_EQ(hook.Get(http, "orders", "/orders").status, 200);
  ASSERT_TRUE(WaitFor([&] {
    auto state = live();
    return state && state->total().requests() == 5;
  })) << "the aggregator counts the calls";

  // Kill the aggregator; the app's calls go on without waiting for it.
  std::vector<pid_t> pids = AggregatorPids(controller);
  ASSERT_EQ(pids.size(), 1u);
  ASSERT_EQ(kill(pids[0], SIGKILL), 0);
  for (int i = 0; i < 5; ++i) EXPECT_EQ(hook.Get(http, "orders", "/orders").status, 200);

  // The service fails; the breaker opens, decided by the instance alone once the last
  // decision's lease lapsed, or by the restarted aggregator if it is back by then.
  service.Fail(true);
  bool open = false;
  ASSERT_TRUE(WaitFor([&] {
    try {
      hook.Get(http, "orders", "/orders");
    } catch (const CircuitOpenError&) {
      open = true;
    }
    return open;
  })) << "the breaker did not open";

  // The controller restarted the aggregator; it rebuilds from the agent's fresh reports
  // (and the batches the agent resent) and adopts the open breaker instead of closing it.
  ASSERT_TRUE(WaitFor([&] { return AggregatorPids(controller).size() == 2; })) << controller.process().Stderr();
  ASSERT_TRUE(WaitFor([&] {
    auto state = live();
    return state && state->state() == "open" && state->instances_reporting() == 1;
  })) << (live() ? live()->DebugString() : "no live state") << controller.process().Stderr()
      << agent.Stderr();
  // Either the instance's open state was adopted, or the fresh reports crossed the
  // threshold at the new aggregator first: both are decisions rebuilt from fresh reports.
  const std::string reason = live()->reason();
  EXPECT_TRUE(reason.find("adopted") != std::string::npos ||
              reason.find("across the cluster") != std::string::npos)
      << reason;
  EXPECT_THROW(hook.Get(http, "orders", "/orders"), CircuitOpenError)
      << "the cluster decision keeps it open";
  EXPECT_NE(agent.Stderr().find("aggregator reachable again"), std::string::npos) << agent.Stderr();

  agent.Signal(SIGTERM);
  EXPECT_EQ(agent.WaitForExit(seconds(20)), 0) << agent.Stderr();
}

}  // namespace
}  // namespace middlepipe
