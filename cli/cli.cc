#include "cli/cli.h"

#include <string>

#include <nlohmann/json.hpp>

#include "cli/controller_client.h"
#include "common/command_line.h"
#include "common/version.h"

namespace middlepipe::cli {
namespace {

constexpr char kProgram[] = "mp";

struct GlobalOptions {
  std::string controller = "127.0.0.1:7400";
  std::string token;
  bool json = false;
};

// `mp version`: the CLI's version, and the controller's when it answers. The controller
// being away is a warning, not a failure: the CLI's own version is still the answer.
int Version(const GlobalOptions& options, std::ostream& out, std::ostream& err) {
  nlohmann::json result = {{"client", {{"version", kVersion}, {"api", kApiVersion}}}};
  if (!options.json) out << kProgram << " " << kVersion << " (" << kApiVersion << ")\n";

  absl::StatusOr<ControllerClient> client =
      ControllerClient::Create({options.controller, options.token});
  if (!client.ok()) return Fail(kProgram, client.status(), err);
  auto version = client->Call(&v1::Controller::Stub::GetVersion, v1::GetVersionRequest());
  if (version.ok()) {
    result["controller"] = {{"version", version->version()},
                            {"api", version->api()},
                            {"address", client->address().ToString()},
                            {"user", version->user()}};
    if (!options.json) {
      out << "controller " << version->version() << " (" << version->api() << ") at "
          << client->address().ToString() << ", user " << version->user() << "\n";
    }
  } else {
    result["controller"] = nullptr;
    result["controller_error"] = std::string(version.status().message());
    err << kProgram << ": warning: " << version.status().message() << "\n";
  }
  if (options.json) out << result.dump(2) << "\n";
  return 0;
}

}  // namespace

int RunCli(int argc, char** argv, std::ostream& out, std::ostream& err) {
  GlobalOptions options;
  CLI::App app("middlepipe: network functions as connectivity options between apps and services",
               kProgram);
  // Not require_subcommand(): CLI11 checks that before unknown flags, and would answer
  // `mp --bad-flag` with "a subcommand is required" instead of naming the flag.
  app.add_option("--controller", options.controller, "Controller address: HOST:PORT or unix:///PATH")
      ->envname("MP_CONTROLLER")
      ->capture_default_str();
  app.add_option("--token", options.token, "Bearer token of your user")->envname("MP_TOKEN");
  app.add_flag("--json", options.json, "Print results as JSON");

  int exit_code = 0;
  app.add_subcommand("version", "Print the versions of mp and of the controller")
      ->callback([&] { exit_code = Version(options, out, err); });

  if (auto parse_exit = ParseCommandLine(app, argc, argv, out, err)) return *parse_exit;
  if (app.get_subcommands().empty()) {
    err << kProgram << ": error: no command given\n"
        << "Run '" << kProgram << " --help' for the commands.\n";
    return kExitUsage;
  }
  return exit_code;
}

}  // namespace middlepipe::cli
