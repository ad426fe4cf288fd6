// End to end: a real mp-controller, many fake agents speaking agent.proto, and the
// northbound API. Proves the two-phase commit from the agents' side: no agent ever runs
// an epoch that was not committed, all agents end at the same epoch, a rejecting agent
// fails the change cleanly, a silent one is reported, arriving agents get the committed
// chains before they count as ready, and users never see each other's objects.
#include <signal.h>

#include <memory>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/files.h"
#include "gtest/gtest.h"
#include "tests/support/controller_process.h"
#include "tests/support/fake_agent.h"

namespace middlepipe {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using testing::ControllerProcess;
using testing::FakeAgent;
using testing::FakeAgentOptions;
using testing::ScratchDir;
using Stub = v1::Controller::Stub;

class RolloutTest : public ::testing::Test {
 protected:
  void StartController(std::vector<std::string> flags = {}) {
    controller_ = std::make_unique<ControllerProcess>(scratch_, std::move(flags));
    ASSERT_TRUE(controller_->Start().ok());
    token_ = controller_->AdminToken();
  }

  std::vector<std::unique_ptr<FakeAgent>> StartAgents(const std::string& app, int count,
                                                      FakeAgentOptions base = {}) {
    std::vector<std::unique_ptr<FakeAgent>> agents;
    for (int i = 0; i < count; ++i) {
      FakeAgentOptions options = base;
      options.target = controller_->target();
      options.token = base.token.empty() ? token_ : base.token;
      options.app = app;
      options.index = static_cast<uint32_t>(base.index + i);
      options.address = absl::StrCat("198.18.0.", 10 + i);
      agents.push_back(std::make_unique<FakeAgent>(options));
    }
    // Every agent is synced to the app's committed epoch (0: no chains yet) first.
    for (auto& agent : agents) {
      if (!base.silent) {
        EXPECT_TRUE(agent->WaitForEpoch(0, seconds(20)));
      }
    }
    return agents;
  }

  controller::ControllerClient Client() { return controller_->Client(token_); }

  void Create(const std::string& kind, const std::string& name, const std::string& config = "{}") {
    v1::CreateMiddlepipeRequest request;
    request.set_kind(kind);
    request.set_name(name);
    request.set_config_json(config);
    auto created = Client().Call(&Stub::CreateMiddlepipe, request);
    ASSERT_TRUE(created.ok()) << created.status();
  }

  void RegisterService(const std::string& name) {
    v1::RegisterServiceRequest request;
    request.set_name(name);
    v1::Endpoint* endpoint = request.add_endpoints();
    endpoint->set_host("198.18.1.1");
    endpoint->set_port(8080);
    auto registered = Client().Call(&Stub::RegisterService, request);
    ASSERT_TRUE(registered.ok()) << registered.status();
  }

  absl::StatusOr<v1::BindMiddlepipeResponse> Bind(const std::string& name, const std::string& app,
                                                  const std::string& service) {
    v1::BindMiddlepipeRequest request;
    request.set_name(name);
    request.set_app(app);
    request.set_service(service);
    return Client().Call(&Stub::BindMiddlepipe, request);
  }

  v1::GetChainResponse Chain(const std::string& app, const std::string& service) {
    v1::GetChainRequest request;
    request.set_app(app);
    request.set_service(service);
    auto chain = Client().Call(&Stub::GetChain, request);
    EXPECT_TRUE(chain.ok()) << chain.status();
    return chain.ok() ? *chain : v1::GetChainResponse();
  }

  static void ExpectNoViolations(const std::vector<std::unique_ptr<FakeAgent>>& agents) {
    for (const auto& agent : agents) {
      EXPECT_TRUE(agent->violations().empty()) << agent->violations().front();
    }
  }

