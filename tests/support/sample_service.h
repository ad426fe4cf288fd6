// The sample service (platform/examples/sample-service) as a process of a test, steered
// over its control endpoints: fail on request, count the calls that reached it.
#pragma once

#include <memory>
#include <optional>

#include <httplib.h>

#include "tests/support/child_process.h"

namespace middlepipe::testing {

class SampleService {
 public:
  // Starts it on a loopback port the kernel picks (test failures if it cannot start).
  explicit SampleService(const ScratchDir& scratch,
                         const std::string& binary = "platform/examples/sample-service");

  int port() const { return port_; }
  // Calls to /orders it has answered; -1 if it cannot be asked.
  int calls();
  // Makes /orders answer 500 (true) or 200 (false).
  void Fail(bool failing);

 private:
  std::optional<ChildProcess> process_;
  std::unique_ptr<httplib::Client> control_;
  int port_ = 0;
};

}  // namespace middlepipe::testing
