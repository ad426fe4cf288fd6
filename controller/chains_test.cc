#include "controller/chains.h"

#include <cstdlib>

#include "controller/store/sqlite_store.h"
#include "gtest/gtest.h"
#include "scheduler/filters/builtin_kinds.h"

namespace middlepipe::controller {
namespace {

class ChainsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string path = std::string(std::getenv("TEST_TMPDIR")) + "/" +
                       ::testing::UnitTest::GetInstance()->current_test_info()->name();
    store_ = *SqliteStore::Open(path);
  }

  void Add(const std::string& user, const std::string& name, const std::string& kind,
           const std::string& config_json = "{}") {
    ASSERT_TRUE(store_
                    ->Transact([&](StoreTransaction& tx) {
                      v1::Middlepipe middlepipe;
                      middlepipe.set_name(name);
                      middlepipe.set_kind(kind);
                      middlepipe.set_config_json(config_json);
                      middlepipe.set_generation(1);
                      return tx.PutMiddlepipe(user, middlepipe);
                    })
                    .ok());
  }

  void Bind(const std::string& user, const std::string& middlepipe, const std::string& app,
            const std::string& service, int position) {
    ASSERT_TRUE(store_
                    ->Transact([&](StoreTransaction& tx) {
                      v1::Binding binding;
                      binding.set_middlepipe(middlepipe);
                      binding.set_app(app);
                      binding.set_service(service);
                      binding.set_position(position);
                      return tx.PutBinding(user, binding);
                    })
                    .ok());
  }

  AppChains Chains(const std::string& user) {
    AppChains chains;
    EXPECT_TRUE(store_
                    ->DryRun([&](StoreTransaction& tx) {
                      auto computed = ComputeChains(tx, kinds_, user, [](const std::string& app) {
                        v1::Endpoint endpoint;
                        endpoint.set_host("198.18.0." + std::to_string(app.size()));
                        return std::vector<v1::Endpoint>{endpoint};
                      });
                      if (!computed.ok()) return computed.status();
                      chains = *std::move(computed);
                      return absl::OkStatus();
                    })
                    .ok());
    return chains;
  }

  static std::vector<std::string> Order(const v1::Chain& chain) {
    std::vector<std::string> names;
    for (const auto& filter : chain.filters()) names.push_back(filter.middlepipe());
    return names;
  }

  scheduler::KindCatalog kinds_ = *scheduler::KindCatalog::Create(scheduler::BuiltinKinds());
  std::unique_ptr<SqliteStore> store_;
};

TEST_F(ChainsTest, RequestLevelFirstThenPacketLevelEachByPosition) {
  Add("alice", "ids-a", "ids");
  Add("alice", "acct", "accounting");
  Add("alice", "breaker", "circuit-breaker");
  Add("alice", "watch", "monitor");
  // Packet-level filters at lower positions than the request-level ones.
  Bind("alice", "ids-a", "web", "orders", 0);
  Bind("alice", "acct", "web", "orders", 5);
  Bind("alice", "breaker", "web", "orders", 9);
  Bind("alice", "watch", "web", "orders", 7);

  AppChains chains = Chains("alice");
  ASSERT_EQ(chains["web"].size(), 1u);
  EXPECT_EQ(Order(chains["web"][0]),
            (std::vector<std::string>{"watch", "breaker", "ids-a", "acct"}));
  EXPECT_EQ(chains["web"][0].filters(0).level(), v1::LEVEL_REQUEST);
  EXPECT_EQ(chains["web"][0].filters(3).level(), v1::LEVEL_PACKET);
}

TEST_F(ChainsTest, EqualPositionsOrderByNameOneChainPerService) {
  Add("alice", "b", "monitor");
  Add("alice", "a", "monitor");
  Bind("alice", "b", "web", "orders", 1);
  Bind("alice", "a", "web", "orders", 1);
  Bind("alice", "a", "web", "billing", 1);
  Bind("alice", "a", "api", "orders", 1);

  AppChains chains = Chains("alice");
  ASSERT_EQ(chains["web"].size(), 2u);
  EXPECT_EQ(chains["web"][0].service(), "billing");
  EXPECT_EQ(Order(chains["web"][1]), (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(chains["api"].size(), 1u);
}

TEST_F(ChainsTest, EndpointsFromRegistrationOrFromTheAppsInstances) {
  Add("alice", "m", "monitor");
  ASSERT_TRUE(store_
                  ->Transact([](StoreTransaction& tx) {
                    v1::Service service;
                    service.set_name("db");
                    auto* endpoint = service.add_endpoints();
                    endpoint->set_host("198.18.9.9");
                    endpoint->set_port(5432);
                    return tx.PutService("alice", service);
                  })
                  .ok());
  Bind("alice", "m", "web", "db", 0);
  Bind("alice", "m", "web", "orders", 0);

  AppChains chains = Chains("alice");
  EXPECT_EQ(chains["web"][0].service_endpoints(0).port(), 5432u);
  EXPECT_EQ(chains["web"][1].service_endpoints(0).host(), "198.18.0.6");  // app "orders"
}

TEST_F(ChainsTest, ASplitsRoutesComeWithTheirEndpoints) {
  Add("alice", "canary", "traffic-split",
      R"({"routes":[{"service":"orders","weight":90},{"service":"orders-v2","weight":10}]})");
  Bind("alice", "canary", "web", "orders", 0);

  AppChains chains = Chains("alice");
  const v1::FilterSpec& split = chains["web"][0].filters(0);
  ASSERT_EQ(split.referenced_services_size(), 2);
  EXPECT_EQ(split.referenced_services(0).service(), "orders");
  EXPECT_EQ(split.referenced_services(1).service(), "orders-v2");
  EXPECT_EQ(split.referenced_services(1).endpoints(0).host(), "198.18.0.9");  // app "orders-v2"
}

TEST_F(ChainsTest, OnlyTheUsersOwnBindings) {
  Add("alice", "m", "monitor");
  Bind("alice", "m", "web", "orders", 0);
  EXPECT_TRUE(Chains("bob").empty());
}

TEST_F(ChainsTest, SameChainsIgnoresOnlyTheEpoch) {
  Add("alice", "m", "monitor");
  Bind("alice", "m", "web", "orders", 0);
  std::vector<v1::Chain> a = Chains("alice")["web"];
  std::vector<v1::Chain> b = a;
  b[0].set_epoch(42);
  EXPECT_TRUE(SameChains(a, b));
  b[0].mutable_filters(0)->set_config_json(R"({"buckets_ms":[1]})");
  EXPECT_FALSE(SameChains(a, b));
  EXPECT_FALSE(SameChains(a, {}));
}

}  // namespace
}  // namespace middlepipe::controller
