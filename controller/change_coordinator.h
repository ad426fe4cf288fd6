// Applies changes to a user's objects and distributes the resulting chains to the
// affected apps' instances as one atomic, numbered step (DESIGN.md §4):
//
//   1. dry run: the change in a transaction that is rolled back, to learn which apps'
//      chains it changes and what they become;
//   2. PREPARE(epoch + 1, chains) to every live instance of those apps; if any instance
//      rejects, ABORT everywhere and fail the change: nothing is stored;
//   3. store the change with the new epochs (durable once this returns);
//   4. COMMIT to the prepared instances; those that do not confirm in time are reported
//      as lagging, and are brought up to date when they next heartbeat.
//
// Changes of one user run one at a time (a per-user lock, held across all four steps);
// different users' changes run in parallel. Agents that register (new instance or
// reconnect) or fall behind are brought to their app's committed epoch by the same two
// phases, on a worker thread, under the same per-user lock, before they count as ready.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "common/logger.h"
#include "controller/agents/agent_events.h"
#include "controller/agents/agent_registry.h"
#include "controller/chains.h"
#include "controller/controller_metrics.h"
#include "controller/store/store.h"
#include "proto/controller.pb.h"
#include "scheduler/kind_catalog.h"

namespace middlepipe::controller {

struct CoordinatorOptions {
  std::chrono::milliseconds prepare_timeout{3000};
  std::chrono::milliseconds commit_timeout{3000};
  std::chrono::milliseconds heartbeat_interval{1000};
  // An agent silent for this many intervals is dropped.
  int missed_heartbeats = 3;
  // The user's aggregator address, sent with every Prepare (empty: none).
  std::function<std::string(const std::string& user)> aggregator_address =
      [](const std::string&) { return std::string(); };
  // Called after a change of the user's objects is stored (e.g. to configure the
  // user's aggregator again).
  std::function<void(const std::string& user)> on_stored = [](const std::string&) {};
};

class ChangeCoordinator final : public AgentEvents {
 public:
  // Reads and writes the user's objects. Runs twice (dry run, then for real) under the
  // user's lock, and must do the same both times.
  using Mutation = std::function<absl::Status(StoreTransaction&)>;

  // None of the pointers is owned; all must outlive the coordinator.
  ChangeCoordinator(Store* store, const scheduler::KindCatalog* kinds, AgentRegistry* registry,
                    ControllerMetrics* metrics, Logger* logger, CoordinatorOptions options);
  ~ChangeCoordinator() override;

  // Applies `mutation` for `user` and rolls out what it changes. The rollout is empty
  // (epoch 0) when no chain changed. Errors: the mutation's own, an instance's rejection
  // (FAILED_PRECONDITION naming it; nothing stored), or the store's.
  absl::StatusOr<v1::Rollout> Apply(const std::string& user, const Mutation& mutation);

  // Rolls out, as a new epoch, the chains of every app of `user` that differ from those
  // last distributed although nothing stored changed: the endpoints of a service that is
  // an app changed (its instances came or went). Runs by itself on the sync worker after
  // every registration and disconnect; public for tests.
  absl::StatusOr<v1::Rollout> RefreshEndpoints(const std::string& user);

  // Reads under the user's lock (so it sees no half-applied change).
  absl::Status Read(const std::string& user, const Mutation& read);

  // The app's chains as committed, stamped with its epoch.
  absl::StatusOr<std::vector<v1::Chain>> CommittedChains(const std::string& user,
                                                         const std::string& app, uint64_t* epoch);

  // How far `epoch` is applied across the app's connected instances.
  v1::Rollout RolloutStatus(const std::string& user, const std::string& app, uint64_t epoch) const;

  // Endpoints of an app's live instances, for chains that target the app.
  AppEndpoints EndpointsOf(const std::string& user) const;

  // AgentEvents.
  void OnRegistered(const std::shared_ptr<AgentSession>& session) override;
  void OnHeartbeat(const std::shared_ptr<AgentSession>& session) override;
  void OnClosed(const std::shared_ptr<AgentSession>& session) override;

  const CoordinatorOptions& options() const { return options_; }

 private:
  std::mutex& UserLock(const std::string& user);
  // Brings sessions of one app to its committed epoch (two phases). Caller holds the
  // user's lock.
  void Sync(const std::string& user, const std::string& app,
            const std::vector<std::shared_ptr<AgentSession>>& sessions);
  // Apply's work; with `against_distributed`, what changed is judged against the chains
  // last distributed rather than against the store before the mutation.
  absl::StatusOr<v1::Rollout> Roll(const std::string& user, const Mutation& mutation,
                                   bool against_distributed);
  void QueueRefresh(const std::string& user);
  // Stores an epoch row (0) for an app the store has not seen, so that after a controller
  // restart the app is a known bind target before its agents reconnect.
  void RememberApp(const std::string& user, const std::string& app);
  void SyncWorker();
  void ReaperWorker();
  void QueueSync(const std::shared_ptr<AgentSession>& session);

  Store* const store_;
  const scheduler::KindCatalog* const kinds_;
  AgentRegistry* const registry_;
  ControllerMetrics* const metrics_;
  Logger* const logger_;
  const CoordinatorOptions options_;

  std::mutex user_locks_mu_;
  std::map<std::string, std::unique_ptr<std::mutex>> user_locks_;

  // Committed epoch per (user, app), as last stored; used to spot lagging agents.
  mutable std::mutex epochs_mu_;
  std::map<std::pair<std::string, std::string>, uint64_t> committed_epochs_;
  // The chains last distributed per (user, app), with the endpoints they carried.
  std::map<std::pair<std::string, std::string>, std::vector<v1::Chain>> distributed_;

  std::mutex queue_mu_;
  std::condition_variable queue_changed_;
  std::deque<std::shared_ptr<AgentSession>> sync_queue_;
  // Sessions queued or being synced: at most one sync per session at a time, so a
  // heartbeat that arrives mid-sync (still at the old epoch) does not queue another.
  std::set<AgentSession*> syncing_;
  // Users whose app endpoints may have changed (an agent came or went).
  std::set<std::string> refresh_users_;
  bool stopping_ = false;

  std::thread sync_thread_;
  std::thread reaper_thread_;
};

}  // namespace middlepipe::controller
