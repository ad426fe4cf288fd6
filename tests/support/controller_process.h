// A real mp-controller for end-to-end tests: started on a Unix socket and an HTTP port
// the kernel picks, in a scratch data dir; restartable on the same data (for crash
// tests), killed on destruction.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "controller/client/controller_client.h"
#include "tests/support/child_process.h"

namespace middlepipe::testing {

class ControllerProcess {
 public:
  // `extra_flags` go to mp-controller as given, e.g. {"--tokens", path}.
  ControllerProcess(const ScratchDir& scratch, std::vector<std::string> extra_flags = {});

  // Starts it (again, on the same data dir); waits until it serves.
  absl::Status Start();
  ChildProcess& process() { return *process_; }

  std::string target() const { return "unix://" + socket_; }
  int http_port() const { return http_port_; }
  std::string data_dir() const { return data_dir_; }
  // The admin token the controller wrote on first start.
  std::string AdminToken() const;
  // A client of the northbound API acting with `token`.
  controller::ControllerClient Client(const std::string& token) const;
  // Environment for running the `mp` binary against this controller.
  std::vector<std::string> CliEnv(const std::string& token) const;

 private:
  const ScratchDir& scratch_;
  const std::vector<std::string> extra_flags_;
  const std::string data_dir_;
  const std::string socket_;
  std::optional<ChildProcess> process_;
  int http_port_ = 0;
};

}  // namespace middlepipe::testing
