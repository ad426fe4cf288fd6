// mp-local: the local platform's daemon (see platform.h). `mp local up` starts it in the
// background; `mp local push/scale/status/down` talk to it on DIR/platform.sock.
#include <signal.h>
#include <unistd.h>

#include <iostream>
#include <string>

#include "absl/strings/str_cat.h"
#include "common/address.h"
#include "common/command_line.h"
#include "common/files.h"
#include "common/grpc_server.h"
#include "common/logger.h"
#include "common/sibling_binary.h"
#include "common/termination.h"
#include "common/version.h"
#include "platform/local/local_service.h"
#include "platform/local/platform.h"

namespace middlepipe::local {
namespace {

constexpr char kProgram[] = "mp-local";

int Run(PlatformOptions options) {
  TerminationSignals termination;  // before any thread starts
  Logger logger(kProgram, &std::cerr);
  if (options.directory.empty() || options.directory[0] != '/') {
    return Fail(kProgram,
                absl::InvalidArgumentError(absl::StrCat("--dir \"", options.directory,
                                                        "\" must be an absolute path")),
                std::cerr);
  }
  if (options.controller_binary.empty()) {
    options.controller_binary = FindSiblingBinary("controller", "mp-controller");
  }
  if (options.agent_binary.empty()) options.agent_binary = FindSiblingBinary("filter-agent", "mp-agent");
  if (options.client_library.empty()) {
    options.client_library = FindSiblingBinary("clients/cpp/fastpath", "libmiddlepipe_client.so");
  }
  for (const std::string* binary : {&options.controller_binary, &options.agent_binary}) {
    if (binary->empty()) {
      return Fail(kProgram,
                  absl::NotFoundError("mp-controller and mp-agent must be beside mp-local (or "
                                      "in $MP_BIN_DIR)"),
                  std::cerr);
    }
  }
  if (geteuid() != 0) {
    return Fail(kProgram,
                absl::PermissionDeniedError("the local platform makes network namespaces, which "
                                            "needs root (run it with sudo)"),
                std::cerr);
  }
  logger.Info("version ", kVersion, " platform ", options.name, " in ", options.directory,
              " subnet ", options.subnet);
  absl::StatusOr<std::unique_ptr<Platform>> platform = Platform::Start(options, &logger);
  if (!platform.ok()) return Fail(kProgram, platform.status(), std::cerr);

  LocalService service(platform->get(), [] { kill(getpid(), SIGTERM); });
  absl::StatusOr<Address> listen = ParseAddress(absl::StrCat("unix://", options.directory,
                                                             "/platform.sock"));
  if (!listen.ok()) return Fail(kProgram, listen.status(), std::cerr);
  absl::StatusOr<RunningGrpcServer> server = StartGrpcServer(*listen, {&service});
  if (!server.ok()) return Fail(kProgram, server.status(), std::cerr);
  (void)WriteFileAtomically(options.directory + "/platform.pid", absl::StrCat(getpid(), "\n"), 0600);
  logger.Info("platform listening on ", server->bound.ToString());

  const int signal_number = termination.Wait();
  logger.Info("signal ", signal_number, ": shutting down");
  (*platform)->Shutdown();
  server->Stop();
  unlink((options.directory + "/platform.pid").c_str());
  logger.Info("stopped");
  return 0;
}

}  // namespace
}  // namespace middlepipe::local

int main(int argc, char** argv) {
  middlepipe::local::PlatformOptions options;
  CLI::App app("middlepipe local platform: apps in network-namespace containers on one machine",
               "mp-local");
  app.add_option("--dir", options.directory, "State directory (absolute)");
  app.add_option("--name", options.name, "Platform name: the prefix of its network namespaces")
      ->capture_default_str();
  app.add_option("--subnet", options.subnet, "The containers' address range")->capture_default_str();
  app.add_option("--http-listen", options.http_listen,
                 "The controller's HTTP address (dashboard, /metrics, broker)")
      ->capture_default_str();
  app.add_option("--controller-binary", options.controller_binary, "mp-controller to run");
  app.add_option("--agent-binary", options.agent_binary, "mp-agent to run");
  app.add_option("--client-library", options.client_library,
                 "libmiddlepipe_client.so for apps' hooks (default: beside mp-local, if built)");
  app.add_option("--controller-arg", options.controller_arguments,
                 "An extra argument for mp-controller (repeatable)");
  middlepipe::AddVersionCommand(app, std::cout);
  if (auto exit_code = middlepipe::ParseCommandLine(app, argc, argv, std::cout, std::cerr)) {
    return *exit_code;
  }
  if (auto exit_code = middlepipe::RequireOptions(app, {"--dir"}, std::cerr)) return *exit_code;
  return middlepipe::local::Run(options);
}
