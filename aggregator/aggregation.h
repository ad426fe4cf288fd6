// The aggregator's core: what one user's middlepipes look like across all instances.
//
// It takes the controller's configuration snapshot (which middlepipes exist and where
// they are bound), accepts agents' report batches, refusing what the user does not own
// or what is out of range (each with a counter; a report for a binding not configured
// yet waits a few seconds for the configuration that is on its way), applies every batch exactly once
// (batches carry sequence numbers per agent incarnation, so one resent after a reconnect
// is acknowledged but not counted again), keeps per (middlepipe, app, service) rolling
// and total statistics, and runs each kind's aggregator half (kind_aggregate.h).
// Decisions go out at once when they change and are re-sent as leases every lease/3;
// an agent that stops hearing them falls back to local decisions.
//
// Thread-safe: one mutex; kinds run under it. Time comes from the injected clock.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

#include "absl/status/status.h"
#include "aggregator/kind_aggregate.h"
#include "aggregator/request_window.h"
#include "common/logger.h"
#include "proto/aggregator.pb.h"
#include "scheduler/kind_catalog.h"

namespace middlepipe::aggregator {

// Unix time in milliseconds; tests pass a fake one.
using UnixClock = std::function<int64_t()>;
UnixClock SystemUnixClock();

// Sends one batch to one agent; false if its stream is gone or backed up.
using DecisionSender = std::function<bool(const v1::DecisionBatch&)>;

struct AggregationOptions {
  std::string user;
  UnixClock clock = SystemUnixClock();
  // How long a decision holds unrefreshed at the agent.
  uint32_t lease_ms = 3000;
  // Window for statistics of kinds without a window_ms of their own.
  int64_t default_window_ms = 10000;
  // Floods: batches beyond this per agent per second, and reports beyond this per batch,
  // are refused (counted).
  uint32_t max_batches_per_second = 200;
  int max_reports_per_batch = 10000;
  // Where refusals are said (once per reason); may be null.
  Logger* logger = nullptr;
};

// What the aggregator counted about its own work, for /metrics.
struct AggregatorCounters {
  uint64_t batches = 0;
  uint64_t reports = 0;
  // Requests the accepted reports covered (the ingest figure).
  uint64_t observations = 0;
  uint64_t duplicate_batches = 0;
  uint64_t lost_batches = 0;
  // Reports agents said they dropped before sending.
  uint64_t agent_dropped_reports = 0;
  uint64_t decisions_sent = 0;
  uint64_t decisions_undeliverable = 0;
  uint32_t agents_connected = 0;
  uint64_t configure_epoch = 0;
  // Refused reports and batches, by reason.
  std::map<std::string, uint64_t> rejected;
};

class Aggregation {
 public:
  // `catalog` and `kinds` are not owned and must outlive the aggregation.
  Aggregation(AggregationOptions options, const scheduler::KindCatalog* catalog,
              const KindAggregateRegistry* kinds);
  ~Aggregation();

  // Replaces the configuration with a complete snapshot. Statistics and decisions of
  // (middlepipe, app, service) whose kind and config did not change are kept. An older
  // epoch is ignored; a bad snapshot changes nothing.
  absl::Status Configure(const v1::ConfigureRequest& request);
  uint64_t epoch() const;

  // An agent's stream said who it is. Returns a connection id for Disconnect; a newer
  // connection of the same instance replaces an older one.
  uint64_t Connect(const v1::AgentIdentity& agent, DecisionSender sender);
  void Disconnect(const v1::AgentIdentity& agent, uint64_t connection);

  // Applies a batch (once). Returns the sequence to acknowledge, or INVALID_ARGUMENT /
  // RESOURCE_EXHAUSTED for a batch refused as a whole.
  absl::StatusOr<uint64_t> Ingest(const v1::ReportBatch& batch);

  // Time-driven work: transitions, rebalancing, leases. Call about every 100 ms.
  void Tick();

  v1::QueryResponse Query(const v1::QueryRequest& request) const;
  // Folds a departing instance's unreported statistics in; returns how many were merged.
  absl::StatusOr<uint32_t> MergeState(const v1::MergeStateRequest& request);
  v1::ExportStateResponse ExportState(const v1::ExportStateRequest& request) const;

  AggregatorCounters counters() const;

 private:
  struct Entry;
  struct AgentLink;
  using AgentKey = std::pair<std::string, uint32_t>;
  using Outgoing = std::map<AgentKey, v1::DecisionBatch>;

  // A report whose (middlepipe, app, service) is not configured yet.
  struct Unplaced {
    int64_t received_ms;
    uint32_t instance;
    v1::Report report;
  };

  // Counts an accepted report into its entry; returns the entry if its kind decides
  // (so its decisions are collected), else null. An unknown key waits (may_wait) or is
  // refused; a wrong kind or out-of-range values are refused.
  Entry* Place(uint32_t instance, const v1::Report& report, int64_t now_ms, bool may_wait);
  // Places waiting reports whose key is now configured; with `expire`, refuses those
  // that waited out their grace.
  void PlaceWaitingReports(int64_t now_ms, bool expire);
  ClusterView ViewOf(const Entry& entry, int64_t now_ms) const;
  // Computes the decisions of `entry` for its connected instances (or `only` one) and
  // queues those an instance does not hold yet, each with a new sequence.
  void Decide(Entry& entry, int64_t now_ms, std::optional<uint32_t> only, Outgoing& outgoing);
  // Decide() for all, if the kind's decisions may have changed since the last time.
  void DecideIfChanged(Entry& entry, int64_t now_ms, Outgoing& outgoing);
  // Queues the held decisions whose lease is due for a refresh.
  void RenewLeases(Entry& entry, int64_t now_ms, Outgoing& outgoing);
  void SendAll(Outgoing& outgoing);
  // Runs the kinds of every entry of `app` after its instances changed; an instance that
  // just `arrived` gets the decisions it should hold.
  void RebalanceApp(const std::string& app, int64_t now_ms,
                    std::optional<uint32_t> arrived = std::nullopt);
  // Counts a refusal; `what` names what was refused for the log.
  void Reject(const std::string& reason, const std::string& what, uint64_t count = 1);
  void FillState(const Entry& entry, int64_t now_ms, v1::MiddlepipeState& state) const;

  const AggregationOptions options_;
  const scheduler::KindCatalog* const catalog_;
  const KindAggregateRegistry* const kinds_;
  // Decision sequences start from the start time, so they keep growing across restarts.
  const uint64_t sequence_base_;
  // The last decision sequence handed out, over all entries: a binding whose config
  // changed gets a fresh entry, and its decisions must still be newer than what agents
  // hold, or they would be taken for stale ones.
  uint64_t last_sequence_ = 0;  // mu_

  mutable std::mutex mu_;
  uint64_t epoch_ = 0;
  std::map<std::tuple<std::string, std::string, std::string>, std::unique_ptr<Entry>> entries_;
  std::map<AgentKey, AgentLink> agents_;
  // Connected instances per app, ascending (the ClusterView of every report, kept rather
  // than rebuilt from agents_ on the ingest path).
  std::map<std::string, std::vector<uint32_t>> connected_;
  std::deque<Unplaced> unplaced_;
  uint64_t next_connection_ = 1;
  AggregatorCounters counters_;
};

}  // namespace middlepipe::aggregator
