#include "tests/support/breaker_stack.h"

#include "absl/strings/str_cat.h"
#include "common/files.h"

namespace middlepipe::testing {

using Stub = v1::Controller::Stub;

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

  v1::RegisterServiceRequest orders;
  orders.set_name("orders");
  orders.add_endpoints()->set_host("127.0.0.1");
  orders.mutable_endpoints(0)->set_port(static_cast<uint32_t>(service_->port()));
  if (auto registered = client_->Call(&Stub::RegisterService, orders); !registered.ok()) {
    return registered.status();
  }
  v1::CreateMiddlepipeRequest create;
  create.set_kind("circuit-breaker");
  create.set_name("orders-breaker");
  create.set_config_json(config_json);
  if (auto created = client_->Call(&Stub::CreateMiddlepipe, create); !created.ok()) {
    return created.status();
  }
  if (!agent_->WaitForStderrLine("running epoch 0", std::chrono::seconds(20))) {
    return absl::UnavailableError(absl::StrCat("the agent did not start: ", agent_->Stderr()));
  }
  v1::BindMiddlepipeRequest bind;
  bind.set_name("orders-breaker");
  bind.set_app("web");
  bind.set_service("orders");
  auto bound = client_->Call(&Stub::BindMiddlepipe, bind);
  if (!bound.ok()) return bound.status();
  if (bound->rollout().instances_applied() != 1) {
    return absl::InternalError(absl::StrCat("bind reached ", bound->rollout().instances_applied(),
                                            " instances, not 1"));
  }
  return absl::OkStatus();
}

}  // namespace middlepipe::testing
