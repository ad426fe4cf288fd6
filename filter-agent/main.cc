// mp-agent: one per app container. Registers with the controller, receives chains by
// two-phase commit, hosts the scheduler, serves the client hook socket, runs NFQUEUE.
//
// This is the process skeleton: it validates its configuration (controller address, app
// name, token) and runs until SIGTERM. The control stream, the hook socket and the
// scheduler are added by the agent issue; until then the agent says so at start.
#include <cstdlib>
#include <iostream>
#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "common/address.h"
#include "common/command_line.h"
#include "common/files.h"
#include "common/logger.h"
#include "common/names.h"
#include "common/termination.h"
#include "common/version.h"

namespace middlepipe::agent {
namespace {

constexpr char kProgram[] = "mp-agent";
constexpr char kDefaultSocket[] = "/run/middlepipe/agent.sock";

struct Options {
  std::string controller;
  std::string app;
  uint32_t instance = 0;
  std::string token_file;
  std::string socket;
  std::string shm;
};

// The hook socket: --socket, else $MP_AGENT_SOCKET, else the documented default.
std::string HookSocketPath(const Options& options) {
  if (!options.socket.empty()) return options.socket;
  const char* from_env = std::getenv("MP_AGENT_SOCKET");
  return from_env != nullptr && *from_env != '\0' ? from_env : kDefaultSocket;
}

// The fast-path segment: --shm, else $MP_AGENT_SHM, else next to the hook socket.
std::string SharedMemoryPath(const Options& options, const std::string& socket) {
  if (!options.shm.empty()) return options.shm;
  const char* from_env = std::getenv("MP_AGENT_SHM");
  if (from_env != nullptr && *from_env != '\0') return from_env;
  return absl::StrCat(socket, ".shm");
}

int Run(const Options& options) {
  TerminationSignals termination;  // before any thread starts
  Logger logger(kProgram, &std::cerr);

  absl::StatusOr<Address> controller = ParseAddress(options.controller);
  if (!controller.ok()) return Fail(kProgram, controller.status(), std::cerr);
  if (absl::Status name = ValidateName("app name", options.app); !name.ok()) {
    return Fail(kProgram, name, std::cerr);
  }
  absl::StatusOr<std::string> token = ReadFile(options.token_file);
  if (!token.ok()) return Fail(kProgram, token.status(), std::cerr);
  if (absl::StripAsciiWhitespace(*token).empty()) {
    return Fail(kProgram,
                absl::InvalidArgumentError(absl::StrCat("token file ", options.token_file,
                                                        " is empty")),
                std::cerr);
  }
  const std::string socket = HookSocketPath(options);

  logger.Info("version ", kVersion, " app ", options.app, " instance ", options.instance,
              " controller ", controller->ToString());
  logger.Info("hook socket ", socket, " shm ", SharedMemoryPath(options, socket));
  logger.Warning("skeleton build: no control stream, hook socket or scheduler yet");

  int signal_number = termination.Wait();
  logger.Info("signal ", signal_number, ": shutting down");
  logger.Info("stopped");
  return 0;
}

}  // namespace
}  // namespace middlepipe::agent

int main(int argc, char** argv) {
  middlepipe::agent::Options options;
  CLI::App app("middlepipe filter agent: runs an app container's middlepipe filters",
               "mp-agent");
  app.add_option("--controller", options.controller,
                 "Controller gRPC address: HOST:PORT or unix:///PATH");
  app.add_option("--app", options.app, "Name of the app this container runs");
  app.add_option("--instance", options.instance, "Index of this instance (0-based)")
      ->capture_default_str();
  app.add_option("--token-file", options.token_file, "File holding the user's bearer token");
  app.add_option("--socket", options.socket,
                 "Hook socket path (default: $MP_AGENT_SOCKET or /run/middlepipe/agent.sock)");
  app.add_option("--shm", options.shm,
                 "Fast-path shared memory path (default: $MP_AGENT_SHM or SOCKET.shm)");
  middlepipe::AddVersionCommand(app, std::cout);
  if (auto exit_code = middlepipe::ParseCommandLine(app, argc, argv, std::cout, std::cerr)) {
    return *exit_code;
  }
  if (auto exit_code = middlepipe::RequireOptions(app, {"--controller", "--app", "--token-file"}, std::cerr)) {
    return *exit_code;
  }
  return middlepipe::agent::Run(options);
}
