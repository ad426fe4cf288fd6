// Asks a gRPC server's standard health service (grpc.health.v1.Health/Check, the one
// grpc_health_probe uses) whether it is serving, without generated health stubs.
#pragma once

#include <chrono>
#include <string>

#include "absl/status/statusor.h"

namespace middlepipe::testing {

// True if the server at `target` answers SERVING for the whole server (service "").
absl::StatusOr<bool> IsServing(const std::string& target, std::chrono::milliseconds timeout);

}  // namespace middlepipe::testing
