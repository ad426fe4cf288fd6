// `mp local ...`: the local platform (platform/local). `up` starts the mp-local daemon in
// the background and writes the CLI's config; the other commands call it over the Unix
// socket in its state directory; `down` stops it, and cleans up by itself when the
// daemon is gone (it crashed or was killed).
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <memory>
#include <thread>

#include <google/protobuf/util/json_util.h>
#include <grpcpp/grpcpp.h>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "cli/cli_config.h"
#include "cli/commands/commands.h"
#include "cli/table.h"
#include "common/files.h"
#include "common/grpc_status.h"
#include "common/logger.h"
#include "common/process.h"
#include "common/sibling_binary.h"
#include "platform/local/leftovers.h"
#include "platform/local/platform.h"
#include "proto/local.grpc.pb.h"

namespace middlepipe::cli {
namespace {

using Stub = v1::LocalPlatform::Stub;

struct LocalOptions {
  std::string directory;
  std::string name = "mpl";
  std::string subnet = "198.18.0.0/16";
  std::string http_listen = "127.0.0.1:7480";
};

// --dir, else $MP_LOCAL_DIR, else the config's local-dir, else $HOME/.middlepipe; made
// absolute (the daemon runs elsewhere).
absl::StatusOr<std::string> StateDirectory(const std::string& flag) {
  std::string directory = flag;
  if (directory.empty()) {
    if (const char* from_env = std::getenv("MP_LOCAL_DIR"); from_env != nullptr) directory = from_env;
  }
  if (directory.empty()) {
    absl::StatusOr<CliConfig> config = LoadCliConfig(CliConfigPath());
    if (!config.ok()) return config.status();
    directory = config->local_dir;
  }
  if (directory.empty()) {
    const char* home = std::getenv("HOME");
    if (home == nullptr || *home == '\0') {
      return absl::FailedPreconditionError("no state directory: give --dir or set MP_LOCAL_DIR");
    }
    directory = absl::StrCat(home, "/.middlepipe");
  }
  if (directory[0] != '/') {
    char cwd[4096];
    if (getcwd(cwd, sizeof(cwd)) == nullptr) return absl::InternalError("cannot read the cwd");
    directory = absl::StrCat(cwd, "/", directory);
  }
  while (directory.size() > 1 && directory.back() == '/') directory.pop_back();
  return directory;
}

std::unique_ptr<Stub> Connect(const std::string& directory) {
  return v1::LocalPlatform::NewStub(grpc::CreateChannel(
      absl::StrCat("unix://", directory, "/platform.sock"), grpc::InsecureChannelCredentials()));
}

// One call to the platform; its errors as the user should read them.
template <typename Request, typename Response>
absl::StatusOr<Response> CallPlatform(
    const std::string& directory,
    grpc::Status (Stub::*method)(grpc::ClientContext*, const Request&, Response*),
    const Request& request, std::chrono::seconds deadline) {
  std::unique_ptr<Stub> stub = Connect(directory);
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + deadline);
  Response response;
  grpc::Status status = (stub.get()->*method)(&context, request, &response);
  if (status.error_code() == grpc::StatusCode::UNAVAILABLE) {
    return absl::UnavailableError(absl::StrCat("the local platform in ", directory,
                                               " is not running (start it with mp local up)"));
  }
  if (!status.ok()) return FromGrpcStatus(status);
  return response;
}

absl::StatusOr<v1::StatusResponse> PlatformStatus(const std::string& directory) {
  return CallPlatform(directory, &Stub::Status, v1::StatusRequest(), std::chrono::seconds(20));
}

std::string ProcessText(const v1::LocalProcess& process) {
  if (process.state() == "running") return absl::StrCat("running (pid ", process.pid(), ")");
  if (process.last_exit().empty()) return process.state();
  return absl::StrCat(process.state(), " after ", process.last_exit());
}

void PrintInstances(std::ostream& out, const std::vector<const v1::LocalApp*>& apps) {
  Table table({"APP", "INSTANCE", "ADDRESS", "NAMESPACE", "APP PROCESS", "RESTARTS", "AGENT",
               "STATE", "EPOCH"});
  for (const v1::LocalApp* app : apps) {
    for (const v1::LocalInstance& instance : app->instances()) {
      const bool known = instance.has_controller_view();
      table.AddRow({app->name(), std::to_string(instance.index()),
                    app->port() == 0 ? instance.address()
                                     : absl::StrCat(instance.address(), ":", app->port()),
                    instance.namespace_(), ProcessText(instance.app()),
                    std::to_string(instance.app().restarts() + instance.agent().restarts()),
                    ProcessText(instance.agent()),
                    known ? InstanceStateName(instance.controller_view().state()) : "unknown",
                    known ? absl::StrCat(instance.controller_view().applied_epoch(), "/", app->epoch())
                          : "-"});
    }
  }
  table.Print(out);
}

void PrintStatus(std::ostream& out, const v1::StatusResponse& status) {
  out << "local platform " << status.name() << " (pid " << status.pid() << "), state in "
      << status.directory() << ", subnet " << status.subnet() << "\n"
      << "controller " << status.controller() << " " << ProcessText(status.controller_process())
      << "; dashboard http://" << status.http() << "/\n";
  if (status.apps().empty()) {
    out << "no apps (push one with mp local push APP -- COMMAND...)\n";
    return;
  }
  std::vector<const v1::LocalApp*> apps;
  for (const v1::LocalApp& app : status.apps()) apps.push_back(&app);
  PrintInstances(out, apps);
  for (const v1::LocalApp& app : status.apps()) {
    if (!app.problem().empty()) {
      out << "app " << app.name() << " " << app.problem() << " (retry: mp local scale "
          << app.name() << " N)\n";
    }
  }
}

// A daemon that does not answer: stop it (if it runs at all) and clean up after it.
absl::Status CleanUpWithoutThePlatform(const std::string& directory, std::ostream& out) {
  const std::string pid_file = directory + "/platform.pid";
  if (absl::StatusOr<std::string> text = ReadFile(pid_file); text.ok()) {
    pid_t pid = 0;
    absl::StatusOr<std::string> command = ReadFile(absl::StrCat("/proc/", std::atoi(text->c_str()), "/cmdline"));
    if (absl::SimpleAtoi(absl::StripAsciiWhitespace(*text), &pid) && local::Running(pid) &&
        command.ok() && command->find("mp-local") != std::string::npos) {
      out << "the platform (pid " << pid << ") does not answer; stopping it\n";
      kill(pid, SIGTERM);
      for (int i = 0; i < 300 && local::Running(pid); ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
      }
      if (local::Running(pid)) kill(pid, SIGKILL);
    }
    unlink(pid_file.c_str());
  }
  // Which namespaces are this platform's comes from its state file: one that cannot
  // be read stops the clean-up rather than guessing (and removing another's).
  absl::StatusOr<v1::LocalPlatformState> state = local::LoadState(directory);
  if (!state.ok()) return state.status();
  const std::string state_file = directory + "/platform.json";
  const std::string name = state->name().empty() ? "mpl" : state->name();
  Logger logger("mp", &out);
  if (absl::Status removed = local::RemoveLeftovers(name, std::chrono::seconds(5), &logger);
      !removed.ok()) {
    return removed;
  }
  if (state->apps_size() > 0) {  // down forgets the apps, as a clean shutdown does
    state->clear_apps();
    std::string text;
    (void)google::protobuf::util::MessageToJsonString(*state, &text);
    if (absl::Status saved = WriteFileAtomically(state_file, text, 0600); !saved.ok()) return saved;
  }
  return absl::OkStatus();
}

absl::Status Up(CommandContext& context, const LocalOptions& options) {
  absl::StatusOr<std::string> directory = StateDirectory(options.directory);
  if (!directory.ok()) return directory.status();
  absl::StatusOr<v1::StatusResponse> status = PlatformStatus(*directory);
  bool started_now = false;
  if (!status.ok()) {
    if (!absl::IsUnavailable(status.status())) return status.status();
    const std::string binary = FindSiblingBinary("platform/local", "mp-local");
    if (binary.empty()) {
      return absl::NotFoundError("mp-local is not beside mp (or in $MP_BIN_DIR)");
    }
    if (absl::Status made = MakeDirectories(*directory, 0700); !made.ok()) return made;
    const std::string log = *directory + "/platform.log";
    SpawnOptions daemon;
    daemon.argv = {binary,           "--dir",    *directory,   "--name", options.name,
                   "--subnet",       options.subnet, "--http-listen", options.http_listen};
    daemon.output_path = log;
    absl::StatusOr<pid_t> pid = Spawn(daemon);
    if (!pid.ok()) return pid.status();
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(90);
    for (;;) {
      int exit_status = 0;
      if (waitpid(*pid, &exit_status, WNOHANG) == *pid) {
        return absl::FailedPreconditionError(absl::StrCat(
            "the local platform did not start (", DescribeExit(exit_status), "); ", log, ":\n",
            LastLines(log, 10)));
      }
      status = PlatformStatus(*directory);
      if (status.ok() && status->pid() == *pid) break;
      if (std::chrono::steady_clock::now() > deadline) {
        return absl::DeadlineExceededError(
            absl::StrCat("the local platform did not answer within 90 s; see ", log));
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    started_now = true;
  }
  CliConfig config;
  config.controller = status->controller();
  config.token_file = *directory + "/data/admin-token";
  config.local_dir = *directory;
  if (absl::Status written = WriteCliConfig(CliConfigPath(), config); !written.ok()) return written;
  context.Print(*status, [&] {
    context.out() << (started_now ? "started " : "already up: ");
    PrintStatus(context.out(), *status);
    context.out() << "mp now finds it with no flags (" << CliConfigPath() << ").\n"
                  << "Next: mp local push APP --instances N --port P -- COMMAND...; stop it all "
                     "with mp local down\n";
  });
  return absl::OkStatus();
}

absl::Status Down(CommandContext& context, const std::string& flag) {
  absl::StatusOr<std::string> directory = StateDirectory(flag);
  if (!directory.ok()) return directory.status();
  absl::StatusOr<v1::StatusResponse> status = PlatformStatus(*directory);
  v1::ShutdownResponse stopped;
  if (status.ok()) {
    absl::StatusOr<v1::ShutdownResponse> shutdown = CallPlatform(
        *directory, &Stub::Shutdown, v1::ShutdownRequest(), std::chrono::seconds(300));
    if (!shutdown.ok()) return shutdown.status();
    stopped = *shutdown;
    for (int i = 0; i < 200 && local::Running(status->pid()); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  }
  // Also after a clean stop: nothing of the platform may be left.
  if (absl::Status cleaned = CleanUpWithoutThePlatform(*directory, context.out()); !cleaned.ok()) {
    return cleaned;
  }
  context.Print(stopped, [&] {
    context.out() << "local platform stopped: " << stopped.stopped_instances()
                  << " instances stopped (their state merged), namespaces removed; the "
                     "controller's data stays in "
                  << *directory << "/data\n";
  });
  return absl::OkStatus();
}

CLI::App* AddLocalCommand(CLI::App& local, CommandContext& context, const std::string& name,
                          const std::string& description, const std::string& example,
                          std::string* directory, std::function<absl::Status()> body) {
  CLI::App* command = local.add_subcommand(name, description);
  command->footer("Example:\n  " + example);
  command->add_option("--dir", *directory,
                      "The platform's state directory (default: $MP_LOCAL_DIR, the config "
                      "file's local-dir, or ~/.middlepipe)");
  command->callback([&context, body = std::move(body)] {
    if (absl::Status status = body(); !status.ok()) context.Fail(status);
  });
  return command;
}

}  // namespace

void AddLocalCommands(CLI::App& app, CommandContext& context) {
  CLI::App* local = app.add_subcommand(
      "local", "The local platform: apps in network-namespace containers on this machine");
  local->require_subcommand(1);
  local->footer("Run 'mp local COMMAND --help' for a command's arguments and an example.");

  auto up = std::make_shared<LocalOptions>();
  CLI::App* up_command = AddLocalCommand(
      *local, context, "up", "Start the platform and its controller (idempotent)", "mp local up",
      &up->directory, [&context, up] { return Up(context, *up); });
  up_command->add_option("--name", up->name, "Prefix of its network namespaces")
      ->capture_default_str();
  up_command->add_option("--subnet", up->subnet, "The containers' address range")
      ->capture_default_str();
  up_command->add_option("--http-listen", up->http_listen,
                         "The controller's HTTP address (dashboard, /metrics)")
      ->capture_default_str();

  auto down_dir = std::make_shared<std::string>();
  AddLocalCommand(*local, context, "down",
                  "Stop everything and remove every namespace (also after a crash)",
                  "mp local down", down_dir.get(),
                  [&context, down_dir] { return Down(context, *down_dir); });

  struct Push {
    std::string directory;
    v1::AppSpec spec;
    uint32_t instances = 1;
    uint32_t port = 0;
    std::vector<std::string> command;
  };
  auto push = std::make_shared<Push>();
  CLI::App* push_command = AddLocalCommand(
      *local, context, "push", "Run an app: N instances, each in its own container with its agent",
      "mp local push orders --port 8080 -- sample-service --listen 0.0.0.0:8080",
      &push->directory, [&context, push]() -> absl::Status {
        absl::StatusOr<std::string> directory = StateDirectory(push->directory);
        if (!directory.ok()) return directory.status();
        absl::StatusOr<ConnectionOptions> connection = context.Connection();
        if (!connection.ok()) return connection.status();
        if (connection->token.empty()) {
          return absl::UnauthenticatedError(
              "no token for the app's agents: run mp local up (it writes the CLI's config) or "
              "set MP_TOKEN");
        }
        v1::PushRequest request;
        v1::AppSpec& spec = *request.mutable_app();
        spec = push->spec;
        spec.set_instances(push->instances);
        spec.set_port(push->port);
        spec.set_token(connection->token);
        for (const std::string& part : push->command) spec.add_command(part);
        absl::StatusOr<v1::PushResponse> pushed =
            CallPlatform(*directory, &Stub::Push, request, std::chrono::seconds(600));
        if (!pushed.ok()) return pushed.status();
        context.Print(*pushed, [&] {
          context.out() << "pushed " << pushed->app().name() << ": "
                        << pushed->app().instances_size() << " instances ready\n";
          PrintInstances(context.out(), {&pushed->app()});
        });
        return absl::OkStatus();
      });
  push_command->add_option("APP", *push->spec.mutable_name(), "The app's name")->required();
  push_command->add_option("--instances,-i", push->instances, "How many instances")
      ->capture_default_str();
  push_command->add_option("--port", push->port,
                           "The port the app serves on (given to it as $PORT)");
  push_command->add_option("COMMAND", push->command, "The command, after --")->required();

  struct Scale {
    std::string directory;
    std::string app;
    std::string instances;  // text: a negative count gets its own error, not a flag's
  };
  auto scale = std::make_shared<Scale>();
  CLI::App* scale_command = AddLocalCommand(
      *local, context, "scale", "Change how many instances an app runs", "mp local scale web 5",
      &scale->directory, [&context, scale]() -> absl::Status {
        absl::StatusOr<std::string> directory = StateDirectory(scale->directory);
        if (!directory.ok()) return directory.status();
        v1::ScaleRequest request;
        request.set_app(scale->app);
        int64_t instances = 0;
        if (!absl::SimpleAtoi(scale->instances, &instances)) {
          return absl::InvalidArgumentError(
              absl::StrCat("instances: \"", scale->instances, "\" is not a number"));
        }
        request.set_instances(instances);
        absl::StatusOr<v1::ScaleResponse> scaled =
            CallPlatform(*directory, &Stub::Scale, request, std::chrono::seconds(600));
        if (!scaled.ok()) return scaled.status();
        context.Print(*scaled, [&] {
          context.out() << "scaled " << scaled->app().name() << " to "
                        << scaled->app().instances_size() << " instances";
          if (scaled->started() > 0) {
            context.out() << " (" << scaled->started()
                          << " started with the cluster's state)";
          }
          if (scaled->stopped() > 0) {
            context.out() << " (" << scaled->stopped()
                          << " stopped, their state merged into the aggregator)";
          }
          context.out() << "\n";
          if (scaled->app().instances_size() > 0) PrintInstances(context.out(), {&scaled->app()});
        });
        return absl::OkStatus();
      });
  scale_command->add_option("APP", scale->app, "The app's name")->required();
  scale_command->add_option("INSTANCES", scale->instances, "How many instances")
      ->required()
      ->allow_extra_args(false);
  scale_command->allow_extras(false);

  auto status_dir = std::make_shared<std::string>();
  AddLocalCommand(*local, context, "status", "Show apps, instances, addresses, applied epochs",
                  "mp local status", status_dir.get(), [&context, status_dir]() -> absl::Status {
                    absl::StatusOr<std::string> directory = StateDirectory(*status_dir);
                    if (!directory.ok()) return directory.status();
                    absl::StatusOr<v1::StatusResponse> status = PlatformStatus(*directory);
                    if (!status.ok()) return status.status();
                    context.Print(*status, [&] { PrintStatus(context.out(), *status); });
                    return absl::OkStatus();
                  });

  struct Delete {
    std::string directory;
    std::string app;
  };
  auto remove = std::make_shared<Delete>();
  CLI::App* delete_command = AddLocalCommand(
      *local, context, "delete", "Stop an app's instances (merging their state) and forget it",
      "mp local delete web", &remove->directory, [&context, remove]() -> absl::Status {
        absl::StatusOr<std::string> directory = StateDirectory(remove->directory);
        if (!directory.ok()) return directory.status();
        v1::DeleteRequest request;
        request.set_app(remove->app);
        absl::StatusOr<v1::DeleteResponse> deleted =
            CallPlatform(*directory, &Stub::Delete, request, std::chrono::seconds(300));
        if (!deleted.ok()) return deleted.status();
        context.Print(*deleted, [&] {
          context.out() << "deleted " << remove->app << ": " << deleted->stopped()
                        << " instances stopped\n";
        });
        return absl::OkStatus();
      });
  delete_command->add_option("APP", remove->app, "The app's name")->required();
}

}  // namespace middlepipe::cli
