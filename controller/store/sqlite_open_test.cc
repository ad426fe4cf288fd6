// What SqliteStore::Open refuses: a store that cannot be trusted is never served from.
#include <fstream>
#include <string>

#include "controller/store/sqlite_store.h"
#include "gtest/gtest.h"

namespace middlepipe::controller {
namespace {

std::string FreshPath(const std::string& name) {
  std::string path = std::string(std::getenv("TEST_TMPDIR")) + "/" + name;
  std::remove(path.c_str());
  std::remove((path + "-wal").c_str());
  std::remove((path + "-shm").c_str());
  return path;
}

absl::Status AddBreaker(Store& store, const std::string& name) {
  return store.Transact([&](StoreTransaction& tx) {
    v1::Middlepipe middlepipe;
    middlepipe.set_name(name);
    middlepipe.set_kind("circuit-breaker");
    middlepipe.set_config_json("{}");
    return tx.PutMiddlepipe("alice", middlepipe);
  });
}

// The bug: a zero-length controller.db opened as a new, empty store — every middlepipe
// gone, no word said.
TEST(SqliteOpenTest, RefusesAZeroLengthStore) {
  const std::string path = FreshPath("empty.db");
  std::ofstream(path).close();
  absl::StatusOr<std::unique_ptr<SqliteStore>> store = SqliteStore::Open(path);
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(store.status().message().find("is empty (0 bytes)"), std::string::npos)
      << store.status();
  EXPECT_NE(store.status().message().find("Restore it from a backup"), std::string::npos);
}

// The bug: with pages of controller.db overwritten the controller started, said it was
// healthy, and every call then failed with "database disk image is malformed".
TEST(SqliteOpenTest, RefusesADamagedStore) {
  const std::string path = FreshPath("damaged.db");
  {
    absl::StatusOr<std::unique_ptr<SqliteStore>> store = SqliteStore::Open(path);
    ASSERT_TRUE(store.ok()) << store.status();
    for (int i = 0; i < 300; ++i) {
      ASSERT_TRUE(AddBreaker(**store, "breaker-" + std::to_string(i)).ok());
    }
  }  // closing checkpoints the WAL into the file
  std::fstream file(path, std::ios::in | std::ios::out | std::ios::binary);
  file.seekg(0, std::ios::end);
  const std::streamoff size = file.tellg();
  ASSERT_GT(size, 4 * 4096);
  // Overwrite every page after the first two (the header and schema stay readable).
  const std::string garbage(4096, '\x5a');
  for (std::streamoff page = 2 * 4096; page + 4096 <= size; page += 4096) {
    file.seekp(page);
    file.write(garbage.data(), garbage.size());
  }
  file.close();
  absl::StatusOr<std::unique_ptr<SqliteStore>> store = SqliteStore::Open(path);
  ASSERT_FALSE(store.ok());
  EXPECT_NE(store.status().message().find("Restore it from a backup"), std::string::npos)
      << store.status();
}

TEST(SqliteOpenTest, RefusesAFileThatIsNotAStore) {
  const std::string path = FreshPath("not-a-store.db");
  std::ofstream(path) << std::string(8192, 'x');
  absl::StatusOr<std::unique_ptr<SqliteStore>> store = SqliteStore::Open(path);
  ASSERT_FALSE(store.ok());
  EXPECT_NE(store.status().message().find("not a database"), std::string::npos) << store.status();
}

TEST(SqliteOpenTest, AHealthyStoreReopensAndSaysSo) {
  const std::string path = FreshPath("healthy.db");
  {
    absl::StatusOr<std::unique_ptr<SqliteStore>> store = SqliteStore::Open(path);
    ASSERT_TRUE(store.ok()) << store.status();
    ASSERT_TRUE(AddBreaker(**store, "orders-breaker").ok());
  }
  absl::StatusOr<std::unique_ptr<SqliteStore>> store = SqliteStore::Open(path);
  ASSERT_TRUE(store.ok()) << store.status();
  EXPECT_TRUE((*store)->Health().ok());
}

}  // namespace
}  // namespace middlepipe::controller
