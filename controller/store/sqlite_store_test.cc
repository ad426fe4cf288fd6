// What only the SQLite backend has: its file format. Everything a Store does is checked on
// every backend in store_conformance_test.cc.
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
