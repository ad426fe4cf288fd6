#include "cli/command_context.h"

#include <google/protobuf/util/json_util.h>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "cli/cli_config.h"
#include "absl/strings/str_join.h"
#include "common/files.h"

namespace middlepipe::cli {

CLI::App* CommandContext::AddCommand(CLI::App& app, const std::string& name,
                                     const std::string& description, const std::string& example,
                                     std::function<absl::Status(ControllerClient&)> body) {
  CLI::App* command = app.add_subcommand(name, description);
  command->footer("Example:\n  " + example);
  command->callback([this, body = std::move(body)] {
    absl::StatusOr<ConnectionOptions> connection = Connection();
    absl::StatusOr<ControllerClient> client =
        connection.ok() ? ControllerClient::Create(*connection) : connection.status();
    absl::Status status = client.ok() ? body(*client) : client.status();
    if (!status.ok()) Fail(status);
  });
  return command;
}

absl::StatusOr<ConnectionOptions> CommandContext::Connection() const {
  ConnectionOptions connection;
  connection.controller = controller;
  connection.token = token;
  if (connection.controller.empty() || connection.token.empty()) {
    absl::StatusOr<CliConfig> config = LoadCliConfig(CliConfigPath());
    if (!config.ok()) return config.status();
    if (connection.controller.empty()) connection.controller = config->controller;
    if (connection.token.empty() && !config->token_file.empty()) {
      absl::StatusOr<std::string> read = ReadFile(config->token_file);
      if (!read.ok()) {
        return absl::Status(read.status().code(),
                            absl::StrCat("the token file of ", CliConfigPath(), ": ",
                                         read.status().message()));
      }
      connection.token = std::string(absl::StripAsciiWhitespace(*read));
    }
  }
  if (connection.controller.empty()) connection.controller = kDefaultController;
  return connection;
}

void CommandContext::Print(const google::protobuf::Message& message,
                           const std::function<void()>& print_text) {
  if (!json) {
    print_text();
    return;
  }
  google::protobuf::util::JsonPrintOptions options;
  options.add_whitespace = true;
  options.preserve_proto_field_names = true;
  options.always_print_primitive_fields = true;
  std::string text;
  if (!google::protobuf::util::MessageToJsonString(message, &text, options).ok()) {
    Fail(absl::InternalError("cannot print the answer as JSON"));
    return;
  }
  out_ << text;
}

void CommandContext::Fail(const absl::Status& status) {
  err_ << "mp: error: " << status.message() << "\n";
  exit_code_ = 1;
}

void CommandContext::Warn(const std::string& message) { err_ << "mp: warning: " << message << "\n"; }

std::string InstanceStateName(v1::InstanceState state) {
  switch (state) {
    case v1::INSTANCE_STATE_STARTING:
      return "starting";
    case v1::INSTANCE_STATE_READY:
      return "ready";
    case v1::INSTANCE_STATE_LOST:
      return "lost";
    case v1::INSTANCE_STATE_DRAINING:
      return "draining";
    default:
      return "?";
  }
}

std::string DescribeRollout(const v1::Rollout& rollout) {
  if (rollout.epoch() == 0) return "no chain changed";
  if (rollout.instances_total() == 0) {
    return absl::StrCat("committed at epoch ", rollout.epoch(),
                        "; no instances are running (they get it when they start)");
  }
  std::string text = absl::StrCat("applied to ", rollout.instances_applied(), "/",
                                  rollout.instances_total(), " instances at epoch ",
                                  rollout.epoch());
  std::vector<std::string> lagging;
  for (const v1::LaggingInstance& laggard : rollout.lagging()) {
    lagging.push_back(absl::StrCat(laggard.instance().app(), "/", laggard.instance().index(), " (",
                                   laggard.reason(), ")"));
  }
  if (!lagging.empty()) absl::StrAppend(&text, "; lagging: ", absl::StrJoin(lagging, ", "));
  return text;
}

absl::StatusOr<std::string> ReadConfigArgument(const std::string& argument) {
  if (argument.empty() || argument[0] != '@') return argument;
  absl::StatusOr<std::string> contents = ReadFile(argument.substr(1));
  if (!contents.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("-c ", argument, ": ", contents.status().message()));
  }
  return contents;
}

}  // namespace middlepipe::cli
