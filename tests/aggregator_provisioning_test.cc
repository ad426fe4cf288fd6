// End to end: the controller starts a user's mp-aggregator on the user's first
// middlepipe, tells the user's agents where it is, restarts it when it dies, brings it
// back after a controller restart, and stops it on shutdown.
#include <signal.h>

#include <httplib.h>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "common/files.h"
#include "gtest/gtest.h"
#include "tests/support/controller_process.h"
#include "tests/support/fake_agent.h"
#include "tests/support/grpc_health.h"
#include "tests/support/wait_for.h"

namespace middlepipe {
namespace {

using std::chrono::seconds;
using Stub = v1::Controller::Stub;

// The pid in the controller's latest "aggregator of user U started (pid N)" line.
pid_t StartedPid(const std::string& log, const std::string& user) {
  const std::string marker = absl::StrCat("aggregator of user ", user, " started (pid ");
  size_t at = log.rfind(marker);
  if (at == std::string::npos) return -1;
  at += marker.size();
  pid_t pid = -1;
  return absl::SimpleAtoi(log.substr(at, log.find(')', at) - at), &pid) ? pid : -1;
}

class AggregatorProvisioningTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(controller_.Start().ok()); }

  std::string AggregatorTarget() { return "unix://" + controller_.data_dir() + "/aggregators/admin.sock"; }

  void CreateMiddlepipe(const std::string& name) {
    v1::CreateMiddlepipeRequest request;
    request.set_kind("monitor");
    request.set_name(name);
    ASSERT_TRUE(controller_.Client(controller_.AdminToken()).Call(&Stub::CreateMiddlepipe, request).ok());
  }

  bool Serving() {
    auto serving = testing::IsServing(AggregatorTarget(), std::chrono::seconds(10));
    return serving.ok() && *serving;
  }

  testing::ScratchDir scratch_;
  testing::ControllerProcess controller_{
      scratch_, {"--aggregator-binary", "aggregator/mp-aggregator"}};
};

TEST_F(AggregatorProvisioningTest, StartsOnTheFirstMiddlepipeAndAgentsLearnWhere) {
  testing::FakeAgent agent(
      testing::AgentOptions(controller_.target(), controller_.AdminToken(), "web", 0));
  ASSERT_TRUE(agent.WaitForEpoch(0, seconds(20)));
  EXPECT_EQ(agent.aggregator_address(), "") << "no middlepipe yet, no aggregator";
  EXPECT_EQ(StartedPid(controller_.process().Stderr(), "admin"), -1);

  CreateMiddlepipe("watch");
  ASSERT_TRUE(Serving()) << controller_.process().Stderr();

  // Agents that connected before learn the address with their next chains.
  v1::RegisterServiceRequest service;
  service.set_name("orders");
  service.add_endpoints()->set_host("198.18.1.1");
  service.mutable_endpoints(0)->set_port(80);
  controller::ControllerClient client = controller_.Client(controller_.AdminToken());
  ASSERT_TRUE(client.Call(&Stub::RegisterService, service).ok());
  v1::BindMiddlepipeRequest bind;
  bind.set_name("watch");
  bind.set_app("web");
  bind.set_service("orders");
  ASSERT_TRUE(client.Call(&Stub::BindMiddlepipe, bind).ok());
  EXPECT_EQ(agent.aggregator_address(), AggregatorTarget());

  // And agents that connect later are told in Welcome.
  testing::FakeAgent late(
      testing::AgentOptions(controller_.target(), controller_.AdminToken(), "web", 1));
  ASSERT_TRUE(late.WaitForEpoch(1, seconds(20)));
  EXPECT_EQ(late.aggregator_address(), AggregatorTarget());

  // The controller configured the aggregator with the binding, and its /metrics is at
  // the address it wrote beside its socket.
  absl::StatusOr<std::string> http_address;
  ASSERT_TRUE(testing::WaitFor([&] {
    http_address = ReadFile(controller_.data_dir() + "/aggregators/admin.http");
    return http_address.ok();
  }));
  const std::string host_port(absl::StripTrailingAsciiWhitespace(*http_address));
  httplib::Client metrics("127.0.0.1", std::stoi(host_port.substr(host_port.rfind(':') + 1)));
  std::string page;
  ASSERT_TRUE(testing::WaitFor([&] {
    httplib::Result result = metrics.Get("/metrics");
    page = result ? result->body : "";
    return page.find(R"(middlepipe="watch",kind="monitor",app="web",service="orders")") != std::string::npos;
  })) << page;
  EXPECT_NE(page.find("mp_aggregator_agents_connected"), std::string::npos);
}

TEST_F(AggregatorProvisioningTest, ADeadAggregatorIsRestarted) {
  CreateMiddlepipe("watch");
  ASSERT_TRUE(Serving());
  const pid_t first = StartedPid(controller_.process().Stderr(), "admin");
  ASSERT_GT(first, 0);
  kill(first, SIGKILL);

  ASSERT_TRUE(controller_.process().WaitForStderrLine(
      absl::StrCat("aggregator of user admin (pid ", first, ") exited with signal 9; restarting in"),
      seconds(10)))
      << controller_.process().Stderr();
  for (int i = 0; i < 200 && StartedPid(controller_.process().Stderr(), "admin") == first; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_NE(StartedPid(controller_.process().Stderr(), "admin"), first);
  EXPECT_TRUE(Serving());
}

TEST_F(AggregatorProvisioningTest, ComesBackAfterAControllerRestartAndStopsWithIt) {
  CreateMiddlepipe("watch");
  ASSERT_TRUE(Serving());
  const pid_t before = StartedPid(controller_.process().Stderr(), "admin");

  // kill -9 of the controller takes its aggregator down too (no orphan keeps the socket).
  controller_.process().Signal(SIGKILL);
  ASSERT_EQ(controller_.process().WaitForExit(seconds(10)), 128 + SIGKILL);
  for (int i = 0; i < 200 && kill(before, 0) == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(25));
  }
  EXPECT_NE(kill(before, 0), 0) << "aggregator outlived its controller";

  ASSERT_TRUE(controller_.Start().ok());
  EXPECT_TRUE(Serving()) << controller_.process().Stderr();
  const pid_t after = StartedPid(controller_.process().Stderr(), "admin");
  ASSERT_GT(after, 0);

  controller_.process().Signal(SIGTERM);
  EXPECT_EQ(controller_.process().WaitForExit(seconds(20)), 0);
  EXPECT_NE(controller_.process().Stderr().find(
                absl::StrCat("aggregator of user admin (pid ", after, ") stopped with exit code 0")),
            std::string::npos)
      << controller_.process().Stderr();
}

}  // namespace
}  // namespace middlepipe