  ScratchDir scratch_;
  std::unique_ptr<ControllerProcess> controller_;
  std::string token_;
};

TEST_F(RolloutTest, BindCommitsOnEveryInstanceAtOneEpoch) {
  StartController();
  auto agents = StartAgents("web", 20);
  Create("circuit-breaker", "orders-breaker", R"({"latency_threshold_ms":200})");
  RegisterService("orders");

  auto bound = Bind("orders-breaker", "web", "orders");
  ASSERT_TRUE(bound.ok()) << bound.status();
  EXPECT_EQ(bound->rollout().epoch(), 1u);
  EXPECT_EQ(bound->rollout().instances_total(), 20u);
  EXPECT_EQ(bound->rollout().instances_applied(), 20u);
  EXPECT_EQ(bound->rollout().lagging_size(), 0);

  for (const auto& agent : agents) {
    ASSERT_EQ(agent->running_epoch(), 1u);
    std::vector<v1::Chain> chains = agent->running_chains();
    ASSERT_EQ(chains.size(), 1u);
    EXPECT_EQ(chains[0].service(), "orders");
    ASSERT_EQ(chains[0].filters_size(), 1);
    EXPECT_EQ(chains[0].filters(0).middlepipe(), "orders-breaker");
    EXPECT_NE(chains[0].filters(0).config_json().find("\"latency_threshold_ms\":200"),
              std::string::npos);
    EXPECT_EQ(chains[0].service_endpoints(0).port(), 8080u);
  }
  ExpectNoViolations(agents);

  v1::GetChainResponse chain = Chain("web", "orders");
  EXPECT_EQ(chain.chain().epoch(), 1u);
  EXPECT_EQ(chain.rollout().instances_applied(), 20u);
}

TEST_F(RolloutTest, ARejectingAgentFailsTheChangeAndNothingIsStoredOrRun) {
  StartController();
  FakeAgentOptions rejecting;
  rejecting.reject_middlepipe = "poison";
  rejecting.index = 4;
  auto agents = StartAgents("web", 4);
  auto rejector = StartAgents("web", 1, rejecting);
  Create("monitor", "watch");
  Create("monitor", "poison");
  RegisterService("orders");
  ASSERT_TRUE(Bind("watch", "web", "orders").ok());

  auto refused = Bind("poison", "web", "orders");
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(refused.status().message(),
            "instance web/4 cannot build epoch 2: poison: cannot build this filter; "
            "nothing was changed");

  // Not stored: the chain is still epoch 1 with one filter; poison is not bound.
  v1::GetChainResponse chain = Chain("web", "orders");
  EXPECT_EQ(chain.chain().epoch(), 1u);
  EXPECT_EQ(chain.chain().filters_size(), 1);
  // Not run: no agent ever committed epoch 2.
  for (const auto* group : {&agents, &rejector}) {
    for (const auto& agent : *group) {
      EXPECT_EQ(agent->committed_epochs(), (std::vector<uint64_t>{0, 1}));
    }
  }

  // The next valid change takes epoch 2, and everyone ends at the same epoch.
  Create("monitor", "watch-too");
  auto bound = Bind("watch-too", "web", "orders");
  ASSERT_TRUE(bound.ok()) << bound.status();
  EXPECT_EQ(bound->rollout().epoch(), 2u);
  EXPECT_EQ(bound->rollout().instances_applied(), 5u);
  for (const auto* group : {&agents, &rejector}) {
    for (const auto& agent : *group) EXPECT_EQ(agent->running_epoch(), 2u);
    ExpectNoViolations(*group);
  }
}

TEST_F(RolloutTest, ASilentAgentIsNamedAsLagging) {
  StartController({"--rollout-timeout-ms", "300"});
  auto agents = StartAgents("web", 2);
  FakeAgentOptions hung;
  hung.silent = true;
  hung.index = 2;
  auto silent = StartAgents("web", 1, hung);
  Create("monitor", "watch");
  RegisterService("orders");

  auto bound = Bind("watch", "web", "orders");
  ASSERT_TRUE(bound.ok()) << bound.status();
  EXPECT_EQ(bound->rollout().instances_total(), 3u);
  EXPECT_EQ(bound->rollout().instances_applied(), 2u);
  ASSERT_EQ(bound->rollout().lagging_size(), 1);
  EXPECT_EQ(bound->rollout().lagging(0).instance().index(), 2u);
  EXPECT_EQ(bound->rollout().lagging(0).reason(), "no prepare ack within 300 ms");
  EXPECT_FALSE(silent[0]->running_epoch().has_value());
  ExpectNoViolations(agents);
}

TEST_F(RolloutTest, AChangeWithNoInstancesCommitsAtOnceAndArrivingAgentsGetIt) {
  StartController();
  Create("circuit-breaker", "orders-breaker");
  RegisterService("orders");
  auto bound = Bind("orders-breaker", "web", "orders");
  ASSERT_TRUE(bound.ok()) << bound.status();
  EXPECT_EQ(bound->rollout().epoch(), 1u);
  EXPECT_EQ(bound->rollout().instances_total(), 0u);

  auto agents = StartAgents("web", 3);
  for (const auto& agent : agents) {
    ASSERT_TRUE(agent->WaitForEpoch(1, seconds(20)));
    EXPECT_EQ(agent->committed_epochs(), std::vector<uint64_t>{1}) << "got a chain before ready";
    ASSERT_EQ(agent->running_chains().size(), 1u);
  }
  auto apps = Client().Call(&Stub::ListApps, v1::ListAppsRequest());
  ASSERT_TRUE(apps.ok()) << apps.status();
  ASSERT_EQ(apps->apps_size(), 1);
  EXPECT_EQ(apps->apps(0).epoch(), 1u);
  ASSERT_EQ(apps->apps(0).instances_size(), 3);
  for (const auto& instance : apps->apps(0).instances()) {
    EXPECT_EQ(instance.state(), v1::INSTANCE_STATE_READY);
    EXPECT_EQ(instance.applied_epoch(), 1u);
  }
}

TEST_F(RolloutTest, AnAgentThatStopsHeartbeatingIsDropped) {
  StartController({"--heartbeat-interval-ms", "100"});
  FakeAgentOptions fast;
  fast.heartbeat_interval = milliseconds(50);
  auto agents = StartAgents("web", 2, fast);
  agents[1]->StopHeartbeats();

  std::optional<grpc::Status> ended = agents[1]->WaitForStreamEnd(seconds(10));
  ASSERT_TRUE(ended.has_value()) << "still connected 10 s after its last heartbeat";
  EXPECT_EQ(ended->error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(ended->error_message(), "missed heartbeats");
  auto apps = Client().Call(&Stub::ListApps, v1::ListAppsRequest());
  ASSERT_TRUE(apps.ok());
  ASSERT_EQ(apps->apps(0).instances_size(), 1);
  EXPECT_EQ(apps->apps(0).instances(0).index(), 0u);
  EXPECT_FALSE(agents[0]->WaitForStreamEnd(milliseconds(300)).has_value());
}

TEST_F(RolloutTest, UsersNeverSeeNorTouchEachOthersObjects) {
  ASSERT_TRUE(WriteFileAtomically(scratch_ / "tokens",
                                  "alice aaaaaaaaaaaaaaaaaaaa\nbob bbbbbbbbbbbbbbbbbbbb\n", 0600)
                  .ok());
  StartController({"--tokens", scratch_ / "tokens"});
  token_ = "aaaaaaaaaaaaaaaaaaaa";
  FakeAgentOptions bobs;
  bobs.token = "bbbbbbbbbbbbbbbbbbbb";
  auto alice_agents = StartAgents("web", 1);
  auto bob_agents = StartAgents("web", 1, bobs);
  Create("monitor", "watch");
  RegisterService("orders");
  ASSERT_TRUE(Bind("watch", "web", "orders").ok());
  ASSERT_TRUE(alice_agents[0]->WaitForEpoch(1, seconds(10)));

  controller::ControllerClient bob = controller_->Client("bbbbbbbbbbbbbbbbbbbb");
  auto listed = bob.Call(&Stub::ListMiddlepipes, v1::ListMiddlepipesRequest());
  ASSERT_TRUE(listed.ok());
  EXPECT_EQ(listed->middlepipes_size(), 0);
  v1::GetMiddlepipeRequest get;
  get.set_name("watch");
  EXPECT_EQ(bob.Call(&Stub::GetMiddlepipe, get).status().code(), absl::StatusCode::kNotFound);
  v1::BindMiddlepipeRequest bind;
  bind.set_name("watch");
  bind.set_app("web");
  bind.set_service("orders");
  auto refused = bob.Call(&Stub::BindMiddlepipe, bind);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(refused.status().message(), "middlepipe \"watch\" not found");
  auto services = bob.Call(&Stub::ListServices, v1::ListServicesRequest());
  ASSERT_TRUE(services.ok());
  for (const auto& service : services->services()) EXPECT_NE(service.name(), "orders");

  // Bob's "web" is not Alice's: his agent never saw her chain.
  EXPECT_EQ(bob_agents[0]->committed_epochs(), std::vector<uint64_t>{0});
  EXPECT_TRUE(bob_agents[0]->running_chains().empty());
}

TEST_F(RolloutTest, EveryAcknowledgedChangeSurvivesKillNine) {
  StartController();
  RegisterService("orders");
  for (int i = 0; i < 25; ++i) {
    Create("monitor", absl::StrCat("watch-", i));
    ASSERT_TRUE(Bind(absl::StrCat("watch-", i), "web", "orders").ok());
  }
  controller_->process().Signal(SIGKILL);
  ASSERT_EQ(controller_->process().WaitForExit(seconds(10)), 128 + SIGKILL);

  ASSERT_TRUE(controller_->Start().ok());
  auto listed = Client().Call(&Stub::ListMiddlepipes, v1::ListMiddlepipesRequest());
  ASSERT_TRUE(listed.ok()) << listed.status();
  EXPECT_EQ(listed->middlepipes_size(), 25);
  v1::GetChainResponse chain = Chain("web", "orders");
  EXPECT_EQ(chain.chain().epoch(), 25u);
  EXPECT_EQ(chain.chain().filters_size(), 25);
}

// The bug: after a controller restart, binding to a service that is an app failed for
// 2-7 s ("service \"orders\" not found") until that app's agents had reconnected.
TEST_F(RolloutTest, AnAppIsABindTargetRightAfterARestartBeforeItsAgentsReturn) {
  StartController();
  Create("monitor", "watch");
  {
    std::vector<std::unique_ptr<FakeAgent>> orders = StartAgents("orders", 1);
    ASSERT_TRUE(Bind("watch", "web", "orders").ok());
    ASSERT_TRUE(Client()
                    .Call(&Stub::UnbindMiddlepipe,
                          [] {
                            v1::UnbindMiddlepipeRequest request;
                            request.set_name("watch");
                            request.set_app("web");
                            request.set_service("orders");
                            return request;
                          }())
                    .ok());
  }  // orders' agent is gone
  controller_->process().Signal(SIGKILL);
  ASSERT_EQ(controller_->process().WaitForExit(seconds(10)), 128 + SIGKILL);
  ASSERT_TRUE(controller_->Start().ok());
  absl::StatusOr<v1::BindMiddlepipeResponse> bound = Bind("watch", "web", "orders");
  EXPECT_TRUE(bound.ok()) << bound.status();
}

// The bug: two agents claiming the same app and instance evicted each other about 10
// times a second forever, and the instance's address flipped between them. The first
// holder keeps the instance; the second is refused, with a reason, for as long as the
// first stays connected, and gets it once the first is gone.
TEST_F(RolloutTest, ASecondAgentClaimingAnInstanceIsRefusedWhileTheFirstHoldsIt) {
  StartController();
  FakeAgentOptions first = testing::AgentOptions(controller_->target(), token_, "web", 0);
  first.incarnation = "first-agent";
  first.address = "198.18.0.10";
  auto holder = std::make_unique<FakeAgent>(first);
  ASSERT_TRUE(holder->WaitForEpoch(0, seconds(20)));

  FakeAgentOptions second = first;
  second.incarnation = "second-agent";
  second.address = "198.18.0.99";
  auto claimant = std::make_unique<FakeAgent>(second);
  std::optional<grpc::Status> refused = claimant->WaitForStreamEnd(seconds(10));
  ASSERT_TRUE(refused.has_value());
  EXPECT_EQ(refused->error_code(), grpc::StatusCode::ALREADY_EXISTS);
  EXPECT_NE(refused->error_message().find("instance web/0 is held by another agent (address "
                                          "198.18.0.10)"),
            std::string::npos)
      << refused->error_message();
  EXPECT_FALSE(holder->WaitForStreamEnd(milliseconds(500)).has_value()) << "the holder was evicted";
  auto apps = Client().Call(&Stub::ListApps, v1::ListAppsRequest());
  ASSERT_TRUE(apps.ok()) << apps.status();
  ASSERT_EQ(apps->apps(0).instances_size(), 1);
  EXPECT_EQ(apps->apps(0).instances(0).address(), "198.18.0.10");

  // A reconnect of the holder itself (same incarnation) replaces its stale stream.
  auto reconnect = std::make_unique<FakeAgent>(first);
  ASSERT_TRUE(reconnect->WaitForEpoch(0, seconds(20)));
  std::optional<grpc::Status> replaced = holder->WaitForStreamEnd(seconds(10));
  ASSERT_TRUE(replaced.has_value());
  EXPECT_EQ(replaced->error_code(), grpc::StatusCode::UNAVAILABLE);

  // Once the holder is gone, the other agent gets the instance.
  reconnect.reset();
  holder.reset();
  auto successor = std::make_unique<FakeAgent>(second);
  EXPECT_TRUE(successor->WaitForEpoch(0, seconds(20)));
}

}  // namespace
}  // namespace middlepipe
