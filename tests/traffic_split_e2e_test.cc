// End to end, a canary as a user runs one: a real controller, a real mp-agent for app
// "web", the service "orders" and its next version "orders-v2" (two real sample
// services), and the app calling "orders" through the C++ hook with a breaker and a
// traffic split bound. The split sends its share of calls to orders-v2 (the app's code
// does not change), keeps a user on one version with a sticky header, and `mp middlepipe`
// shows what went where and how each version fared.
#include <memory>
#include <optional>
#include <set>

#include <httplib.h>

#include "absl/strings/str_cat.h"
#include "clients/cpp/hook.h"
#include "gtest/gtest.h"
#include "tests/support/breaker_stack.h"
#include "tests/support/controller_steps.h"
#include "tests/support/wait_for.h"

namespace middlepipe {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using Stub = v1::Controller::Stub;

class TrafficSplitEndToEndTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // A breaker that only opens when everything fails: it sits in the chain too (the
    // split runs after it) and must not get in the way of a failing canary.
    ASSERT_TRUE(stack_.Start(R"({"error_threshold_percent":100})").ok());
    canary_.emplace(scratch_);
    http_ = std::make_unique<httplib::Client>("127.0.0.1", stack_.service().port());
    http_->set_tcp_nodelay(true);
    ASSERT_TRUE(
        testing::RegisterService(stack_.client(), "orders-v2", "127.0.0.1", canary_->port()).ok());
  }

  // Sets the split: `weight` percent to orders-v2, the rest to orders.
  void Split(int weight, const std::string& extra = "") {
    const std::string config =
        absl::StrCat(R"({"routes":[{"service":"orders","weight":)", 100 - weight,
                     R"(},{"service":"orders-v2","weight":)", weight, "}]", extra, "}");
    if (!created_) {
      auto bound = testing::CreateAndBind(stack_.client(), "traffic-split", "canary", config,
                                          "web", "orders");
      ASSERT_TRUE(bound.ok()) << bound.status();
      EXPECT_EQ(bound->instances_applied(), 1u);
      created_ = true;
      return;
    }
    v1::UpdateMiddlepipeRequest update;
    update.set_name("canary");
    update.set_config_json(config);
    auto updated = stack_.client().Call(&Stub::UpdateMiddlepipe, update);
    ASSERT_TRUE(updated.ok()) << updated.status();
    EXPECT_EQ(updated->rollout().instances_applied(), 1u);
  }

  HttpResponse Get(const std::string& user = "") {
    HttpRequest request;
    request.path = "/orders";
    if (!user.empty()) request.headers.emplace_back("X-User", user);
    return hook_.Send(*http_, "orders", request);
  }

  testing::ScratchDir scratch_;
  testing::BreakerStack stack_{scratch_};
  std::optional<testing::SampleService> canary_;
  bool created_ = false;
  Hook hook_{HookOptions{stack_.hook_socket(), nullptr, milliseconds(1000), true, ""}};
  std::unique_ptr<httplib::Client> http_;  // the app's client for orders
};

TEST_F(TrafficSplitEndToEndTest, ARouteToAServiceThatDoesNotExistIsRefused) {
  v1::CreateMiddlepipeRequest create;
  create.set_kind("traffic-split");
  create.set_name("canary");
  create.set_config_json(R"({"routes":[{"service":"orders","weight":90},{"service":"orders-v3","weight":10}]})");
  auto refused = stack_.client().Call(&Stub::CreateMiddlepipe, create);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(refused.status().message(),
            "config: service \"orders-v3\" not found: register it with mp register-service, or "
            "run an app of that name");
  v1::GetMiddlepipeRequest get;
  get.set_name("canary");
  EXPECT_EQ(stack_.client().Call(&Stub::GetMiddlepipe, get).status().code(),
            absl::StatusCode::kNotFound)
      << "a refused create stores nothing";
}

TEST_F(TrafficSplitEndToEndTest, ACanaryGetsItsShareStickyUsersStayAndTheSplitShowsLive) {
  Split(20);

  // 1,000 calls: orders-v2 gets 20% ± 4σ (σ = 12.6), and together the two get them all.
  const int orders_before = stack_.service().calls();
  for (int i = 0; i < 1000; ++i) ASSERT_EQ(Get().status, 200) << i;
  const int to_orders = stack_.service().calls() - orders_before;
  const int to_canary = canary_->calls();
  EXPECT_EQ(to_orders + to_canary, 1000);
  EXPECT_NEAR(to_canary, 200, 51);

  // Sticky by user: the canary fails, so a user's calls all fail or all succeed.
  Split(20, R"(,"sticky_header":"X-User")");
  canary_->Fail(true);
  std::set<int> statuses_seen;
  int users_on_canary = 0;
  for (int user = 0; user < 100; ++user) {
    std::set<int> statuses;
    for (int call = 0; call < 5; ++call) statuses.insert(Get(absl::StrCat("user-", user)).status);
    EXPECT_EQ(statuses.size(), 1u) << "user-" << user << " moved between versions";
    if (statuses.count(500) != 0) ++users_on_canary;
    statuses_seen.insert(statuses.begin(), statuses.end());
  }
  EXPECT_EQ(statuses_seen, (std::set<int>{200, 500}));
  EXPECT_NEAR(users_on_canary, 20, 16);  // 4σ of 100 users at 20%

  // Rolled back to 0%: nothing reaches orders-v2 any more.
  Split(0);
  const int canary_calls = canary_->calls();
  for (int i = 0; i < 50; ++i) EXPECT_EQ(Get(absl::StrCat("user-", i)).status, 200);
  EXPECT_EQ(canary_->calls(), canary_calls);

  // `mp middlepipe canary` shows what went where and how each version fared.
  v1::GetMiddlepipeRequest get;
  get.set_name("canary");
  absl::StatusOr<v1::GetMiddlepipeResponse> shown;
  ASSERT_TRUE(testing::WaitFor(
      [&] {
        shown = stack_.client().Call(&Stub::GetMiddlepipe, get);
        return shown.ok() && shown->live_size() == 1 &&
               shown->live(0).total().requests() >= 1000u + 500u + 50u;
      },
      seconds(10), milliseconds(100))) << (shown.ok() ? shown->DebugString() : shown.status().ToString());
  const auto& counters = shown->live(0).total().counters();
  EXPECT_EQ(counters.at("route:orders") + counters.at("route:orders-v2"), 1550u);
  EXPECT_EQ(counters.at("route_failed:orders-v2"), static_cast<uint64_t>(users_on_canary) * 5);
  EXPECT_EQ(counters.count("route_failed:orders"), 0u);

  testing::Completed mp = *testing::RunCommand(
      {"cli/mp", "middlepipe", "canary"}, scratch_.path(),
      stack_.controller().CliEnv(stack_.controller().AdminToken()));
  EXPECT_EQ(mp.exit_code, 0) << mp.err;
  EXPECT_NE(mp.out.find("by kind: route:orders "), std::string::npos) << mp.out;
  EXPECT_NE(mp.out.find("route_failed:orders-v2 "), std::string::npos) << mp.out;
}

}  // namespace
}  // namespace middlepipe
