// The controller's durable state behind a small interface: middlepipes, services,
// bindings and each app's epoch, all scoped to one user. SQLite is the embedded default
// (sqlite_store.h); etcd_store.h implements the same two classes over an etcd cluster.
//
// Every change happens inside Transact(): all of it is stored, or none of it. Once
// Transact returns OK the change survives a crash of the process (and of the machine,
// as far as the file system's fsync does).
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "proto/middlepipe.pb.h"

namespace middlepipe::controller {

// The reads and writes of one transaction. Every call names the user it acts for; no
// call ever returns or touches another user's objects.
class StoreTransaction {
 public:
  virtual ~StoreTransaction() = default;

  virtual absl::StatusOr<std::optional<v1::Middlepipe>> GetMiddlepipe(const std::string& user,
                                                                      const std::string& name) = 0;
  // Sorted by name.
  virtual absl::StatusOr<std::vector<v1::Middlepipe>> ListMiddlepipes(const std::string& user) = 0;
  // Inserts or replaces the middlepipe of the same name.
  virtual absl::Status PutMiddlepipe(const std::string& user, const v1::Middlepipe& middlepipe) = 0;
  // Deletes the middlepipe; its bindings must be deleted first.
  virtual absl::Status DeleteMiddlepipe(const std::string& user, const std::string& name) = 0;

  virtual absl::StatusOr<std::optional<v1::Service>> GetService(const std::string& user,
                                                                const std::string& name) = 0;
  // Registered (external) services, sorted by name.
  virtual absl::StatusOr<std::vector<v1::Service>> ListServices(const std::string& user) = 0;
  // Inserts or replaces the service of the same name.
  virtual absl::Status PutService(const std::string& user, const v1::Service& service) = 0;

  // Sorted by middlepipe, app, service.
  virtual absl::StatusOr<std::vector<v1::Binding>> ListBindings(const std::string& user) = 0;
  // Inserts or replaces the binding of the same (middlepipe, app, service).
  virtual absl::Status PutBinding(const std::string& user, const v1::Binding& binding) = 0;
  virtual absl::Status DeleteBinding(const std::string& user, const v1::Binding& binding) = 0;

  // The app's committed epoch; 0 for an app the store has never seen.
  virtual absl::StatusOr<uint64_t> GetEpoch(const std::string& user, const std::string& app) = 0;
  virtual absl::Status SetEpoch(const std::string& user, const std::string& app,
                                uint64_t epoch) = 0;
  // Apps the store has an epoch for, sorted.
  virtual absl::StatusOr<std::vector<std::string>> ListApps(const std::string& user) = 0;

  // What the service broker created, by the ids the platform gave (global, not per
  // user: a platform's ids are unique across its organizations).
  virtual absl::StatusOr<std::optional<v1::BrokerInstance>> GetBrokerInstance(
      const std::string& instance_id) = 0;
  // Inserts or replaces; the instance's middlepipe must exist when the transaction ends.
  virtual absl::Status PutBrokerInstance(const v1::BrokerInstance& instance) = 0;
  // Deletes it; its bindings must be gone when the transaction ends.
  virtual absl::Status DeleteBrokerInstance(const std::string& instance_id) = 0;
  virtual absl::StatusOr<std::optional<v1::BrokerBinding>> GetBrokerBinding(
      const std::string& binding_id) = 0;
  virtual absl::Status PutBrokerBinding(const v1::BrokerBinding& binding) = 0;
  virtual absl::Status DeleteBrokerBinding(const std::string& binding_id) = 0;

  // Users that own at least one middlepipe, sorted (the controller starts their
  // aggregators when it starts).
  virtual absl::StatusOr<std::vector<std::string>> ListUsersWithMiddlepipes() = 0;
};

class Store {
 public:
  using Body = std::function<absl::Status(StoreTransaction&)>;

  virtual ~Store() = default;

  // Runs `body` in one transaction and commits it if `body` returns OK; otherwise rolls
  // it back and returns `body`'s error. Transactions of one Store run one at a time. A
  // store shared by several writers (etcd) may run `body` more than once, on fresh data,
  // when another writer changed what it read: a body only reads and writes through `tx`
  // and whatever it records outside is overwritten by its last run.
  virtual absl::Status Transact(const Body& body) = 0;

  // Runs `body` in a transaction that is always rolled back: what the change would do,
  // without doing it. Returns `body`'s status.
  virtual absl::Status DryRun(const Body& body) = 0;

  // Whether the store answers a read now (for /healthz); the error says why not.
  virtual absl::Status Health() {
    return DryRun([](StoreTransaction& tx) { return tx.ListUsersWithMiddlepipes().status(); });
  }
};

}  // namespace middlepipe::controller
