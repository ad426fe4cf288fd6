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
#include "common/files.h"
#include "gtest/gtest.h"
#include "tests/support/controller_process.h"
#include "tests/support/sample_service.h"

namespace middlepipe {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using Stub = v1::Controller::Stub;

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

template <typename Predicate>
bool WaitFor(Predicate done, milliseconds timeout = milliseconds(20000)) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(milliseconds(20));
  }
  return true;
}

TEST(AggregatorRestartTest, AgentsKeepWorkingAndTheNewAggregatorRebuildsFromFreshReports) {
  testing::ScratchDir scratch;
  testing::ControllerProcess controller(scratch);
  ASSERT_TRUE(controller.Start().ok());
  ASSERT_TRUE(WriteFileAtomically(scratch / "token", controller.AdminToken(), 0600).ok());
  auto agent = testing::ChildProcess::Start(
      {"filter-agent/mp-agent", "--controller", controller.target(), "--app", "web", "--token-file",
       scratch / "token", "--socket", scratch / "agent.sock", "--report-interval-ms", "100"},
      scratch.path());
  ASSERT_TRUE(agent.ok());
  testing::SampleService service(scratch);
  cli::ControllerClient client = controller.Client(controller.AdminToken());
  v1::RegisterServiceRequest orders;
  orders.set_name("orders");
  orders.add_endpoints()->set_host("127.0.0.1");
  orders.mutable_endpoints(0)->set_port(static_cast<uint32_t>(service.port()));
  ASSERT_TRUE(client.Call(&Stub::RegisterService, orders).ok());
  v1::CreateMiddlepipeRequest create;
  create.set_kind("circuit-breaker");
  create.set_name("orders-breaker");
  create.set_config_json(R"({"min_requests":4,"error_threshold_percent":50,"open_ms":60000})");
  ASSERT_TRUE(client.Call(&Stub::CreateMiddlepipe, create).ok());
  ASSERT_TRUE(agent->WaitForStderrLine("running epoch 0", seconds(20))) << agent->Stderr();
  v1::BindMiddlepipeRequest bind;
  bind.set_name("orders-breaker");
  bind.set_app("web");
  bind.set_service("orders");
  ASSERT_TRUE(client.Call(&Stub::BindMiddlepipe, bind).ok());

  HookOptions options;
  options.socket_path = scratch / "agent.sock";
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
      << agent->Stderr();
  // Either the instance's open state was adopted, or the fresh reports crossed the
  // threshold at the new aggregator first: both are decisions rebuilt from fresh reports.
  const std::string reason = live()->reason();
  EXPECT_TRUE(reason.find("adopted") != std::string::npos ||
              reason.find("across the cluster") != std::string::npos)
      << reason;
  EXPECT_THROW(hook.Get(http, "orders", "/orders"), CircuitOpenError)
      << "the cluster decision keeps it open";
  EXPECT_NE(agent->Stderr().find("aggregator reachable again"), std::string::npos) << agent->Stderr();

  agent->Signal(SIGTERM);
  EXPECT_EQ(agent->WaitForExit(seconds(20)), 0) << agent->Stderr();
}

}  // namespace
}  // namespace middlepipe
