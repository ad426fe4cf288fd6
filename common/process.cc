#include "common/process.h"

#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <map>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

extern char** environ;

namespace middlepipe {
namespace {

// What the child reports through the pipe when it fails before exec.
struct ChildFailure {
  int stage;  // index into kStages
  int error;
};

constexpr const char* kStages[] = {"enter the network namespace of", "run"};

// This process's environment with `changes` applied, as "NAME=value" strings.
std::vector<std::string> MergedEnvironment(const std::vector<std::string>& changes) {
  std::map<std::string, std::string> by_name;
  for (char** entry = environ; *entry != nullptr; ++entry) {
    std::string text(*entry);
    by_name[text.substr(0, text.find('='))] = text;
  }
  for (const std::string& change : changes) by_name[change.substr(0, change.find('='))] = change;
  std::vector<std::string> merged;
  for (auto& [name, text] : by_name) merged.push_back(std::move(text));
  return merged;
}

std::vector<char*> Pointers(std::vector<std::string>& strings) {
  std::vector<char*> pointers;
  for (std::string& text : strings) pointers.push_back(text.data());
  pointers.push_back(nullptr);
  return pointers;
}

}  // namespace

absl::StatusOr<pid_t> Spawn(const SpawnOptions& options) {
  if (options.argv.empty()) return absl::InvalidArgumentError("no command to run");
  const std::string& program = options.argv[0];
  std::vector<std::string> arguments = options.argv;
  std::vector<std::string> environment = MergedEnvironment(options.environment);
  std::vector<char*> argv = Pointers(arguments);
  std::vector<char*> envp = Pointers(environment);

  // Everything that can fail with a useful message is opened here, before the fork.
  int output = -1;
  if (!options.output_path.empty()) {
    output = open(options.output_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (output < 0) {
      return absl::UnavailableError(
          absl::StrCat("cannot open ", options.output_path, ": ", std::strerror(errno)));
    }
  }
  int network_namespace = -1;
  if (!options.network_namespace.empty()) {
    network_namespace = open(options.network_namespace.c_str(), O_RDONLY | O_CLOEXEC);
    if (network_namespace < 0) {
      const int error = errno;
      if (output >= 0) close(output);
      return absl::UnavailableError(absl::StrCat("cannot open network namespace ",
                                                 options.network_namespace, ": ",
                                                 std::strerror(error)));
    }
  }
  int report[2];
  if (pipe2(report, O_CLOEXEC) != 0) {
    const int error = errno;
    if (output >= 0) close(output);
    if (network_namespace >= 0) close(network_namespace);
    return absl::ResourceExhaustedError(absl::StrCat("pipe: ", std::strerror(error)));
  }

  const pid_t parent = getpid();
  const pid_t pid = fork();
  if (pid == 0) {
    // Only async-signal-safe calls from here to the exec.
    auto fail = [&](int stage) {
      ChildFailure failure{stage, errno};
      (void)!write(report[1], &failure, sizeof(failure));
      _exit(127);
    };
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);  // not the parent's blocked signals
    if (options.new_session) setsid();
    if (options.die_with_parent) {
      prctl(PR_SET_PDEATHSIG, SIGTERM);
      if (getppid() != parent) _exit(0);  // the parent died before prctl
    }
    if (network_namespace >= 0 && setns(network_namespace, CLONE_NEWNET) != 0) fail(0);
    if (output >= 0) {
      dup2(output, STDOUT_FILENO);
      dup2(output, STDERR_FILENO);
    }
    int null_input = open("/dev/null", O_RDONLY);
    if (null_input >= 0) dup2(null_input, STDIN_FILENO);
    if (program.find('/') == std::string::npos) {
      execvpe(argv[0], argv.data(), envp.data());
    } else {
      execve(argv[0], argv.data(), envp.data());
    }
    fail(1);
  }
  const int fork_error = errno;
  close(report[1]);
  if (output >= 0) close(output);
  if (network_namespace >= 0) close(network_namespace);
  if (pid < 0) {
    close(report[0]);
    return absl::ResourceExhaustedError(absl::StrCat("fork: ", std::strerror(fork_error)));
  }
  ChildFailure failure{};
  ssize_t got;
  do {
    got = read(report[0], &failure, sizeof(failure));
  } while (got < 0 && errno == EINTR);
  close(report[0]);
  if (got == sizeof(failure)) {  // the exec did not happen
    int status = 0;
    waitpid(pid, &status, 0);
    const std::string target =
        failure.stage == 0 ? options.network_namespace : absl::StrCat(program);
    return absl::FailedPreconditionError(absl::StrCat("cannot ", kStages[failure.stage], " ",
                                                      target, ": ",
                                                      std::strerror(failure.error)));
  }
  return pid;
}

absl::StatusOr<std::string> RunToCompletion(const std::vector<std::string>& argv) {
  char path[] = "/tmp/mp-run-XXXXXX";
  const int file = mkstemp(path);
  if (file < 0) return absl::UnavailableError(absl::StrCat("mkstemp: ", std::strerror(errno)));
  close(file);
  SpawnOptions options;
  options.argv = argv;
  options.output_path = path;
  options.new_session = false;
  absl::StatusOr<pid_t> pid = Spawn(options);
  int status = 0;
  if (pid.ok()) {
    while (waitpid(*pid, &status, 0) < 0 && errno == EINTR) {
    }
  }
  std::string output;
  if (FILE* in = std::fopen(path, "r"); in != nullptr) {
    char buffer[4096];
    size_t got;
    while ((got = std::fread(buffer, 1, sizeof(buffer), in)) > 0) output.append(buffer, got);
    std::fclose(in);
  }
  unlink(path);
  if (!pid.ok()) return pid.status();
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    while (!output.empty() && output.back() == '\n') output.pop_back();
    return absl::FailedPreconditionError(
        absl::StrCat(absl::StrJoin(argv, " "), ": ", DescribeExit(status),
                     output.empty() ? "" : ": ", output));
  }
  return output;
}

std::string DescribeExit(int status) {
  if (WIFEXITED(status)) return absl::StrCat("exit code ", WEXITSTATUS(status));
  if (WIFSIGNALED(status)) return absl::StrCat("signal ", WTERMSIG(status));
  return "unknown status";
}

int StopProcessGroup(pid_t pid, std::chrono::milliseconds grace) {
  if (pid <= 0) return -1;
  auto signal_all = [pid](int signal_number) {
    if (kill(-pid, signal_number) != 0) kill(pid, signal_number);
  };
  signal_all(SIGTERM);
  const auto deadline = std::chrono::steady_clock::now() + grace;
  int status = 0;
  while (true) {
    const pid_t reaped = waitpid(pid, &status, WNOHANG);
    if (reaped == pid) break;
    if (reaped < 0) return -1;
    if (std::chrono::steady_clock::now() >= deadline) {
      signal_all(SIGKILL);
      if (waitpid(pid, &status, 0) != pid) return -1;
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  kill(-pid, SIGKILL);  // whatever the process left behind in its group
  return status;
}

}  // namespace middlepipe
