// End to end: real mp-agent processes against a real mp-controller. The agent registers,
// is synced before it counts as ready, builds each epoch's chains at PREPARE (refusing
// what it cannot run, which fails the change), runs them at COMMIT, survives a
// controller restart by reconnecting, and exits 0 on SIGTERM.
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>

#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/files.h"
#include "common/frame_codec.h"
#include "proto/hook.pb.h"
#include "gtest/gtest.h"
#include "tests/support/controller_process.h"
#include "tests/support/controller_steps.h"

namespace middlepipe {
namespace {

using std::chrono::seconds;
using Stub = v1::Controller::Stub;
using testing::ChildProcess;

class AgentTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(controller_.Start().ok());
    ASSERT_TRUE(WriteFileAtomically(scratch_ / "token", controller_.AdminToken() + "\n", 0600).ok());
  }

  ChildProcess StartAgent(uint32_t index, const std::vector<std::string>& extra = {}) {
    std::vector<std::string> argv = {
        "filter-agent/mp-agent", "--controller", controller_.target(), "--app", "web",
        "--instance", std::to_string(index), "--token-file", scratch_ / "token", "--address",
        absl::StrCat("198.18.0.", 10 + index), "--socket",
        scratch_ / absl::StrCat("agent-", index, ".sock")};
    argv.insert(argv.end(), extra.begin(), extra.end());
    auto agent = ChildProcess::Start(argv, scratch_.path());
    EXPECT_TRUE(agent.ok()) << agent.status();
    return std::move(*agent);
  }

  controller::ControllerClient Client() { return controller_.Client(controller_.AdminToken()); }

  // Waits until `count` instances of web are ready at `epoch`.
  bool WaitReady(int count, uint64_t epoch) {
    for (int i = 0; i < 400; ++i) {
      auto apps = Client().Call(&Stub::ListApps, v1::ListAppsRequest());
      int ready = 0;
      if (apps.ok()) {
        for (const auto& app : apps->apps()) {
          for (const auto& instance : app.instances()) {
            ready += instance.state() == v1::INSTANCE_STATE_READY &&
                     instance.applied_epoch() == epoch;
          }
        }
      }
      if (ready == count) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(25));
    }
    return false;
  }

  absl::Status CreateAndBind(const std::string& kind, const std::string& name,
                             const std::string& config) {
    controller::ControllerClient client = Client();
    absl::StatusOr<v1::Rollout> rollout =
        testing::CreateAndBind(client, kind, name, config, "web", "orders");
    if (!rollout.ok()) return rollout.status();
    last_rollout_ = *rollout;
    return absl::OkStatus();
  }

  testing::ScratchDir scratch_;
  testing::ControllerProcess controller_{scratch_, {"--heartbeat-interval-ms", "200"}};
  v1::Rollout last_rollout_;
};

TEST_F(AgentTest, RunsCommittedChainsAndRefusesWhatItCannotBuild) {
  ChildProcess first = StartAgent(0);
  ChildProcess second = StartAgent(1);
  ASSERT_TRUE(WaitReady(2, 0)) << first.Stderr();

  v1::RegisterServiceRequest service;
  service.set_name("orders");
  service.add_endpoints()->set_host("198.18.1.1");
  service.mutable_endpoints(0)->set_port(8080);
  ASSERT_TRUE(Client().Call(&Stub::RegisterService, service).ok());
  ASSERT_TRUE(CreateAndBind("circuit-breaker", "orders-breaker", R"({"latency_threshold_ms":200})").ok());
  EXPECT_EQ(last_rollout_.instances_applied(), 2u);
  EXPECT_EQ(last_rollout_.epoch(), 1u);
  EXPECT_TRUE(first.WaitForStderrLine("mp-agent INFO running epoch 1", seconds(5)));
  // The app's hook gets verdicts from the committed chain on the agent's socket.
  {
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    const std::string path = scratch_ / "agent-0.sock";
    std::strncpy(address.sun_path, path.c_str(), sizeof(address.sun_path) - 1);
    ASSERT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)), 0);
    v1::HookRequest request;
    request.set_request_id(1);
    request.mutable_on_request()->set_service("orders");
    ASSERT_TRUE(WriteFrame(fd, request.SerializeAsString()).ok());
    std::string payload;
    ASSERT_TRUE(ReadFrame(fd, &payload).ok());
    v1::HookReply reply;
    ASSERT_TRUE(reply.ParseFromString(payload));
    EXPECT_EQ(reply.verdict().action(), v1::ACTION_CONTINUE);
    EXPECT_EQ(reply.verdict().epoch(), 1u);
    ASSERT_GT(reply.verdict().markers_size(), 0);
    EXPECT_EQ(reply.verdict().markers(0).name(), "Middlepipe-Epoch");
    close(fd);
  }
  ASSERT_TRUE(CreateAndBind("monitor", "watch", "{}").ok());
  EXPECT_EQ(last_rollout_.instances_applied(), 2u);

  // A kind this agent cannot run (packet-level, and the test's agents run outside a
  // container's own network namespace): the change fails and names the instance.
  absl::Status refused = CreateAndBind("accounting", "acct", "{}");
  EXPECT_EQ(refused.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(refused.message().find("instance web/0 cannot build epoch 3: acct: packet-level "
                                   "filters (accounting) cannot run here"),
            absl::string_view::npos)
      << refused.message();
  EXPECT_TRUE(first.WaitForStderrLine(
      "mp-agent WARNING cannot build epoch 3: acct: packet-level filters", seconds(5)))
      << first.Stderr();
  EXPECT_TRUE(WaitReady(2, 2)) << "agents left their committed epoch";

  // Heartbeats keep them connected well past three heartbeat intervals.
  std::this_thread::sleep_for(std::chrono::milliseconds(1000));
  EXPECT_TRUE(WaitReady(2, 2));

  first.Signal(SIGTERM);
  EXPECT_EQ(first.WaitForExit(seconds(20)), 0) << first.Stderr();
  second.Signal(SIGTERM);
  EXPECT_EQ(second.WaitForExit(seconds(20)), 0) << second.Stderr();
}

