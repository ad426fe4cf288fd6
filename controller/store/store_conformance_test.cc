// One suite every Store backend passes: what callers may rely on, whatever keeps the data.
// SQLite runs on a file in the test's temporary directory; etcd on a real 3-member cluster
// (tests/support/etcd_cluster.h) shared by this binary's tests, each test under a key
// prefix of its own. "Reopen" is a new Store over the same data: the SQLite file opened
// again, or a second client of the same cluster and prefix.
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>

#include "controller/store/etcd_store.h"
#include "controller/store/sqlite_store.h"
#include "controller/store/store_test_objects.h"
#include "gtest/gtest.h"
#include "tests/support/etcd_cluster.h"

namespace middlepipe::controller {
namespace {

// Opens the store a test uses, again each time it is called.
class StoreBackend {
 public:
  virtual ~StoreBackend() = default;
  virtual absl::StatusOr<std::unique_ptr<Store>> Open() = 0;
};

class SqliteBackend final : public StoreBackend {
 public:
  explicit SqliteBackend(const std::string& test_name)
      : path_(std::string(std::getenv("TEST_TMPDIR")) + "/" + test_name + ".db") {
    std::remove(path_.c_str());
  }
  absl::StatusOr<std::unique_ptr<Store>> Open() override {
    absl::StatusOr<std::unique_ptr<SqliteStore>> store = SqliteStore::Open(path_);
    if (!store.ok()) return store.status();
    return std::unique_ptr<Store>(*std::move(store));
  }

 private:
  const std::string path_;
};

class EtcdBackend final : public StoreBackend {
 public:
  EtcdBackend(const testing::EtcdCluster& cluster, const std::string& test_name)
      : endpoints_(cluster.EndpointList()), prefix_("/conformance/" + test_name + "/") {}
  absl::StatusOr<std::unique_ptr<Store>> Open() override {
    EtcdStoreOptions options;
    options.endpoints = endpoints_;
    options.key_prefix = prefix_;
    absl::StatusOr<std::unique_ptr<EtcdStore>> store = EtcdStore::Open(options);
    if (!store.ok()) return store.status();
    return std::unique_ptr<Store>(*std::move(store));
  }

 private:
  const std::vector<std::string> endpoints_;
  const std::string prefix_;
};

class StoreConformanceTest : public ::testing::TestWithParam<std::string> {
 protected:
  static void SetUpTestSuite() {
    auto cluster = testing::EtcdCluster::Start(3);
    ASSERT_TRUE(cluster.ok()) << cluster.status();
    cluster_ = std::move(*cluster);
  }
  static void TearDownTestSuite() { cluster_.reset(); }

  void SetUp() override {
    // "RoundTrips.../etcd" -> "RoundTrips..._etcd": one file or prefix per test.
    std::string name = ::testing::UnitTest::GetInstance()->current_test_info()->name();
    for (char& c : name) {
      if (c == '/') c = '_';
    }
    if (GetParam() == "sqlite") {
      backend_ = std::make_unique<SqliteBackend>(name);
    } else {
      ASSERT_NE(cluster_, nullptr);
      backend_ = std::make_unique<EtcdBackend>(*cluster_, name);
    }
    auto store = backend_->Open();
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = *std::move(store);
  }

