// A fake filter agent for end-to-end tests: a real gRPC client of the controller's
// AgentControl stream that answers PREPARE/COMMIT/ABORT like an agent would, and records
// everything, so tests can check the two-phase commit from the agents' side.
//
// Behaviour knobs: reject any epoch whose chains contain a given middlepipe (as an agent
// that cannot build a filter would), or stay silent (never answer) to play a hung agent.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "proto/agent.grpc.pb.h"

namespace middlepipe::testing {

struct FakeAgentOptions {
  std::string target;  // controller address, e.g. "unix:///tmp/x/c.sock"
  std::string token;
  std::string app;
  uint32_t index = 0;
  std::string address = "198.18.0.1";
  // Register.incarnation (empty: an agent that predates it).
  std::string incarnation;
  // Reject every Prepare whose chains contain this middlepipe (empty: never).
  std::string reject_middlepipe;
  // Never answer Prepare or Commit.
  bool silent = false;
  std::chrono::milliseconds heartbeat_interval{200};
};

// The options of an ordinary agent: instance `index` of `app`, answering everything.
FakeAgentOptions AgentOptions(const std::string& target, const std::string& token,
                              const std::string& app, uint32_t index);

class FakeAgent {
 public:
  explicit FakeAgent(FakeAgentOptions options);
  ~FakeAgent();  // closes the stream and joins its threads

  // Waits until the agent runs `epoch` (committed it); false after `timeout`.
  bool WaitForEpoch(uint64_t epoch, std::chrono::milliseconds timeout);
  // Waits until the controller ended the stream; its status, or nullopt after `timeout`.
  std::optional<grpc::Status> WaitForStreamEnd(std::chrono::milliseconds timeout);

  // The epoch it runs now and its chains (nullopt before its first commit).
  std::optional<uint64_t> running_epoch() const;
  std::vector<v1::Chain> running_chains() const;
  // Every epoch it ever committed, in order.
  std::vector<uint64_t> committed_epochs() const;
  // Protocol violations seen, e.g. "commit of epoch 3 that was never prepared".
  std::vector<std::string> violations() const;
  // The aggregator address of the latest Welcome or Prepare.
  std::string aggregator_address() const;
  // Stops heartbeating (the controller should drop it).
  void StopHeartbeats() { heartbeats_.store(false); }

 private:
  void ReadLoop();
  void HeartbeatLoop();
  bool Write(const v1::AgentMessage& message);

  const FakeAgentOptions options_;
  std::unique_ptr<v1::AgentControl::Stub> stub_;
  grpc::ClientContext context_;
  std::unique_ptr<grpc::ClientReaderWriter<v1::AgentMessage, v1::ControllerMessage>> stream_;
  std::mutex write_mu_;

  mutable std::mutex mu_;
  std::condition_variable changed_;
  std::map<uint64_t, std::vector<v1::Chain>> prepared_;
  std::optional<uint64_t> running_epoch_;
  std::vector<v1::Chain> running_chains_;
  std::vector<uint64_t> committed_;
  std::vector<std::string> violations_;
  std::optional<grpc::Status> ended_;
  std::string aggregator_address_;

  std::atomic<bool> heartbeats_{true};
  std::atomic<bool> stopping_{false};
  std::thread reader_;
  std::thread heartbeater_;
};

}  // namespace middlepipe::testing