TEST_F(AgentTest, ReconnectsAfterTheControllerRestartsAndKeepsItsEpoch) {
  ChildProcess agent = StartAgent(0);
  ASSERT_TRUE(WaitReady(1, 0));
  v1::RegisterServiceRequest service;
  service.set_name("orders");
  service.add_endpoints()->set_host("198.18.1.1");
  service.mutable_endpoints(0)->set_port(8080);
  ASSERT_TRUE(Client().Call(&Stub::RegisterService, service).ok());
  ASSERT_TRUE(CreateAndBind("monitor", "watch", "{}").ok());
  ASSERT_TRUE(WaitReady(1, 1));

  controller_.process().Signal(SIGKILL);
  ASSERT_EQ(controller_.process().WaitForExit(seconds(10)), 128 + SIGKILL);
  ASSERT_TRUE(agent.WaitForStderrLine("controller stream ended; reconnecting", seconds(10)));
  ASSERT_TRUE(controller_.Start().ok());
  EXPECT_TRUE(WaitReady(1, 1)) << agent.Stderr();

  agent.Signal(SIGTERM);
  EXPECT_EQ(agent.WaitForExit(seconds(20)), 0) << agent.Stderr();
}

// An agent that cannot make its fast-path segment says so and serves every call over
// the socket: slower, never without its middlepipes.
TEST_F(AgentTest, RunsWithoutTheFastPathWhenItCannotMakeTheSegment) {
  ChildProcess agent = StartAgent(0, {"--shm", scratch_ / "token/under-a-file.shm"});
  ASSERT_TRUE(WaitReady(1, 0)) << agent.Stderr();
  EXPECT_TRUE(agent.WaitForStderrLine("fast path off", seconds(5))) << agent.Stderr();
  agent.Signal(SIGTERM);
  EXPECT_EQ(agent.WaitForExit(seconds(20)), 0) << agent.Stderr();
  EXPECT_NE(agent.Stderr().find("no fast path"), std::string::npos) << agent.Stderr();
}

// An agent that cannot run packet filters (here: it runs outside a container's own network
// namespace, where it must never install rules) says so at start, and a packet-level bind
// is refused with that reason instead of being accepted and silently doing nothing.
TEST_F(AgentTest, RefusesPacketMiddlepipesWhereItCannotQueuePacketsAndSaysWhy) {
  ChildProcess agent = StartAgent(0);
  ASSERT_TRUE(WaitReady(1, 0)) << agent.Stderr();
  EXPECT_TRUE(agent.WaitForStderrLine("packet path off", seconds(5))) << agent.Stderr();
  v1::RegisterServiceRequest service;
  service.set_name("orders");
  service.add_endpoints()->set_host("198.18.1.1");
  service.mutable_endpoints(0)->set_port(8080);
  ASSERT_TRUE(Client().Call(&Stub::RegisterService, service).ok());
  absl::Status bound = CreateAndBind("accounting", "meter", "{}");
  EXPECT_FALSE(bound.ok());
  EXPECT_NE(bound.message().find("meter: packet-level filters (accounting) cannot run here"),
            absl::string_view::npos)
      << bound;
  agent.Signal(SIGTERM);
  EXPECT_EQ(agent.WaitForExit(seconds(20)), 0) << agent.Stderr();
  EXPECT_NE(agent.Stderr().find("packet path: off"), std::string::npos) << agent.Stderr();
}

}  // namespace
}  // namespace middlepipe
