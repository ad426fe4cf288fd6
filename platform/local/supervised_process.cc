#include "platform/local/supervised_process.h"

#include <sys/wait.h>

#include <algorithm>

namespace middlepipe::local {

SupervisedProcess::SupervisedProcess(std::string label, SpawnOptions spawn, RestartPolicy policy,
                                     Logger* logger)
    : label_(std::move(label)),
      spawn_(std::move(spawn)),
      policy_(policy),
      logger_(logger),
      backoff_(policy.initial_backoff) {}

SupervisedProcess::~SupervisedProcess() { Stop(std::chrono::milliseconds(2000)); }

absl::Status SupervisedProcess::Start() {
  std::lock_guard<std::mutex> lock(mu_);
  return StartLocked();
}

absl::Status SupervisedProcess::StartLocked() {
  started_ = Clock::now();
  absl::StatusOr<pid_t> pid = Spawn(spawn_);
  if (!pid.ok()) {
    pid_ = 0;
    return pid.status();
  }
  pid_ = *pid;
  logger_->Info(label_, " started (pid ", pid_, ")");
  return absl::OkStatus();
}

bool SupervisedProcess::Exited() {
  std::lock_guard<std::mutex> lock(mu_);
  if (pid_ <= 0) return true;
  int status = 0;
  if (waitpid(pid_, &status, WNOHANG) != pid_) return false;
  last_exit_ = DescribeExit(status);
  logger_->Warning(label_, " (pid ", pid_, ") exited with ", last_exit_);
  pid_ = 0;
  restart_at_ = Clock::now() + backoff_;
  return true;
}

void SupervisedProcess::Poll() {
  std::lock_guard<std::mutex> lock(mu_);
  if (stopped_) return;
  const Clock::time_point now = Clock::now();
  if (pid_ > 0) {
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) != pid_) return;
    if (now - started_ >= policy_.healthy_after) backoff_ = policy_.initial_backoff;
    last_exit_ = DescribeExit(status);
    restart_at_ = now + backoff_;
    logger_->Warning(label_, " (pid ", pid_, ") exited with ", last_exit_, "; restarting in ",
                     backoff_.count(), " ms");
    pid_ = 0;
    backoff_ = std::min(backoff_ * 2, policy_.max_backoff);
    return;
  }
  if (now < restart_at_) return;
  ++restarts_;
  if (absl::Status started = StartLocked(); !started.ok()) {
    restart_at_ = now + backoff_;
    logger_->Error(label_, ": ", started.message(), "; retrying in ", backoff_.count(), " ms");
    backoff_ = std::min(backoff_ * 2, policy_.max_backoff);
  }
}

void SupervisedProcess::Stop(std::chrono::milliseconds grace) {
  pid_t pid;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopped_) return;
    stopped_ = true;
    pid = pid_;
  }
  if (pid <= 0) return;
  const int status = StopProcessGroup(pid, grace);
  std::lock_guard<std::mutex> lock(mu_);
  if (status != -1) last_exit_ = DescribeExit(status);
  logger_->Info(label_, " (pid ", pid, ") stopped");
  pid_ = 0;
}

pid_t SupervisedProcess::pid() const {
  std::lock_guard<std::mutex> lock(mu_);
  return pid_;
}

v1::LocalProcess SupervisedProcess::Describe() const {
  std::lock_guard<std::mutex> lock(mu_);
  v1::LocalProcess process;
  process.set_pid(pid_);
  process.set_state(stopped_ ? "stopped" : pid_ > 0 ? "running" : "restarting");
  process.set_restarts(restarts_);
  process.set_last_exit(last_exit_);
  process.set_log(spawn_.output_path);
  return process;
}

}  // namespace middlepipe::local
