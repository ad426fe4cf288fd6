#include "tests/support/breaker_stack.h"

#include "absl/strings/str_cat.h"
#include "common/files.h"
#include "tests/support/controller_steps.h"

namespace middlepipe::testing {

absl::Status BreakerStack::Start(const std::string& config_json,
                                 const std::vector<std::string>& agent_flags) {
  if (absl::Status started = controller_.Start(); !started.ok()) return started;
  const std::string token = controller_.AdminToken();
  if (absl::Status written = WriteFileAtomically(scratch_ / "token", token, 0600); !written.ok()) {
    return written;
  }
  std::vector<std::string> argv = {"filter-agent/mp-agent", "--controller", controller_.target(),
                                   "--app", "web", "--token-file", scratch_ / "token",
                                   "--socket", hook_socket()};
  argv.insert(argv.end(), agent_flags.begin(), agent_flags.end());
  absl::StatusOr<ChildProcess> agent = ChildProcess::Start(argv, scratch_.path());
  if (!agent.ok()) return agent.status();
  agent_.emplace(std::move(*agent));
  service_.emplace(scratch_);
  client_.emplace(controller_.Client(token));

  if (absl::Status registered = RegisterService(*client_, "orders", "127.0.0.1", service_->port());
      !registered.ok()) {
    return registered;
  }
  if (!agent_->WaitForStderrLine("running epoch 0", std::chrono::seconds(20))) {
    return absl::UnavailableError(absl::StrCat("the agent did not start: ", agent_->Stderr()));
  }
  absl::StatusOr<v1::Rollout> rollout =
      CreateAndBind(*client_, "circuit-breaker", "orders-breaker", config_json, "web", "orders");
  if (!rollout.ok()) return rollout.status();
  if (rollout->instances_applied() != 1) {
    return absl::InternalError(absl::StrCat("bind reached ", rollout->instances_applied(),
                                            " instances, not 1"));
  }
  return absl::OkStatus();
}

}  // namespace middlepipe::testing
