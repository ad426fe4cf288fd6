#include "tests/support/controller_process.h"

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "common/files.h"

namespace middlepipe::testing {

ControllerProcess::ControllerProcess(const ScratchDir& scratch, std::vector<std::string> extra_flags)
    : scratch_(scratch),
      extra_flags_(std::move(extra_flags)),
      data_dir_(scratch / "data"),
      socket_(scratch / "controller.sock") {}

absl::Status ControllerProcess::Start() {
  process_.reset();  // a previous run is killed first
  std::vector<std::string> argv = {"controller/mp-controller", "--data-dir", data_dir_,
                                   "--grpc-listen", target(), "--http-listen", "127.0.0.1:0"};
  argv.insert(argv.end(), extra_flags_.begin(), extra_flags_.end());
  absl::StatusOr<ChildProcess> started = ChildProcess::Start(argv, scratch_.path());
  if (!started.ok()) return started.status();
  process_.emplace(std::move(*started));
  absl::StatusOr<int> port = WaitForHttpPort(*process_, "mp-controller");
  if (!port.ok()) return port.status();
  http_port_ = *port;
  return absl::OkStatus();
}

std::string ControllerProcess::AdminToken() const {
  absl::StatusOr<std::string> token = ReadFile(data_dir_ + "/admin-token");
  return token.ok() ? std::string(absl::StripTrailingAsciiWhitespace(*token)) : "";
}

controller::ControllerClient ControllerProcess::Client(const std::string& token) const {
  return *controller::ControllerClient::Create({target(), token});
}

std::vector<std::string> ControllerProcess::CliEnv(const std::string& token) const {
  return {"MP_CONTROLLER=" + target(), "MP_TOKEN=" + token};
}

}  // namespace middlepipe::testing
