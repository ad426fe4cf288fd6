// Runs a binary under test as a child process, with its stdout and stderr captured to
// files, so end-to-end tests can read its log lines, signal it and check how it exits.
// A child still running when its ChildProcess is destroyed is killed and reaped, so no
// test leaves processes behind on any exit path.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace middlepipe::testing {

class ChildProcess {
 public:
  // Starts argv[0] (a path) with argv; `env` entries ("NAME=value") are added to this
  // process's environment. Output goes to files under `scratch_dir`.
  static absl::StatusOr<ChildProcess> Start(const std::vector<std::string>& argv,
                                            const std::string& scratch_dir,
                                            const std::vector<std::string>& env = {});

  ChildProcess(ChildProcess&& other) noexcept;
  ChildProcess& operator=(ChildProcess&&) = delete;
  ChildProcess(const ChildProcess&) = delete;
  ~ChildProcess();

  pid_t pid() const { return pid_; }
  void Signal(int signal_number) const;

  // The exit code (or 128 + signal number if a signal ended it), or nullopt if the child
  // is still running after `timeout`.
  std::optional<int> WaitForExit(std::chrono::milliseconds timeout);

  // Waits until the child's stderr contains `text`; returns the whole line that does, or
  // nullopt after `timeout` or when the child exits first.
  std::optional<std::string> WaitForStderrLine(const std::string& text,
                                               std::chrono::milliseconds timeout);

  std::string Stdout() const;
  std::string Stderr() const;
  // Its resident memory in kB (VmRSS from /proc); -1 when it cannot be read.
  long ResidentKb() const;

 private:
  ChildProcess(pid_t pid, std::string stdout_path, std::string stderr_path)
      : pid_(pid), stdout_path_(std::move(stdout_path)), stderr_path_(std::move(stderr_path)) {}

  pid_t pid_ = -1;  // -1 once reaped
  std::string stdout_path_;
  std::string stderr_path_;
  std::optional<int> exit_code_;
};

// Waits until `process` logs "http listening on HOST:PORT" (as the project's servers do)
// and returns the port; UNAVAILABLE with its log if it does not within `timeout`.
absl::StatusOr<int> WaitForHttpPort(ChildProcess& process, const std::string& name,
                                    std::chrono::milliseconds timeout = std::chrono::seconds(30));

struct Completed {
  int exit_code = -1;
  std::string out;
  std::string err;
};

// Runs a command to completion (killing it after `timeout`, which fails the result).
absl::StatusOr<Completed> RunCommand(const std::vector<std::string>& argv,
                                     const std::string& scratch_dir,
                                     const std::vector<std::string>& env = {},
                                     std::chrono::milliseconds timeout = std::chrono::seconds(30));

// A fresh directory under /tmp with a short path (Unix socket paths are limited to 107
// bytes, and Bazel's TEST_TMPDIR is often longer), removed with its contents at
// destruction.
class ScratchDir {
 public:
  ScratchDir();
  ~ScratchDir();
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;

  const std::string& path() const { return path_; }
  std::string operator/(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

}  // namespace middlepipe::testing
