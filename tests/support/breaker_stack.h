// A user's whole stack on one machine, for end-to-end tests of the circuit breaker: a
// real controller (which runs the user's aggregator), one real mp-agent for app "web",
// the sample service registered as "orders", and a circuit breaker "orders-breaker"
// bound between them, committed on the agent.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "controller/client/controller_client.h"
#include "tests/support/child_process.h"
#include "tests/support/controller_process.h"
#include "tests/support/sample_service.h"

namespace middlepipe::testing {

class BreakerStack {
 public:
  explicit BreakerStack(const ScratchDir& scratch) : scratch_(scratch), controller_(scratch) {}

  // Starts everything and binds a breaker with `config_json`; `agent_flags` go to mp-agent.
  absl::Status Start(const std::string& config_json, const std::vector<std::string>& agent_flags = {});

  ControllerProcess& controller() { return controller_; }
  ChildProcess& agent() { return *agent_; }
  SampleService& service() { return *service_; }
  controller::ControllerClient& client() { return *client_; }
  // The agent's hook socket, for the app's Hook.
  std::string hook_socket() const { return scratch_ / "agent.sock"; }

 private:
  const ScratchDir& scratch_;
  ControllerProcess controller_;
  std::optional<ChildProcess> agent_;
  std::optional<SampleService> service_;
  std::optional<controller::ControllerClient> client_;
};

}  // namespace middlepipe::testing