  // The suite's one cluster: starting three members per test would triple the suite's
  // time for nothing, since every test has a key prefix of its own.
  static inline std::unique_ptr<testing::EtcdCluster> cluster_;
  std::unique_ptr<StoreBackend> backend_;
  std::unique_ptr<Store> store_;
};

TEST_P(StoreConformanceTest, RoundTripsEveryObjectAcrossReopen) {
  ASSERT_TRUE(
      store_
          ->Transact([](StoreTransaction& tx) {
            EXPECT_TRUE(tx.PutMiddlepipe("alice", Breaker("orders-breaker")).ok());
            v1::Service service;
            service.set_name("orders");
            auto* endpoint = service.add_endpoints();
            endpoint->set_host("198.18.0.9");
            endpoint->set_port(8080);
            EXPECT_TRUE(tx.PutService("alice", service).ok());
            EXPECT_TRUE(
                tx.PutBinding("alice", MakeBinding("orders-breaker", "web", "orders", 3)).ok());
            return tx.SetEpoch("alice", "web", 7);
          })
          .ok());
  store_.reset();
  auto reopened = backend_->Open();
  ASSERT_TRUE(reopened.ok()) << reopened.status();

  ASSERT_TRUE((*reopened)
                  ->Transact([](StoreTransaction& tx) {
                    auto middlepipe = tx.GetMiddlepipe("alice", "orders-breaker");
                    EXPECT_TRUE(middlepipe.ok() && middlepipe->has_value());
                    EXPECT_EQ((*middlepipe)->config_json(), R"({"open_ms":5000})");
                    EXPECT_EQ((*middlepipe)->updated_unix_ms(), 2000);
                    auto service = tx.GetService("alice", "orders");
                    EXPECT_TRUE(service.ok() && service->has_value());
                    EXPECT_EQ((*service)->endpoints(0).host(), "198.18.0.9");
                    EXPECT_EQ((*service)->endpoints(0).port(), 8080u);
                    EXPECT_EQ((*service)->type(), v1::SERVICE_TYPE_EXTERNAL);
                    auto bindings = tx.ListBindings("alice");
                    EXPECT_EQ(bindings->size(), 1u);
                    EXPECT_EQ((*bindings)[0].position(), 3);
                    EXPECT_EQ(*tx.GetEpoch("alice", "web"), 7u);
                    EXPECT_EQ(*tx.GetEpoch("alice", "never-seen"), 0u);
                    EXPECT_EQ(*tx.ListApps("alice"), std::vector<std::string>{"web"});
                    return absl::OkStatus();
                  })
                  .ok());
}

TEST_P(StoreConformanceTest, UsersNeverSeeEachOthersObjects) {
  ASSERT_TRUE(store_
                  ->Transact([](StoreTransaction& tx) {
                    EXPECT_TRUE(tx.PutMiddlepipe("alice", Breaker("shared-name")).ok());
                    return tx.SetEpoch("alice", "web", 3);
                  })
                  .ok());
  ASSERT_TRUE(store_
                  ->Transact([](StoreTransaction& tx) {
                    EXPECT_FALSE(tx.GetMiddlepipe("bob", "shared-name")->has_value());
                    EXPECT_TRUE(tx.ListMiddlepipes("bob")->empty());
                    EXPECT_EQ(*tx.GetEpoch("bob", "web"), 0u);
                    EXPECT_TRUE(tx.ListApps("bob")->empty());
                    // Bob's object of the same name is his own and leaves Alice's alone.
                    EXPECT_TRUE(tx.PutMiddlepipe("bob", Breaker("shared-name")).ok());
                    EXPECT_TRUE(tx.DeleteMiddlepipe("bob", "shared-name").ok());
                    EXPECT_TRUE(tx.GetMiddlepipe("alice", "shared-name")->has_value());
                    EXPECT_EQ(*tx.ListUsersWithMiddlepipes(), std::vector<std::string>{"alice"});
                    return absl::OkStatus();
                  })
                  .ok());
}

TEST_P(StoreConformanceTest, AFailedBodyStoresNothing) {
  absl::Status status = store_->Transact([](StoreTransaction& tx) {
    EXPECT_TRUE(tx.PutMiddlepipe("alice", Breaker("half-done")).ok());
    return absl::InvalidArgumentError("changed my mind");
  });
  EXPECT_EQ(status.message(), "changed my mind");
  ASSERT_TRUE(store_
                  ->Transact([](StoreTransaction& tx) {
                    EXPECT_FALSE(tx.GetMiddlepipe("alice", "half-done")->has_value());
                    return absl::OkStatus();
                  })
                  .ok());
}

TEST_P(StoreConformanceTest, DryRunSeesItsChangesThenForgetsThem) {
  ASSERT_TRUE(store_
                  ->DryRun([](StoreTransaction& tx) {
                    EXPECT_TRUE(tx.SetEpoch("alice", "web", 9).ok());
                    EXPECT_EQ(*tx.GetEpoch("alice", "web"), 9u);
                    return absl::OkStatus();
                  })
                  .ok());
  ASSERT_TRUE(store_
                  ->Transact([](StoreTransaction& tx) {
                    EXPECT_EQ(*tx.GetEpoch("alice", "web"), 0u);
                    return absl::OkStatus();
                  })
                  .ok());
}

TEST_P(StoreConformanceTest, ABindingNeedsItsMiddlepipe) {
  absl::Status status = store_->Transact([](StoreTransaction& tx) {
    return tx.PutBinding("alice", MakeBinding("missing", "web", "orders", 0));
  });
  EXPECT_FALSE(status.ok());
  EXPECT_NE(status.message().find("FOREIGN KEY"), absl::string_view::npos) << status;
}

TEST_P(StoreConformanceTest, KeepsWhatTheServiceBrokerMadeAcrossReopen) {
  v1::BrokerInstance instance;
  instance.set_instance_id("9a1b-instance");
  instance.set_user("org-1");
  instance.set_middlepipe("orders-breaker");
  instance.set_service_id("s");
  instance.set_plan_id("p");
  instance.set_parameters_json("{}");
  instance.set_context_json(R"({"platform":"cloudfoundry"})");
  v1::BrokerBinding binding;
  binding.set_binding_id("9a1b-binding");
  binding.set_instance_id("9a1b-instance");
  binding.set_app("web");
  binding.set_service("orders");
  binding.set_parameters_json(R"({"service":"orders"})");
  binding.set_originating_identity("cloudfoundry eyJ1c2VyX2lkIjoiMSJ9");
  ASSERT_TRUE(store_
                  ->Transact([&](StoreTransaction& tx) {
                    EXPECT_TRUE(tx.PutMiddlepipe("org-1", Breaker("orders-breaker")).ok());
                    EXPECT_TRUE(tx.PutBrokerInstance(instance).ok());
                    return tx.PutBrokerBinding(binding);
                  })
                  .ok());
  store_.reset();
  auto reopened = backend_->Open();
  ASSERT_TRUE(reopened.ok()) << reopened.status();
  store_ = *std::move(reopened);
  ASSERT_TRUE(store_
                  ->DryRun([&](StoreTransaction& tx) {
                    auto got = tx.GetBrokerInstance("9a1b-instance");
                    EXPECT_TRUE(got.ok() && got->has_value() &&
                                (*got)->SerializeAsString() == instance.SerializeAsString());
                    auto bound = tx.GetBrokerBinding("9a1b-binding");
                    EXPECT_TRUE(bound.ok() && bound->has_value() &&
                                (*bound)->SerializeAsString() == binding.SerializeAsString());
                    EXPECT_TRUE(tx.DeleteBrokerBinding("9a1b-binding").ok());
                    EXPECT_TRUE(tx.DeleteBrokerInstance("9a1b-instance").ok());
                    EXPECT_FALSE(tx.GetBrokerInstance("9a1b-instance")->has_value());
                    return absl::OkStatus();
                  })
                  .ok());
}

TEST_P(StoreConformanceTest, ABrokerInstanceNeedsItsMiddlepipeWhenTheTransactionEnds) {
  v1::BrokerInstance instance;
  instance.set_instance_id("i");
  instance.set_user("org-1");
  instance.set_middlepipe("orders-breaker");
  absl::Status orphan =
      store_->Transact([&](StoreTransaction& tx) { return tx.PutBrokerInstance(instance); });
  EXPECT_NE(orphan.message().find("FOREIGN KEY"), absl::string_view::npos) << orphan;
  // Order within the transaction does not matter: the record may come first.
  EXPECT_TRUE(store_
                  ->Transact([&](StoreTransaction& tx) {
                    EXPECT_TRUE(tx.PutBrokerInstance(instance).ok());
                    return tx.PutMiddlepipe("org-1", Breaker("orders-breaker"));
                  })
                  .ok());
  absl::Status dangling = store_->Transact(
      [&](StoreTransaction& tx) { return tx.DeleteMiddlepipe("org-1", "orders-breaker"); });
  EXPECT_NE(dangling.message().find("FOREIGN KEY"), absl::string_view::npos) << dangling;
}

TEST_P(StoreConformanceTest, AMiddlepipeWithBindingsCannotBeDeleted) {
  ASSERT_TRUE(store_
                  ->Transact([](StoreTransaction& tx) {
                    EXPECT_TRUE(tx.PutMiddlepipe("alice", Breaker("orders-breaker")).ok());
                    return tx.PutBinding("alice",
                                         MakeBinding("orders-breaker", "web", "orders", 0));
                  })
                  .ok());
  absl::Status status = store_->Transact(
      [](StoreTransaction& tx) { return tx.DeleteMiddlepipe("alice", "orders-breaker"); });
  EXPECT_NE(status.message().find("FOREIGN KEY"), absl::string_view::npos) << status;
  // Unbound first, it goes.
  EXPECT_TRUE(
      store_
          ->Transact([](StoreTransaction& tx) {
            EXPECT_TRUE(
                tx.DeleteBinding("alice", MakeBinding("orders-breaker", "web", "orders", 0)).ok());
            return tx.DeleteMiddlepipe("alice", "orders-breaker");
          })
          .ok());
}

TEST_P(StoreConformanceTest, ABrokerBindingNeedsItsInstanceWhenTheTransactionEnds) {
  v1::BrokerBinding binding;
  binding.set_binding_id("b");
  binding.set_instance_id("missing");
  absl::Status orphan =
      store_->Transact([&](StoreTransaction& tx) { return tx.PutBrokerBinding(binding); });
  EXPECT_NE(orphan.message().find("FOREIGN KEY"), absl::string_view::npos) << orphan;
  ASSERT_TRUE(store_
                  ->DryRun([&](StoreTransaction& tx) {
                    EXPECT_FALSE(tx.GetBrokerBinding("b")->has_value());
                    return absl::OkStatus();
                  })
                  .ok());
}

TEST_P(StoreConformanceTest, ListsAreSortedAndNamesWithSlashesStayApart) {
  ASSERT_TRUE(store_
                  ->Transact([](StoreTransaction& tx) {
                    for (const char* name : {"b", "a/b", "a", "c%2Fd", "a-b"}) {
                      EXPECT_TRUE(tx.PutMiddlepipe("alice", Breaker(name)).ok());
                    }
                    EXPECT_TRUE(tx.PutMiddlepipe("alice/x", Breaker("a")).ok());
                    EXPECT_TRUE(tx.PutBinding("alice", MakeBinding("b", "web", "z", 1)).ok());
                    EXPECT_TRUE(tx.PutBinding("alice", MakeBinding("a", "web/1", "y", 2)).ok());
                    EXPECT_TRUE(tx.PutBinding("alice", MakeBinding("a", "web", "y", 3)).ok());
                    EXPECT_TRUE(tx.SetEpoch("alice", "web/1", 2).ok());
                    return tx.SetEpoch("alice", "web", 4);
                  })
                  .ok());
  ASSERT_TRUE(store_
                  ->DryRun([](StoreTransaction& tx) {
                    auto middlepipes = tx.ListMiddlepipes("alice");
                    std::vector<std::string> names;
                    for (const v1::Middlepipe& middlepipe : *middlepipes) {
                      names.push_back(middlepipe.name());
                    }
                    EXPECT_EQ(names, (std::vector<std::string>{"a", "a-b", "a/b", "b", "c%2Fd"}));
                    EXPECT_EQ(tx.ListMiddlepipes("alice/x")->size(), 1u);
                    auto bindings = tx.ListBindings("alice");
                    std::vector<int> positions;
                    for (const v1::Binding& binding : *bindings) {
                      positions.push_back(binding.position());
                    }
                    EXPECT_EQ(positions, (std::vector<int>{3, 2, 1}));
                    EXPECT_EQ(*tx.ListApps("alice"), (std::vector<std::string>{"web", "web/1"}));
                    EXPECT_EQ(*tx.ListUsersWithMiddlepipes(),
                              (std::vector<std::string>{"alice", "alice/x"}));
                    return absl::OkStatus();
                  })
                  .ok());
}

TEST_P(StoreConformanceTest, ATransactionSeesItsOwnWritesInLists) {
  ASSERT_TRUE(store_
                  ->Transact([](StoreTransaction& tx) {
                    EXPECT_TRUE(tx.PutMiddlepipe("alice", Breaker("kept")).ok());
                    return tx.PutMiddlepipe("alice", Breaker("dropped"));
                  })
                  .ok());
  ASSERT_TRUE(store_
                  ->Transact([](StoreTransaction& tx) {
                    EXPECT_TRUE(tx.DeleteMiddlepipe("alice", "dropped").ok());
                    EXPECT_TRUE(tx.PutMiddlepipe("alice", Breaker("added")).ok());
                    auto middlepipes = tx.ListMiddlepipes("alice");
                    std::vector<std::string> names;
                    for (const v1::Middlepipe& middlepipe : *middlepipes) {
                      names.push_back(middlepipe.name());
                    }
                    EXPECT_EQ(names, (std::vector<std::string>{"added", "kept"}));
                    return absl::OkStatus();
                  })
                  .ok());
}

INSTANTIATE_TEST_SUITE_P(Backends, StoreConformanceTest, ::testing::Values("sqlite", "etcd"),
                         [](const ::testing::TestParamInfo<std::string>& info) {
                           return info.param;
                         });

}  // namespace
}  // namespace middlepipe::controller
