// Starts a gRPC server the way every middlepipe process does: on a TCP or Unix socket
// address, with the standard health service and server reflection turned on, so
// grpc_health_probe and grpcurl work against any of them.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "absl/status/statusor.h"
#include "common/address.h"

namespace middlepipe {

struct RunningGrpcServer {
  std::unique_ptr<grpc::Server> server;
  // Where it listens, with the port the kernel chose if the address asked for port 0.
  Address bound;

  // Stops accepting calls, gives calls in flight `grace` to finish, then cancels the
  // rest (streams from agents never end on their own) and waits until all are done.
  void Stop(std::chrono::milliseconds grace = std::chrono::milliseconds(2000));
};

// The largest message any middlepipe server takes: a config with a large ids rule set
// fits; gRPC refuses a larger one with RESOURCE_EXHAUSTED before it is parsed. (gRPC's
// own default is the same; it is stated here so the bound is the project's decision.)
inline constexpr int kMaxGrpcReceiveBytes = 4 << 20;

// Starts serving `services` (not owned; they must outlive the server) on `address`.
// A stale Unix socket file at the address's path is removed first; a live one (another
// process still serving on it) is refused.
absl::StatusOr<RunningGrpcServer> StartGrpcServer(const Address& address,
                                                  const std::vector<grpc::Service*>& services);

}  // namespace middlepipe
