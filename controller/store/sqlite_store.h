// The embedded store: one SQLite file in the controller's data dir.
//
// Durability: WAL journal with synchronous=FULL, so a committed transaction is on disk
// before Transact returns (a kill -9 or power loss after that loses nothing; before it,
// the transaction is absent as a whole). The schema carries its version in
// PRAGMA user_version and is migrated forward on open; a file from a newer controller is
// refused rather than guessed at.
#pragma once

#include <memory>
#include <mutex>
#include <string>

#include "absl/status/statusor.h"
#include "controller/store/store.h"

struct sqlite3;

namespace middlepipe::controller {

class SqliteStore final : public Store {
 public:
  // The schema version this build writes.
  static constexpr int kSchemaVersion = 2;

  // Opens (creating if missing) the store at `path` and migrates it.
  static absl::StatusOr<std::unique_ptr<SqliteStore>> Open(const std::string& path);

  ~SqliteStore() override;

  absl::Status Transact(const Body& body) override;
  absl::Status DryRun(const Body& body) override;

 private:
  SqliteStore(sqlite3* db, std::string path) : db_(db), path_(std::move(path)) {}

  absl::Status Run(const Body& body, bool commit);

  sqlite3* db_;
  const std::string path_;
  std::mutex mu_;  // one transaction at a time on the one connection
};

}  // namespace middlepipe::controller
