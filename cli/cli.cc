#include "cli/cli.h"

#include <string>

#include <nlohmann/json.hpp>

#include "cli/command_context.h"
#include "cli/commands/commands.h"
#include "common/command_line.h"
#include "common/version.h"

namespace middlepipe::cli {
namespace {

constexpr char kProgram[] = "mp";

// `mp version`: the CLI's version, and the controller's. The CLI's own version is printed
// first either way; a controller that does not answer (or refuses the token) makes it a
// failure (exit 1), so scripts that check connectivity with `mp version` are not misled.
void Version(CommandContext& context) {
  nlohmann::json result = {{"client", {{"version", kVersion}, {"api", kApiVersion}}}};
  if (!context.json) context.out() << kProgram << " " << kVersion << " (" << kApiVersion << ")\n";

  absl::StatusOr<ConnectionOptions> connection = context.Connection();
  absl::StatusOr<ControllerClient> client =
      connection.ok() ? ControllerClient::Create(*connection) : connection.status();
  if (!client.ok()) {
    context.Fail(client.status());
    return;
  }
  auto version = client->Call(&v1::Controller::Stub::GetVersion, v1::GetVersionRequest());
  if (version.ok()) {
    result["controller"] = {{"version", version->version()},
                            {"api", version->api()},
                            {"address", client->address().ToString()},
                            {"user", version->user()}};
    if (!context.json) {
      context.out() << "controller " << version->version() << " (" << version->api() << ") at "
                    << client->address().ToString() << ", user " << version->user() << "\n";
    }
  } else {
    result["controller"] = nullptr;
    result["controller_error"] = std::string(version.status().message());
  }
  if (context.json) context.out() << result.dump(2) << "\n";
  if (!version.ok()) context.Fail(version.status());
}

}  // namespace

int RunCli(int argc, char** argv, std::ostream& out, std::ostream& err) {
  CommandContext context(out, err);
  CLI::App app("middlepipe: network functions as connectivity options between apps and services",
               kProgram);
  // Not require_subcommand(): CLI11 checks that before unknown flags, and would answer
  // `mp --bad-flag` with "a subcommand is required" instead of naming the flag.
  app.add_option("--controller", context.controller,
                 "Controller address: HOST:PORT or unix:///PATH (default: from the config file "
                 "mp local up writes, else 127.0.0.1:7400)")
      ->envname("MP_CONTROLLER");
  app.add_option("--token", context.token, "Bearer token of your user")->envname("MP_TOKEN");
  app.add_flag("--json", context.json, "Print results as JSON");
  // Global options may come after the command too (`mp apps --json`); subcommands made
  // below inherit this.
  app.fallthrough();
  app.footer("Run 'mp COMMAND --help' for a command's arguments and an example.");

  app.add_subcommand("version", "Print the versions of mp and of the controller")
      ->callback([&context] { Version(context); })
      ->footer("Example:\n  mp version");
  AddMiddlepipeCommands(app, context);
  AddBindingCommands(app, context);
  AddServiceCommands(app, context);
  AddLocalCommands(app, context);

  if (auto parse_exit = ParseCommandLine(app, argc, argv, out, err)) return *parse_exit;
  if (app.get_subcommands().empty()) {
    err << kProgram << ": error: no command given\n"
        << "Run '" << kProgram << " --help' for the commands.\n";
    return kExitUsage;
  }
  return context.exit_code();
}

}  // namespace middlepipe::cli
