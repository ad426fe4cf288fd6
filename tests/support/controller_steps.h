// The usual first steps of an end-to-end test against a controller, one call each.
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "controller/client/controller_client.h"

namespace middlepipe::testing {

// Registers an external service at host:port.
absl::Status RegisterService(controller::ControllerClient& client, const std::string& name,
                             const std::string& host, int port);

// Creates a middlepipe and binds it between app and service; returns the bind's rollout.
absl::StatusOr<v1::Rollout> CreateAndBind(controller::ControllerClient& client,
                                          const std::string& kind, const std::string& name,
                                          const std::string& config_json, const std::string& app,
                                          const std::string& service);

}  // namespace middlepipe::testing
