// A real mp-aggregator for end-to-end tests and benchmarks, started by hand (as the
// controller would) on a Unix socket and an HTTP port the kernel picks; killed on
// destruction.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "proto/aggregator.grpc.pb.h"
#include "tests/support/aggregator_inputs.h"
#include "tests/support/child_process.h"

namespace middlepipe::testing {

class AggregatorProcess {
 public:
  // `binary`: the mp-aggregator path (relative to the runfiles root in tests).
  AggregatorProcess(const ScratchDir& scratch, std::string user, std::string binary = "aggregator/mp-aggregator",
                    std::vector<std::string> extra_flags = {});

  // Runs it under a launcher, e.g. {"taskset", "-c", "0"}; before Start().
  void set_launcher(std::vector<std::string> launcher) { launcher_ = std::move(launcher); }

  // Starts it (again); waits until it serves gRPC and HTTP.
  absl::Status Start();
  ChildProcess& process() { return *process_; }

  std::string target() const { return "unix://" + socket_; }
  int http_port() const { return http_port_; }
  v1::Aggregator::Stub& stub() { return *stub_; }

  // Configures it with `middlepipes` (each with its bindings) at a growing epoch.
  absl::Status Configure(const std::vector<v1::AggregatedMiddlepipe>& middlepipes);

 private:
  const ScratchDir& scratch_;
  const std::string user_;
  const std::string binary_;
  const std::vector<std::string> extra_flags_;
  const std::string socket_;
  std::vector<std::string> launcher_;
  std::optional<ChildProcess> process_;
  std::unique_ptr<v1::Aggregator::Stub> stub_;
  int http_port_ = 0;
  uint64_t epoch_ = 0;
};

}  // namespace middlepipe::testing
