#include "controller/store/sqlite_store.h"

#include <sqlite3.h>

#include <cstdlib>

#include "gtest/gtest.h"

namespace middlepipe::controller {
namespace {

std::string FreshPath(const std::string& name) {
  std::string path = std::string(std::getenv("TEST_TMPDIR")) + "/" + name;
  std::remove(path.c_str());
  return path;
}

v1::Middlepipe Breaker(const std::string& name) {
  v1::Middlepipe middlepipe;
  middlepipe.set_name(name);
  middlepipe.set_kind("circuit-breaker");
  middlepipe.set_config_json(R"({"open_ms":5000})");
  middlepipe.set_generation(1);
  middlepipe.set_created_unix_ms(1000);
  middlepipe.set_updated_unix_ms(2000);
  return middlepipe;
}

v1::Binding MakeBinding(const std::string& middlepipe, const std::string& app,
                        const std::string& service, int position) {
  v1::Binding binding;
  binding.set_middlepipe(middlepipe);
  binding.set_app(app);
  binding.set_service(service);
  binding.set_position(position);
  return binding;
}

class SqliteStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = FreshPath(::testing::UnitTest::GetInstance()->current_test_info()->name());
    auto store = SqliteStore::Open(path_);
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = std::move(*store);
  }

  std::string path_;
  std::unique_ptr<SqliteStore> store_;
};

TEST_F(SqliteStoreTest, RoundTripsEveryObjectAcrossReopen) {
  ASSERT_TRUE(store_
                  ->Transact([](StoreTransaction& tx) {
                    EXPECT_TRUE(tx.PutMiddlepipe("alice", Breaker("orders-breaker")).ok());
                    v1::Service service;
                    service.set_name("orders");
                    auto* endpoint = service.add_endpoints();
                    endpoint->set_host("198.18.0.9");
                    endpoint->set_port(8080);
                    EXPECT_TRUE(tx.PutService("alice", service).ok());
                    EXPECT_TRUE(
                        tx.PutBinding("alice", MakeBinding("orders-breaker", "web", "orders", 3))
                            .ok());
                    return tx.SetEpoch("alice", "web", 7);
                  })
                  .ok());
  store_.reset();
  auto reopened = SqliteStore::Open(path_);
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

TEST_F(SqliteStoreTest, UsersNeverSeeEachOthersObjects) {
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

TEST_F(SqliteStoreTest, AFailedBodyStoresNothing) {
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

TEST_F(SqliteStoreTest, DryRunSeesItsChangesThenForgetsThem) {
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

TEST_F(SqliteStoreTest, ABindingNeedsItsMiddlepipe) {
  absl::Status status = store_->Transact([](StoreTransaction& tx) {
    return tx.PutBinding("alice", MakeBinding("missing", "web", "orders", 0));
  });
  EXPECT_FALSE(status.ok());
  EXPECT_NE(status.message().find("FOREIGN KEY"), absl::string_view::npos) << status;
}

TEST_F(SqliteStoreTest, KeepsWhatTheServiceBrokerMadeAcrossReopen) {
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
  store_ = *SqliteStore::Open(path_);
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

TEST_F(SqliteStoreTest, ABrokerInstanceNeedsItsMiddlepipeWhenTheTransactionEnds) {
  v1::BrokerInstance instance;
  instance.set_instance_id("i");
  instance.set_user("org-1");
  instance.set_middlepipe("orders-breaker");
  absl::Status orphan = store_->Transact([&](StoreTransaction& tx) { return tx.PutBrokerInstance(instance); });
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

TEST_F(SqliteStoreTest, UsesWalAndIsAtTheCurrentSchemaVersion) {
  store_.reset();
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path_.c_str(), &db), SQLITE_OK);
  auto pragma = [db](const char* sql) {
    sqlite3_stmt* statement = nullptr;
    sqlite3_prepare_v2(db, sql, -1, &statement, nullptr);
    sqlite3_step(statement);
    std::string value = reinterpret_cast<const char*>(sqlite3_column_text(statement, 0));
    sqlite3_finalize(statement);
    return value;
  };
  EXPECT_EQ(pragma("PRAGMA journal_mode"), "wal");
  EXPECT_EQ(pragma("PRAGMA user_version"), std::to_string(SqliteStore::kSchemaVersion));
  sqlite3_close(db);
}

TEST_F(SqliteStoreTest, RefusesAStoreFromANewerController) {
  store_.reset();
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path_.c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db, "PRAGMA user_version = 99", nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(db);

  auto reopened = SqliteStore::Open(path_);
  ASSERT_FALSE(reopened.ok());
  EXPECT_NE(reopened.status().message().find("schema version 99, newer than this controller's 2"),
            absl::string_view::npos)
      << reopened.status();
}

}  // namespace
}  // namespace middlepipe::controller
