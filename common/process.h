// Starting and stopping child processes the way middlepipe's supervisors do (the
// controller's aggregators, the local platform's apps and agents): no shell, output to a
// log file, optionally inside a network namespace, and every failure up to the exec
// reported to the caller as a status naming what failed, not lost in the child.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace middlepipe {

struct SpawnOptions {
  // argv[0] is a path, or a name looked up in PATH.
  std::vector<std::string> argv;
  // "NAME=value" entries added to (or replacing those of) this process's environment.
  std::vector<std::string> environment;
  // Where stdout and stderr go (appended, created 0600); empty: this process's own.
  std::string output_path;
  // A network namespace file (e.g. /run/netns/NAME) to run in; empty: this one.
  std::string network_namespace;
  // Its own session and process group, so StopProcessGroup reaches what it starts too.
  bool new_session = true;
  // SIGTERM to the child when this process dies (even by kill -9).
  bool die_with_parent = false;
};

// Starts the child; its pid, or an error such as
// "cannot run sample-app: No such file or directory".
absl::StatusOr<pid_t> Spawn(const SpawnOptions& options);

// Runs a command to its end and returns what it printed (stdout and stderr together);
// an error carrying the command, how it exited and its output if it did not exit 0.
// For short-lived tools (ip, iptables), not for long-running children.
absl::StatusOr<std::string> RunToCompletion(const std::vector<std::string>& argv);

// "exit code 1", "signal 9", from a waitpid status.
std::string DescribeExit(int status);

// Sends SIGTERM to the process group `pid` leads (or to `pid` alone when it leads none),
// waits up to `grace` for `pid` to exit, then SIGKILLs the group. Reaps `pid` and returns
// its waitpid status; -1 if it was not a child of this process or already reaped.
int StopProcessGroup(pid_t pid, std::chrono::milliseconds grace);

}  // namespace middlepipe
