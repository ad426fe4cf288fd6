// The replicated store: the same objects as SqliteStore, kept in an etcd v3 cluster under
// one key prefix, so several controllers can share them (shared/DESIGN.md §4).
//
// Transactions are optimistic. A body reads through one snapshot (every read at the
// revision of its first read) and buffers its writes; the commit is ONE etcd Txn whose
// compares check that every key the body read still has the mod revision it had (0 for a
// key found absent), so a change another writer made in between fails the Txn and the body
// runs again on a fresh snapshot, a bounded number of times. A list read is guarded by
// its collection's stamp key, which every write into the collection also writes: a
// concurrent insert or delete into a listed collection conflicts as well.
//
// A commit that fails in flight (a member dies, a deadline passes) is sent again to the
// next endpoint. That is safe because every commit also compares and writes this store's
// own writer key: if the first copy was applied, the second fails on that compare and its
// failure branch returns the writer key, whose value says the commit is already in.
//
// Fencing: with SetFence, every commit also compares the create revision of the
// leadership key this controller holds (etcd_election.h); once that key is gone (its lease
// expired: the controller paused or was cut off) or is another's, etcd itself refuses the
// commit and Transact returns FAILED_PRECONDITION "store: not the leader: …".
//
// Errors: no endpoint answering (dead members, no quorum, every deadline passed) is
// UNAVAILABLE "store unavailable: etcd at <endpoints>: …". Such a commit was not
// acknowledged, but as with any consensus store its outcome is not known: a member that
// had logged it may commit it once quorum is back (whole, never half); each call has a short
// deadline and asks etcd to refuse at once when its member has no leader, so writes fail fast
// instead of hanging. Integrity rules are SQLite's, with its "FOREIGN KEY" wording.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "controller/store/store.h"

namespace middlepipe::controller {

struct EtcdStoreOptions {
  // Client URLs of the members ("http://127.0.0.1:2379" or "127.0.0.1:2379").
  std::vector<std::string> endpoints;
  // Every key lives under this prefix (a cluster may hold other tenants' data).
  std::string key_prefix = "/middlepipe/";
  // Deadline of each call to one member.
  std::chrono::milliseconds call_timeout = std::chrono::milliseconds(1000);
  // How long a call keeps trying members before it is "store unavailable" (covers the
  // election after a leader dies; bounds how long a write waits without quorum).
  std::chrono::milliseconds unavailable_budget = std::chrono::milliseconds(3000);
  // How many times a body runs before a conflict is returned as ABORTED.
  int max_attempts = 16;
};

class EtcdClient;

// A leadership key and the revision that created it: who may write, as etcd sees it.
struct EtcdFence {
  std::string key;
  int64_t create_revision = 0;
};

class EtcdStore final : public Store {
 public:
  // Parses the endpoints and opens a channel to each; does not wait for the cluster (a
  // controller may start before its etcd), so an unreachable cluster shows as UNAVAILABLE
  // on the first transaction.
  static absl::StatusOr<std::unique_ptr<EtcdStore>> Open(EtcdStoreOptions options);

  // "a,b,c" -> {"a", "b", "c"}, for --etcd-endpoints; empty entries are an error.
  static absl::StatusOr<std::vector<std::string>> ParseEndpoints(const std::string& list);

  ~EtcdStore() override;

  absl::Status Transact(const Body& body) override;
  absl::Status DryRun(const Body& body) override;

  // The endpoints, comma-separated, as errors and logs name them.
  const std::string& endpoints() const;

  // How many times a body ran again because another writer changed what it read (for
  // metrics and tests).
  uint64_t conflicts() const;

  // Guards every later commit by `fence` (nullopt: unguarded, as a single controller).
  void SetFence(std::optional<EtcdFence> fence);

 private:
  EtcdStore(std::unique_ptr<EtcdClient> client, EtcdStoreOptions options, std::string writer_key);

  absl::Status Run(const Body& body, bool commit);

  std::unique_ptr<EtcdClient> client_;
  const EtcdStoreOptions options_;
  // This store's own key (see the header comment); its value is the number of the last
  // commit attempt applied, its mod revision what the next commit compares.
  const std::string writer_key_;
  mutable std::mutex mu_;  // one transaction at a time; guards the fields below
  uint64_t conflicts_ = 0;
  uint64_t commits_ = 0;
  int64_t writer_mod_revision_ = 0;
  std::optional<EtcdFence> fence_;
  // The newest revision this store has read or written: snapshots never go back past it.
  int64_t high_water_revision_ = 0;
};

}  // namespace middlepipe::controller
