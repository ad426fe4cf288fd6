// The AgentControl gRPC service (proto/agent.proto): one bidirectional stream per agent,
// served with gRPC's callback API so a thousand connected agents cost no thread each.
//
// The stream authenticates the agent's bearer token, takes its Register, answers
// Welcome, and from then on turns the agent's messages into AgentSession/AgentEvents
// calls; what the controller sends goes through a per-stream queue (one write in flight
// at a time, as gRPC requires).
#pragma once

#include <functional>
#include <string>

#include "common/logger.h"
#include "controller/agents/agent_events.h"
#include "controller/tokens.h"
#include "proto/agent.grpc.pb.h"

namespace middlepipe::controller {

struct AgentServiceOptions {
  // Told to agents in Welcome.
  uint32_t heartbeat_interval_ms = 1000;
  // The user's aggregator address for Welcome (empty: none runs yet).
  std::function<std::string(const std::string& user)> aggregator_address =
      [](const std::string&) { return std::string(); };
};

class AgentService final : public v1::AgentControl::CallbackService {
 public:
  // None of the pointers is owned; all must outlive the service.
  AgentService(const TokenTable* tokens, AgentEvents* events, Logger* logger,
               AgentServiceOptions options)
      : tokens_(tokens), events_(events), logger_(logger), options_(options) {}

  grpc::ServerBidiReactor<v1::AgentMessage, v1::ControllerMessage>* Connect(
      grpc::CallbackServerContext* context) override;

 private:
  const TokenTable* const tokens_;
  AgentEvents* const events_;
  Logger* const logger_;
  const AgentServiceOptions options_;
};

}  // namespace middlepipe::controller
