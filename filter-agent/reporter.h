// Reports the filters' observations to the user's aggregator and applies the decisions
// it pushes back (DESIGN.md §4): every interval, each filter of the committed chains
// hands over its deltas (RequestFilter::TakeReport), and the non-empty ones go as one
// ReportBatch on the agent's Exchange stream. Decisions coming back on the stream go to
// the filter they name. Requests never wait on any of this; while no aggregator is
// reachable, filters keep their deltas and decide locally, and the reporter says so
// once per outage on the log.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
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
  std::chrono::milliseconds interval{1000};
  // Where the aggregator is now (from the controller); empty: none.
  std::function<std::string()> aggregator_address;
};

class Reporter {
 public:
  // Not owned; must outlive the reporter.
  Reporter(ReporterOptions options, const scheduler::ChainTable* chains, Logger* logger);
  ~Reporter();  // Stop()

  void Start();
  void Stop();

  uint64_t batches_sent() const { return batches_sent_.load(); }
  uint64_t decisions_applied() const { return decisions_applied_.load(); }
  bool connected() const { return connected_.load(); }

 private:
  void Run();
  // One Exchange stream until it breaks or Stop(); reports every interval.
  void RunStream(const std::string& address);
  // Collects the filters' deltas; false if there was nothing to report.
  bool Collect(v1::ReportBatch& batch);
  void Apply(const v1::DecisionBatch& decisions);

  const ReporterOptions options_;
  const scheduler::ChainTable* const chains_;
  Logger* const logger_;

  CancellableLoop loop_;
  std::mutex mu_;  // guards warned_
  bool warned_ = false;

  uint64_t sequence_ = 0;
  // Reports taken from filters but lost with a broken stream; told in the next batch.
  uint64_t dropped_reports_ = 0;
  std::atomic<uint64_t> batches_sent_{0};
  std::atomic<uint64_t> decisions_applied_{0};
  std::atomic<bool> connected_{false};
  std::thread thread_;
};

}  // namespace middlepipe::agent
