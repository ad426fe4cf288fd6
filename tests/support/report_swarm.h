// Many simulated agents on the aggregator's Exchange stream, in one process: each is a
// gRPC callback reactor (no thread per agent) that sends the report batches it is given,
// numbered like a real agent's, and records every decision it receives with its arrival
// time. For the aggregator's end-to-end tests and its benchmarks.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "proto/aggregator.grpc.pb.h"
#include "tests/support/aggregator_inputs.h"

namespace middlepipe::testing {

class SwarmReporter;

class ReportSwarm {
 public:
  using Clock = std::chrono::steady_clock;

  struct Received {
    Clock::time_point at;
    v1::Decision decision;
  };

  // Opens `agents` streams as instances 0..agents-1 of `app`, spread over `connections`
  // channels; each introduces itself with an empty batch.
  ReportSwarm(const std::string& target, const std::string& app, int agents, int connections = 4);
  ~ReportSwarm();  // ends every stream

  int size() const { return static_cast<int>(agents_.size()); }
  // Sends one batch from `agent` (the next sequence number).
  void Send(int agent, std::vector<v1::Report> reports);
  // Ends `agent`'s stream (the instance went away).
  void Disconnect(int agent);

  // The latest decision `agent` holds for `middlepipe`, if any.
  std::optional<v1::Decision> Latest(int agent, const std::string& middlepipe) const;
  // Everything `agent` received, oldest first.
  std::vector<Received> History(int agent) const;
  // The highest batch sequence acknowledged to `agent`.
  uint64_t Acknowledged(int agent) const;

 private:
  std::vector<std::shared_ptr<grpc::Channel>> channels_;
  std::vector<std::unique_ptr<v1::Aggregator::Stub>> stubs_;
  std::vector<std::unique_ptr<SwarmReporter>> agents_;
};

}  // namespace middlepipe::testing
