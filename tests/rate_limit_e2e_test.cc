// End to end, three instances of an app share one rate limit: a real controller (with the
// user's aggregator), three real mp-agents, the sample service, and the app's calls
// through the C++ hook. The cluster-wide admitted rate stays within the limit while the
// load moves between instances; with the aggregator gone each instance keeps limit/3.
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <regex>
#include <thread>

#include <httplib.h>

#include "clients/cpp/hook.h"
#include "common/files.h"
#include "gtest/gtest.h"
#include "tests/support/controller_process.h"
#include "tests/support/controller_steps.h"
#include "tests/support/sample_service.h"
#include "tests/support/wait_for.h"

namespace middlepipe {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using Stub = v1::Controller::Stub;

constexpr double kLimit = 60;  // requests per second, cluster-wide
constexpr double kBurst = 6;
constexpr int kInstances = 3;

// Calls the service through instance `instance`'s agent as fast as it can for `duration`;
// returns how many calls were admitted.
int Load(const testing::ScratchDir& scratch, int instance, int port, std::chrono::milliseconds duration) {
  HookOptions options;
  options.socket_path = scratch / ("agent-" + std::to_string(instance) + ".sock");
  Hook hook(options);
  httplib::Client http("127.0.0.1", port);
  int admitted = 0;
  const auto end = std::chrono::steady_clock::now() + duration;
  while (std::chrono::steady_clock::now() < end) {
    try {
      if (hook.Get(http, "orders", "/orders").status == 200) ++admitted;
    } catch (const RateLimitedError&) {
      std::this_thread::sleep_for(milliseconds(2));  // a client that backs off a little
    }
  }
  return admitted;
}

// Admitted calls of `instances` loading at once for `duration`.
int LoadTogether(const testing::ScratchDir& scratch, const std::vector<int>& instances, int port,
                 std::chrono::milliseconds duration) {
  std::vector<std::thread> threads;
  std::atomic<int> admitted{0};
  for (int instance : instances) {
    threads.emplace_back([&, instance] { admitted += Load(scratch, instance, port, duration); });
  }
  for (std::thread& thread : threads) thread.join();
  return admitted.load();
}

TEST(RateLimitEndToEndTest, TheClusterStaysWithinTheLimitAsLoadMovesAndWithoutTheAggregator) {
  testing::ScratchDir scratch;
  // The aggregator runs from a copy the test can take away, so it cannot come back.
  const std::string aggregator = scratch / "mp-aggregator";
  std::filesystem::copy_file("aggregator/mp-aggregator", aggregator);
  testing::ControllerProcess controller(scratch, {"--aggregator-binary", aggregator});
  ASSERT_TRUE(controller.Start().ok());
  ASSERT_TRUE(WriteFileAtomically(scratch / "token", controller.AdminToken(), 0600).ok());
  std::vector<testing::ChildProcess> agents;
  for (int instance = 0; instance < kInstances; ++instance) {
    auto agent = testing::ChildProcess::Start(
        {"filter-agent/mp-agent", "--controller", controller.target(), "--app", "web", "--instance",
         std::to_string(instance), "--token-file", scratch / "token", "--socket",
         scratch / ("agent-" + std::to_string(instance) + ".sock"), "--report-interval-ms", "100"},
        scratch.path());
    ASSERT_TRUE(agent.ok());
    ASSERT_TRUE(agent->WaitForStderrLine("running epoch 0", seconds(20))) << agent->Stderr();
    agents.push_back(std::move(*agent));
  }
  testing::SampleService service(scratch);
  controller::ControllerClient client = controller.Client(controller.AdminToken());
  ASSERT_TRUE(testing::RegisterService(client, "orders", "127.0.0.1", service.port()).ok());
  auto bound = testing::CreateAndBind(client, "rate-limit", "limit",
                                      R"({"requests_per_second": 60, "burst": 6})", "web", "orders");
  ASSERT_TRUE(bound.ok()) << bound.status();
  ASSERT_EQ(bound->instances_applied(), static_cast<uint32_t>(kInstances));

  // Every instance holds a share before the load starts.
  v1::GetMiddlepipeRequest get;
  get.set_name("limit");
  ASSERT_TRUE(testing::WaitFor([&] {
    auto shown = client.Call(&Stub::GetMiddlepipe, get);
    if (!shown.ok() || shown->live_size() != 1) return false;
    double total = 0;
    for (int instance = 0; instance < kInstances; ++instance) {
      auto share = shown->live(0).figures().find("share:" + std::to_string(instance));
      if (share == shown->live(0).figures().end()) return false;
      total += share->second;
    }
    return total <= kLimit && total > kLimit * 0.99;
  })) << "the aggregator did not hand out shares";

  // The load is on instance 0, then moves to 1 and 2: the cluster admits about the limit,
  // never much more (slack: a share moving between instances, one burst each).
  const milliseconds phase(3000);
  const double most = kLimit * 3 + kInstances * kBurst + kLimit * 0.5;
  const int alone = LoadTogether(scratch, {0}, service.port(), phase);
  EXPECT_LE(alone, most);
  EXPECT_GE(alone, kLimit * 3 * 0.5) << "the busy instance got most of the limit";
  const int moved = LoadTogether(scratch, {1, 2}, service.port(), phase);
  EXPECT_LE(moved, most);
  EXPECT_GE(moved, kLimit * 3 * 0.5);

  // The aggregator goes away for good; once the shares' lease lapses (3 s), each instance
  // admits limit/3 on its own: about the limit together.
  std::filesystem::remove(aggregator);
  const std::string log = controller.process().Stderr();
  std::smatch started;
  ASSERT_TRUE(std::regex_search(log, started, std::regex(R"(aggregator of user \S+ started \(pid (\d+)\))")));
  ASSERT_EQ(kill(static_cast<pid_t>(std::stoi(started[1])), SIGKILL), 0);
  LoadTogether(scratch, {0, 1, 2}, service.port(), milliseconds(3500));  // the lease lapses
  const int without = LoadTogether(scratch, {0, 1, 2}, service.port(), phase);
  EXPECT_LE(without, kLimit * 3 + kInstances * kBurst + kLimit * 0.2);
  EXPECT_GE(without, kLimit * 3 * 0.6) << "each instance keeps about limit/3";
  std::cerr << "admitted in 3 s at " << kLimit << "/s: one busy instance " << alone
            << ", two " << moved << ", three without the aggregator " << without << "\n";

  for (testing::ChildProcess& agent : agents) {
    agent.Signal(SIGTERM);
    EXPECT_EQ(agent.WaitForExit(seconds(20)), 0) << agent.Stderr();
  }
}

}  // namespace
}  // namespace middlepipe
