// Many agents in one process for control-plane benchmarks: each is a gRPC callback
// reactor on the AgentControl stream (no thread per agent) that registers, acknowledges
// every Prepare and Commit at once, and records the epochs it committed. Agents are
// spread over a few channels with separate connections, as separate containers would be.
#pragma once

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "proto/agent.grpc.pb.h"

namespace middlepipe::bench {

class SwarmAgent;

class AgentSwarm {
 public:
  AgentSwarm(const std::string& target, const std::string& token, const std::string& app,
             int agents, int connections);
  ~AgentSwarm();  // cancels every stream and waits for them to end

  int size() const { return static_cast<int>(agents_.size()); }
  // Agents whose latest commit is at least `epoch`.
  int AtEpoch(uint64_t epoch) const;
  // Agents whose stream ended.
  int Ended() const;

 private:
  std::vector<std::shared_ptr<grpc::Channel>> channels_;
  std::vector<std::unique_ptr<v1::AgentControl::Stub>> stubs_;
  std::vector<std::unique_ptr<SwarmAgent>> agents_;
};

}  // namespace middlepipe::bench
