#include "tests/support/child_process.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/files.h"

extern char** environ;

namespace middlepipe::testing {
namespace {

constexpr auto kPollInterval = std::chrono::milliseconds(10);

std::string ReadOrEmpty(const std::string& path) {
  absl::StatusOr<std::string> contents = ReadFile(path);
  return contents.ok() ? *contents : std::string();
}

int DecodeWaitStatus(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -1;
}

// "BASE.N" for the first N whose BASE.N.stdout did not exist; creating that file claims
// it, so two children of the same binary never share output files.
absl::StatusOr<std::string> ClaimOutputPrefix(const std::string& base) {
  for (int n = 0; n < 10000; ++n) {
    std::string prefix = absl::StrCat(base, ".", n);
    int fd = open((prefix + ".stdout").c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd >= 0) {
      close(fd);
      return prefix;
    }
    if (errno != EEXIST) return absl::ErrnoToStatus(errno, absl::StrCat("cannot create ", prefix));
  }
  return absl::ResourceExhaustedError(absl::StrCat("no free output file name for ", base));
}

}  // namespace

absl::StatusOr<ChildProcess> ChildProcess::Start(const std::vector<std::string>& argv,
                                                 const std::string& scratch_dir,
                                                 const std::vector<std::string>& env) {
  const std::string base = std::filesystem::path(argv.at(0)).filename().string();
  absl::StatusOr<std::string> prefix = ClaimOutputPrefix(absl::StrCat(scratch_dir, "/", base));
  if (!prefix.ok()) return prefix.status();
  const std::string stdout_path = *prefix + ".stdout";
  const std::string stderr_path = *prefix + ".stderr";

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, stdout_path.c_str(),
                                   O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, stderr_path.c_str(),
                                   O_WRONLY | O_CREAT | O_TRUNC, 0644);
  // The child must not inherit a blocked SIGTERM from a test that blocked it.
  posix_spawnattr_t attributes;
  posix_spawnattr_init(&attributes);
  sigset_t none;
  sigemptyset(&none);
  posix_spawnattr_setsigmask(&attributes, &none);
  posix_spawnattr_setflags(&attributes, POSIX_SPAWN_SETSIGMASK);

  std::vector<std::string> environment;
  for (char** entry = environ; *entry != nullptr; ++entry) environment.emplace_back(*entry);
  for (const std::string& entry : env) environment.push_back(entry);
  std::vector<char*> env_pointers;
  for (std::string& entry : environment) env_pointers.push_back(entry.data());
  env_pointers.push_back(nullptr);
  std::vector<std::string> arguments = argv;
  std::vector<char*> arg_pointers;
  for (std::string& argument : arguments) arg_pointers.push_back(argument.data());
  arg_pointers.push_back(nullptr);

  pid_t pid = -1;
  int error = posix_spawn(&pid, arguments[0].c_str(), &actions, &attributes,
                          arg_pointers.data(), env_pointers.data());
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attributes);
  if (error != 0) return absl::ErrnoToStatus(error, absl::StrCat("cannot start ", argv[0]));
  return ChildProcess(pid, stdout_path, stderr_path);
}

ChildProcess::ChildProcess(ChildProcess&& other) noexcept
    : pid_(other.pid_),
      stdout_path_(std::move(other.stdout_path_)),
      stderr_path_(std::move(other.stderr_path_)),
      exit_code_(other.exit_code_) {
  other.pid_ = -1;
}

ChildProcess::~ChildProcess() {
  if (pid_ <= 0) return;
  kill(pid_, SIGKILL);
  int status = 0;
  waitpid(pid_, &status, 0);
}

void ChildProcess::Signal(int signal_number) const {
  if (pid_ > 0) kill(pid_, signal_number);
}

std::optional<int> ChildProcess::WaitForExit(std::chrono::milliseconds timeout) {
  if (exit_code_.has_value()) return exit_code_;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    int status = 0;
    pid_t reaped = waitpid(pid_, &status, WNOHANG);
    if (reaped == pid_) {
      pid_ = -1;
      exit_code_ = DecodeWaitStatus(status);
      return exit_code_;
    }
    if (std::chrono::steady_clock::now() >= deadline) return std::nullopt;
    std::this_thread::sleep_for(kPollInterval);
  }
}

std::optional<std::string> ChildProcess::WaitForStderrLine(const std::string& text,
                                                           std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    for (absl::string_view line : absl::StrSplit(Stderr(), '\n')) {
      if (line.find(text) != absl::string_view::npos) return std::string(line);
    }
    if (WaitForExit(std::chrono::milliseconds(0)).has_value()) return std::nullopt;
    if (std::chrono::steady_clock::now() >= deadline) return std::nullopt;
    std::this_thread::sleep_for(kPollInterval);
  }
}

std::string ChildProcess::Stdout() const { return ReadOrEmpty(stdout_path_); }
std::string ChildProcess::Stderr() const { return ReadOrEmpty(stderr_path_); }

absl::StatusOr<Completed> RunCommand(const std::vector<std::string>& argv,
                                     const std::string& scratch_dir,
                                     const std::vector<std::string>& env,
                                     std::chrono::milliseconds timeout) {
  absl::StatusOr<ChildProcess> child = ChildProcess::Start(argv, scratch_dir, env);
  if (!child.ok()) return child.status();
  std::optional<int> exit_code = child->WaitForExit(timeout);
  if (!exit_code.has_value()) {
    return absl::DeadlineExceededError(
        absl::StrCat(argv[0], " did not finish within ", timeout.count(), " ms"));
  }
  return Completed{*exit_code, child->Stdout(), child->Stderr()};
}

ScratchDir::ScratchDir() {
  char pattern[] = "/tmp/mp-test.XXXXXX";
  const char* made = mkdtemp(pattern);
  path_ = made != nullptr ? made : "";
}

ScratchDir::~ScratchDir() {
  std::error_code ignored;
  if (!path_.empty()) std::filesystem::remove_all(path_, ignored);
}

absl::StatusOr<int> WaitForHttpPort(ChildProcess& process, const std::string& name,
                                    std::chrono::milliseconds timeout) {
  std::optional<std::string> line = process.WaitForStderrLine("http listening on", timeout);
  if (!line.has_value()) {
    return absl::UnavailableError(absl::StrCat(name, " did not start: ", process.Stderr()));
  }
  int port = 0;
  if (!absl::SimpleAtoi(line->substr(line->rfind(':') + 1), &port)) {
    return absl::InternalError(absl::StrCat("no port in: ", *line));
  }
  return port;
}

long ChildProcess::ResidentKb() const {
  std::ifstream status("/proc/" + std::to_string(pid_) + "/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
  }
  return -1;
}

}  // namespace middlepipe::testing
