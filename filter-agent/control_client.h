// The agent's side of the AgentControl stream (proto/agent.proto): registers, applies
// PREPARE / COMMIT / ABORT to the chain table, heartbeats at the interval the controller
// asks for, and reconnects with exponential back-off (0.1 s doubling to 5 s, reset once a
// stream got its Welcome) whenever the stream ends. Requests never wait on any of this:
// they read the chain table, which only changes at COMMIT.
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
#include "proto/agent.grpc.pb.h"
#include "scheduler/chain_table.h"

namespace middlepipe::agent {

struct ControlClientOptions {
  std::string target;  // controller, "unix:///path" or "host:port"
  std::string token;
  v1::Register registration;  // app, instance_index, address, agent_version
  std::chrono::milliseconds initial_backoff{100};
  std::chrono::milliseconds max_backoff{5000};
  // Whether the agent's aggregator stream is up, for heartbeats. A change is told at
  // once (not at the next interval): a platform waits for it before it counts a new
  // instance ready, since only then does the instance hold the cluster's decisions.
  std::function<bool()> aggregator_connected = [] { return false; };
  std::function<uint64_t()> requests_handled = [] { return uint64_t{0}; };
  // Runs after an epoch is committed and before the commit is acknowledged: what apps
  // read of it outside the chain table (the fast path's segment) must be current by the
  // time the controller counts this instance as running it.
  std::function<void(uint64_t epoch)> committed = [](uint64_t) {};
};

class ControlClient {
 public:
  // `chains` and `logger` are not owned and must outlive the client.
  ControlClient(ControlClientOptions options, scheduler::ChainTable* chains, Logger* logger);
  ~ControlClient();  // Stop()

  void Start();
  // Ends the stream and the reconnect loop; returns when the thread is gone.
  void Stop();

  // Whether a stream is up and welcomed now.
  bool connected() const { return connected_.load(); }
  // The aggregator address from the latest Welcome or Prepare (empty: none).
  std::string aggregator_address() const;

 private:
  using Stream = grpc::ClientReaderWriter<v1::AgentMessage, v1::ControllerMessage>;

  void Run();
  // One stream from connect to end; returns whether it was welcomed (and not refused).
  bool RunStream();
  // Why the controller refused the last stream (ALREADY_EXISTS: another agent holds
  // this instance).
  std::string refused_reason() const;
  void Handle(const v1::ControllerMessage& message, Stream& stream);
  bool Write(Stream& stream, const v1::AgentMessage& message);

  const ControlClientOptions options_;
  scheduler::ChainTable* const chains_;
  Logger* const logger_;
  std::unique_ptr<v1::AgentControl::Stub> stub_;

  CancellableLoop loop_;
  mutable std::mutex mu_;  // guards the three fields below
  std::string aggregator_address_;
  std::chrono::milliseconds heartbeat_interval_{1000};
  std::string refused_reason_;
  std::atomic<bool> connected_{false};
  std::atomic<bool> refused_{false};  // the last stream ended ALREADY_EXISTS

  std::mutex write_mu_;  // one Write at a time on the stream
  std::thread thread_;
};

}  // namespace middlepipe::agent
