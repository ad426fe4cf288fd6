#include "tests/support/controller_steps.h"

namespace middlepipe::testing {

using Stub = v1::Controller::Stub;

absl::Status RegisterService(controller::ControllerClient& client, const std::string& name,
                             const std::string& host, int port) {
  v1::RegisterServiceRequest request;
  request.set_name(name);
  request.add_endpoints()->set_host(host);
  request.mutable_endpoints(0)->set_port(static_cast<uint32_t>(port));
  return client.Call(&Stub::RegisterService, request).status();
}

absl::StatusOr<v1::Rollout> CreateAndBind(controller::ControllerClient& client,
                                          const std::string& kind, const std::string& name,
                                          const std::string& config_json, const std::string& app,
                                          const std::string& service) {
  v1::CreateMiddlepipeRequest create;
  create.set_kind(kind);
  create.set_name(name);
  create.set_config_json(config_json);
  if (auto created = client.Call(&Stub::CreateMiddlepipe, create); !created.ok()) {
    return created.status();
  }
  v1::BindMiddlepipeRequest bind;
  bind.set_name(name);
  bind.set_app(app);
  bind.set_service(service);
  auto bound = client.Call(&Stub::BindMiddlepipe, bind);
  if (!bound.ok()) return bound.status();
  return bound->rollout();
}

}  // namespace middlepipe::testing
