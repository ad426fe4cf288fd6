// What every `mp` command shares: the global options, where output goes, the exit code,
// and how to reach the controller. Commands register themselves on the CLI11 app with a
// callback that uses this context (see commands/*.h).
#pragma once

#include <functional>
#include <ostream>
#include <string>

#include <CLI/CLI.hpp>
#include <google/protobuf/message.h>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "controller/client/controller_client.h"
#include "proto/controller.pb.h"

namespace middlepipe::cli {

// The CLI's commands talk to the controller through the shared client.
using controller::ConnectionOptions;
using controller::ControllerClient;

inline constexpr char kDefaultController[] = "127.0.0.1:7400";

class CommandContext {
 public:
  CommandContext(std::ostream& out, std::ostream& err) : out_(out), err_(err) {}

  // Global options, bound to flags (and MP_CONTROLLER / MP_TOKEN) by RunCli; empty when
  // not given, then the CLI's config file (cli/cli_config.h) or the default applies.
  std::string controller;
  std::string token;
  bool json = false;

  // Where the controller is and the token to show it: flags and environment first, then
  // the config file `mp local up` writes, then 127.0.0.1:7400 and no token.
  absl::StatusOr<ConnectionOptions> Connection() const;

  std::ostream& out() { return out_; }
  int exit_code() const { return exit_code_; }

  // Adds a subcommand whose help ends with `example`, and whose callback runs `body`
  // against the controller; `body`'s error becomes "mp: error: ..." and exit 1.
  CLI::App* AddCommand(CLI::App& app, const std::string& name, const std::string& description,
                       const std::string& example,
                       std::function<absl::Status(ControllerClient&)> body);

  // Prints `message` as JSON (with --json) or calls `print_text`.
  void Print(const google::protobuf::Message& message, const std::function<void()>& print_text);

  // Reports an error as mp does: one line on stderr, exit code 1.
  void Fail(const absl::Status& status);
  void Warn(const std::string& message);

 private:
  std::ostream& out_;
  std::ostream& err_;
  int exit_code_ = 0;
};

// "ready", "starting", "lost", "draining".
std::string InstanceStateName(v1::InstanceState state);

// "applied to 3/3 instances at epoch 7", with laggards named; empty rollouts say so.
std::string DescribeRollout(const v1::Rollout& rollout);

// A config argument: inline JSON, or @FILE to read it from a file.
absl::StatusOr<std::string> ReadConfigArgument(const std::string& argument);

}  // namespace middlepipe::cli
