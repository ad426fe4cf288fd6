// What the agent stream tells the rest of the controller. Implemented by the
// ChangeCoordinator; kept apart so the stream code does not depend on it.
#pragma once

#include <memory>

#include "controller/agents/agent_session.h"

namespace middlepipe::controller {

class AgentEvents {
 public:
  virtual ~AgentEvents() = default;
  // A new session registered (the stream already sent Welcome). Must not block.
  virtual void OnRegistered(const std::shared_ptr<AgentSession>& session) = 0;
  // The agent sent a heartbeat (the session already recorded it). Must not block.
  virtual void OnHeartbeat(const std::shared_ptr<AgentSession>& session) = 0;
  // The stream ended. Must not block.
  virtual void OnClosed(const std::shared_ptr<AgentSession>& session) = 0;
};

}  // namespace middlepipe::controller
