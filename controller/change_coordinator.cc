#include "controller/change_coordinator.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "controller/agents/two_phase_commit.h"

namespace middlepipe::controller {
namespace {

// The sessions of an app that can take part in a round.
std::vector<SessionPtr> LiveSessions(const AgentRegistry& registry, const std::string& user,
                                     const std::string& app) {
  std::vector<SessionPtr> live;
  for (SessionPtr& session : registry.Sessions(user, app)) {
    if (!session->closed()) live.push_back(std::move(session));
  }
  return live;
}

void AddLaggards(const std::vector<Laggard>& laggards, v1::Rollout* rollout) {
  for (const Laggard& laggard : laggards) {
    v1::LaggingInstance* lagging = rollout->add_lagging();
    *lagging->mutable_instance() = laggard.session->Snapshot();
    lagging->set_reason(laggard.reason);
  }
}

// One app's part of a change.
struct AppStep {
  std::string app;
  uint64_t epoch = 0;
  std::vector<v1::Chain> chains;
  std::vector<SessionPtr> sessions;
  PrepareOutcome prepare;
};

}  // namespace

ChangeCoordinator::ChangeCoordinator(Store* store, const scheduler::KindCatalog* kinds,
                                     AgentRegistry* registry, ControllerMetrics* metrics,
                                     Logger* logger, CoordinatorOptions options)
    : store_(store),
      kinds_(kinds),
      registry_(registry),
      metrics_(metrics),
      logger_(logger),
      options_(options) {
  sync_thread_ = std::thread([this] { SyncWorker(); });
  reaper_thread_ = std::thread([this] { ReaperWorker(); });
}

ChangeCoordinator::~ChangeCoordinator() {
  {
    std::lock_guard<std::mutex> lock(queue_mu_);
    stopping_ = true;
  }
  queue_changed_.notify_all();
  sync_thread_.join();
  reaper_thread_.join();
}

std::mutex& ChangeCoordinator::UserLock(const std::string& user) {
  std::lock_guard<std::mutex> lock(user_locks_mu_);
  std::unique_ptr<std::mutex>& user_lock = user_locks_[user];
  if (user_lock == nullptr) user_lock = std::make_unique<std::mutex>();
  return *user_lock;
}

AppEndpoints ChangeCoordinator::EndpointsOf(const std::string& user) const {
  return [registry = registry_, user](const std::string& app) {
    return registry->Endpoints(user, app);
  };
}

absl::Status ChangeCoordinator::Read(const std::string& user, const Mutation& read) {
  std::lock_guard<std::mutex> user_lock(UserLock(user));
  return store_->DryRun(read);
}

absl::StatusOr<v1::Rollout> ChangeCoordinator::Apply(const std::string& user,
                                                     const Mutation& mutation) {
  return Roll(user, mutation, /*against_distributed=*/false);
}

absl::StatusOr<v1::Rollout> ChangeCoordinator::RefreshEndpoints(const std::string& user) {
  return Roll(user, [](StoreTransaction&) { return absl::OkStatus(); },
              /*against_distributed=*/true);
}

absl::StatusOr<v1::Rollout> ChangeCoordinator::Roll(const std::string& user,
                                                    const Mutation& mutation,
                                                    bool against_distributed) {
  std::lock_guard<std::mutex> user_lock(UserLock(user));
  const auto started = std::chrono::steady_clock::now();
  const AppEndpoints endpoints = EndpointsOf(user);

  // 1. What would change.
  AppChains before;
  AppChains after;
  std::map<std::string, uint64_t> epochs;
  absl::Status planned = store_->DryRun([&](StoreTransaction& tx) -> absl::Status {
    absl::StatusOr<AppChains> chains = ComputeChains(tx, *kinds_, user, endpoints);
    if (!chains.ok()) return chains.status();
    before = *std::move(chains);
    if (absl::Status changed = mutation(tx); !changed.ok()) return changed;
    chains = ComputeChains(tx, *kinds_, user, endpoints);
    if (!chains.ok()) return chains.status();
    after = *std::move(chains);
    for (const AppChains* side : {&before, &after}) {
      for (const auto& [app, unused] : *side) {
        absl::StatusOr<uint64_t> epoch = tx.GetEpoch(user, app);
        if (!epoch.ok()) return epoch.status();
        epochs[app] = *epoch;
      }
    }
    return absl::OkStatus();
  });
  if (!planned.ok()) return planned;
  if (against_distributed) {
    std::lock_guard<std::mutex> lock(epochs_mu_);
    for (const auto& [app, chains] : after) {
      auto found = distributed_.find({user, app});
      before[app] = found == distributed_.end() ? chains : found->second;
    }
  }

  std::vector<AppStep> steps;
  for (const auto& [app, epoch] : epochs) {
    if (SameChains(before[app], after[app])) continue;
    AppStep& step = steps.emplace_back();
    step.app = app;
    step.epoch = epoch + 1;
    step.chains = after[app];
    step.sessions = LiveSessions(*registry_, user, app);
  }

  if (against_distributed && steps.empty()) return v1::Rollout();  // nothing to store

  // 2. Prepare everywhere; any rejection fails the whole change.
  std::vector<std::string> rejections;
  for (AppStep& step : steps) {
    step.prepare = PrepareAll(step.sessions, step.epoch, step.chains,
                              options_.aggregator_address(user), options_.prepare_timeout);
    for (const Laggard& rejected : step.prepare.rejected) {
      rejections.push_back(absl::StrCat("instance ", rejected.session->Name(),
                                        " cannot build epoch ", step.epoch, ": ",
                                        rejected.reason));
    }
  }
  auto abort_all = [&](const std::string& reason) {
    for (const AppStep& step : steps) AbortAll(step.prepare.prepared, step.epoch, reason);
  };
  if (!rejections.empty()) {
    abort_all("rejected by another instance");
    metrics_->RecordFailedRollout();
    logger_->Warning("user ", user, ": change aborted: ", absl::StrJoin(rejections, "; "));
    return absl::FailedPreconditionError(
        absl::StrCat(absl::StrJoin(rejections, "; "), "; nothing was changed"));
  }

  // 3. Store the change and the new epochs together.
  absl::Status stored = store_->Transact([&](StoreTransaction& tx) -> absl::Status {
    if (absl::Status changed = mutation(tx); !changed.ok()) return changed;
    for (const AppStep& step : steps) {
      // The agents were prepared with chains planned at the previous epoch. Another
      // controller on the same store (etcd) may have moved the app on since: then what
      // was prepared is not what would be stored, and nothing is. (Reading the epoch
      // here also makes the etcd store's commit check that it is unchanged.)
      absl::StatusOr<uint64_t> current = tx.GetEpoch(user, step.app);
      if (!current.ok()) return current.status();
      if (*current + 1 != step.epoch) {
        return absl::AbortedError(absl::StrCat("app ", step.app, " moved to epoch ", *current,
                                               " while this change was prepared; try again"));
      }
      if (absl::Status set = tx.SetEpoch(user, step.app, step.epoch); !set.ok()) return set;
    }
    return absl::OkStatus();
  });
  if (!stored.ok()) {
    abort_all(absl::StrCat("controller could not store the change: ", stored.message()));
    return stored;
  }
  options_.on_stored(user);
  {
    std::lock_guard<std::mutex> lock(epochs_mu_);
    for (const AppStep& step : steps) {
      committed_epochs_[{user, step.app}] = step.epoch;
      distributed_[{user, step.app}] = step.chains;
    }
  }

  // 4. Commit where prepared.
  v1::Rollout rollout;
  if (steps.empty()) return rollout;
  for (AppStep& step : steps) {
    CommitOutcome commit = CommitAll(step.prepare.prepared, step.epoch, options_.commit_timeout);
    for (const SessionPtr& session : commit.applied) session->SetState(v1::INSTANCE_STATE_READY);
    rollout.set_epoch(std::max(rollout.epoch(), step.epoch));
    rollout.set_instances_total(rollout.instances_total() +
                                static_cast<uint32_t>(step.sessions.size()));
    rollout.set_instances_applied(rollout.instances_applied() +
                                  static_cast<uint32_t>(commit.applied.size()));
    AddLaggards(step.prepare.silent, &rollout);
    AddLaggards(commit.silent, &rollout);
    logger_->Info("user ", user, " app ", step.app, ": epoch ", step.epoch, " applied to ",
                  commit.applied.size(), "/", step.sessions.size(), " instances in ",
                  std::chrono::duration_cast<std::chrono::microseconds>(
                      std::chrono::steady_clock::now() - started)
                          .count(),
                  " us");
  }
  metrics_->RecordRollout(std::chrono::duration_cast<std::chrono::microseconds>(
                              std::chrono::steady_clock::now() - started),
                          steps.size());
  return rollout;
}

absl::StatusOr<std::vector<v1::Chain>> ChangeCoordinator::CommittedChains(const std::string& user,
                                                                          const std::string& app,
                                                                          uint64_t* epoch) {
  std::vector<v1::Chain> chains;
  const AppEndpoints endpoints = EndpointsOf(user);
  absl::Status read = store_->DryRun([&](StoreTransaction& tx) -> absl::Status {
    absl::StatusOr<uint64_t> stored_epoch = tx.GetEpoch(user, app);
    if (!stored_epoch.ok()) return stored_epoch.status();
    *epoch = *stored_epoch;
    absl::StatusOr<AppChains> all = ComputeChains(tx, *kinds_, user, endpoints);
    if (!all.ok()) return all.status();
    chains = (*all)[app];
    return absl::OkStatus();
  });
  if (!read.ok()) return read;
  for (v1::Chain& chain : chains) chain.set_epoch(*epoch);
  return chains;
}

v1::Rollout ChangeCoordinator::RolloutStatus(const std::string& user, const std::string& app,
                                             uint64_t epoch) const {
  v1::Rollout rollout;
  rollout.set_epoch(epoch);
  for (const SessionPtr& session : LiveSessions(*registry_, user, app)) {
    rollout.set_instances_total(rollout.instances_total() + 1);
    v1::Instance instance = session->Snapshot();
    if (instance.applied_epoch() >= epoch && instance.state() == v1::INSTANCE_STATE_READY) {
      rollout.set_instances_applied(rollout.instances_applied() + 1);
      continue;
    }
    v1::LaggingInstance* lagging = rollout.add_lagging();
    std::string reason = session->state_reason();
    lagging->set_reason(reason.empty() ? absl::StrCat("at epoch ", instance.applied_epoch())
                                       : reason);
    *lagging->mutable_instance() = std::move(instance);
  }
  return rollout;
}

void ChangeCoordinator::Sync(const std::string& user, const std::string& app,
                             const std::vector<SessionPtr>& sessions) {
  uint64_t epoch = 0;
  absl::StatusOr<std::vector<v1::Chain>> chains = CommittedChains(user, app, &epoch);
  if (!chains.ok()) {
    for (const SessionPtr& session : sessions) {
      session->SetState(v1::INSTANCE_STATE_STARTING,
                        absl::StrCat("controller cannot read chains: ", chains.status().message()));
    }
    logger_->Error("user ", user, " app ", app, ": cannot read chains: ", chains.status().message());
    return;
  }
  {
    std::lock_guard<std::mutex> lock(epochs_mu_);
    committed_epochs_[{user, app}] = epoch;
    // The first distribution since the controller started is the baseline later
    // endpoint changes are judged against.
    distributed_.try_emplace({user, app}, *chains);
  }
  PrepareOutcome prepare = PrepareAll(sessions, epoch, *chains, options_.aggregator_address(user),
                                      options_.prepare_timeout);
  for (const Laggard& rejected : prepare.rejected) {
    rejected.session->SetState(v1::INSTANCE_STATE_STARTING,
                               absl::StrCat("cannot build epoch ", epoch, ": ", rejected.reason));
    logger_->Warning("user ", user, " instance ", rejected.session->Name(),
                     " rejected epoch ", epoch, ": ", rejected.reason);
  }
  for (const Laggard& silent : prepare.silent) {
    silent.session->SetState(v1::INSTANCE_STATE_STARTING, silent.reason);
  }
  CommitOutcome commit = CommitAll(prepare.prepared, epoch, options_.commit_timeout);
  for (const SessionPtr& session : commit.applied) {
    session->SetState(v1::INSTANCE_STATE_READY);
    logger_->Info("user ", user, " instance ", session->Name(), " ready at epoch ", epoch);
  }
  for (const Laggard& silent : commit.silent) {
    silent.session->SetState(v1::INSTANCE_STATE_STARTING, silent.reason);
  }
}

void ChangeCoordinator::QueueSync(const SessionPtr& session) {
  {
    std::lock_guard<std::mutex> lock(queue_mu_);
    if (!syncing_.insert(session.get()).second) return;
    sync_queue_.push_back(session);
  }
  queue_changed_.notify_all();
}

void ChangeCoordinator::QueueRefresh(const std::string& user) {
  {
    std::lock_guard<std::mutex> lock(queue_mu_);
    refresh_users_.insert(user);
  }
  queue_changed_.notify_all();
}

void ChangeCoordinator::SyncWorker() {
  while (true) {
    std::deque<SessionPtr> batch;
    std::set<std::string> refresh;
    {
      std::unique_lock<std::mutex> lock(queue_mu_);
      queue_changed_.wait(lock, [this] {
        return stopping_ || !sync_queue_.empty() || !refresh_users_.empty();
      });
      if (stopping_) return;
      batch.swap(sync_queue_);
      refresh.swap(refresh_users_);
    }
    // One round per app for everything that arrived meanwhile: a thousand instances
    // starting at once cost a handful of rounds, not a thousand.
    std::map<std::pair<std::string, std::string>, std::vector<SessionPtr>> by_app;
    for (SessionPtr& session : batch) {
      if (!session->closed()) by_app[{session->user(), session->app()}].push_back(session);
    }
    for (const auto& [key, sessions] : by_app) {
      std::lock_guard<std::mutex> user_lock(UserLock(key.first));
      Sync(key.first, key.second, sessions);
    }
    {
      std::lock_guard<std::mutex> lock(queue_mu_);
      for (const SessionPtr& session : batch) syncing_.erase(session.get());
    }
    // After the syncs, so a new instance has its chains before apps calling it get its
    // endpoint.
    for (const std::string& user : refresh) {
      absl::StatusOr<v1::Rollout> refreshed = RefreshEndpoints(user);
      if (!refreshed.ok()) {
        logger_->Warning("user ", user, ": endpoints changed but could not be rolled out: ",
                         refreshed.status().message());
      } else if (refreshed->epoch() != 0) {
        logger_->Info("user ", user, ": endpoints changed; rolled out at epoch ",
                      refreshed->epoch());
      }
    }
  }
}

void ChangeCoordinator::ReaperWorker() {
  const auto silence_limit = options_.heartbeat_interval * options_.missed_heartbeats;
  while (true) {
    {
      std::unique_lock<std::mutex> lock(queue_mu_);
      if (queue_changed_.wait_for(lock, options_.heartbeat_interval, [this] { return stopping_; })) {
        return;
      }
    }
    const auto now = AgentSession::Clock::now();
    for (const SessionPtr& session : registry_->All()) {
      if (now - session->last_seen() <= silence_limit) continue;
      logger_->Warning("user ", session->user(), " instance ", session->Name(),
                       " dropped: no heartbeat for ",
                       std::chrono::duration_cast<std::chrono::milliseconds>(silence_limit).count(),
                       " ms");
      session->SetState(v1::INSTANCE_STATE_LOST, "missed heartbeats");
      registry_->Remove(session);
      session->CloseStream(absl::UnavailableError("missed heartbeats"));
    }
  }
}

void ChangeCoordinator::OnRegistered(const SessionPtr& session) {
  AgentRegistry::Claim claim = registry_->Add(session);
  if (claim.holder != nullptr) {
    logger_->Warning("user ", session->user(), " instance ", session->Name(), ": refused a second "
                     "agent (address ", session->address(), "); the agent at ",
                     claim.holder->address(), " holds it");
    session->CloseStream(absl::AlreadyExistsError(absl::StrCat(
        "instance ", session->Name(), " is held by another agent (address ",
        claim.holder->address(), "); two agents cannot be one instance. This one is refused "
        "while the other stays connected")));
    return;
  }
  if (claim.replaced != nullptr) {
    claim.replaced->CloseStream(
        absl::UnavailableError("replaced by a new connection of the same instance"));
  }
  logger_->Info("user ", session->user(), " instance ", session->Name(), " registered");
  RememberApp(session->user(), session->app());
  QueueSync(session);
  QueueRefresh(session->user());  // its address is an endpoint of chains to its app
}

void ChangeCoordinator::RememberApp(const std::string& user, const std::string& app) {
  bool known = false;
  absl::Status read = store_->DryRun([&](StoreTransaction& tx) {
    absl::StatusOr<std::vector<std::string>> apps = tx.ListApps(user);
    if (!apps.ok()) return apps.status();
    known = std::find(apps->begin(), apps->end(), app) != apps->end();
    return absl::OkStatus();
  });
  if (!read.ok() || known) return;
  // Epoch 0 is what the store answers for an app it has never seen, so this changes no
  // epoch; it makes the app a known service across a controller restart.
  absl::Status stored = store_->Transact([&](StoreTransaction& tx) {
    absl::StatusOr<std::vector<std::string>> apps = tx.ListApps(user);
    if (!apps.ok()) return apps.status();
    if (std::find(apps->begin(), apps->end(), app) != apps->end()) return absl::OkStatus();
    return tx.SetEpoch(user, app, 0);
  });
  if (!stored.ok()) {
    logger_->Warning("user ", user, " app ", app, ": cannot remember the app: ", stored.message());
  }
}

void ChangeCoordinator::OnHeartbeat(const SessionPtr& session) {
  uint64_t committed = 0;
  {
    std::lock_guard<std::mutex> lock(epochs_mu_);
    auto found = committed_epochs_.find({session->user(), session->app()});
    if (found == committed_epochs_.end()) return;
    committed = found->second;
  }
  if (session->applied_epoch() < committed) QueueSync(session);
}

void ChangeCoordinator::OnClosed(const SessionPtr& session) {
  session->OnClosed();
  registry_->Remove(session);
  logger_->Info("user ", session->user(), " instance ", session->Name(), " disconnected");
  QueueRefresh(session->user());
}

}  // namespace middlepipe::controller
