// Reports the filters' observations to the user's aggregator and applies the decisions
// it pushes back (DESIGN.md §4): every interval, each filter of the committed chains
// hands over its deltas (RequestFilter::TakeReport), and the non-empty ones go as one
// ReportBatch on the agent's Exchange stream. Decisions coming back on the stream go to
// the filter they name. Requests never wait on any of this; while no aggregator is
// reachable, filters keep deciding locally, and the reporter says so once per outage.
//
// No counted data is lost to a broken stream: batches stay kept until the aggregator
// acknowledges them and are resent, with the same sequence numbers, on the next stream
// (the aggregator applies each once); only more than kMaxUnacknowledged batches make the
// oldest go, and that loss is counted and told in the next batch. Stop() sends a last
// batch with what the filters saw since the previous one.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include <grpcpp/grpcpp.h>

#include "common/logger.h"
#include "filter-agent/cancellable_loop.h"
#include "proto/aggregator.grpc.pb.h"
#include "scheduler/chain_table.h"

namespace middlepipe::agent {

struct ReporterOptions {
  std::string app;
  uint32_t instance = 0;
  std::chrono::milliseconds interval{250};
  // Where the aggregator is now (from the controller); empty: none.
  std::function<std::string()> aggregator_address;
  // How long Stop() waits for the last batch to be taken.
  std::chrono::milliseconds drain_timeout{2000};
};

class Reporter {
 public:
  static constexpr size_t kMaxUnacknowledged = 256;

  // Not owned; must outlive the reporter.
  Reporter(ReporterOptions options, const scheduler::ChainTable* chains, Logger* logger);
  ~Reporter();  // Stop()

  void Start();
  // Sends what is left, then stops. Idempotent.
  void Stop();

  uint64_t batches_sent() const { return batches_sent_.load(); }
  uint64_t decisions_applied() const { return decisions_applied_.load(); }
  bool connected() const { return connected_.load(); }
  // Batches sent but not yet acknowledged.
  size_t unacknowledged() const;

 private:
  void Run();
  // One Exchange stream until it breaks or Stop(); reports every interval.
  void RunStream(const std::string& address);
  // Collects the filters' deltas into a new numbered batch kept for resending; false if
  // there was nothing to report.
  bool Collect();
  void Apply(const v1::DecisionBatch& decisions);
  v1::AgentIdentity Identity() const;

  const ReporterOptions options_;
  const scheduler::ChainTable* const chains_;
  Logger* const logger_;
  // Batch sequences restart with every run of the agent; the aggregator tells runs apart
  // by this (the start time).
  const uint64_t incarnation_;

  CancellableLoop loop_;
  mutable std::mutex mu_;  // guards the fields below up to the atomics
  std::condition_variable finished_changed_;
  bool finished_ = false;
  bool warned_ = false;
  uint64_t sequence_ = 0;
  std::deque<v1::ReportBatch> unacknowledged_;
  // Reports lost because more than kMaxUnacknowledged batches were waiting; told in the
  // next batch.
  uint64_t dropped_reports_ = 0;

  std::atomic<uint64_t> batches_sent_{0};
  std::atomic<uint64_t> decisions_applied_{0};
  std::atomic<bool> connected_{false};
  std::thread thread_;
};

}  // namespace middlepipe::agent
