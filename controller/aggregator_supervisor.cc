#include "controller/aggregator_supervisor.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/files.h"
#include "common/process.h"

namespace middlepipe::controller {

AggregatorSupervisor::AggregatorSupervisor(AggregatorSupervisorOptions options, Logger* logger)
    : options_(std::move(options)), logger_(logger) {
  if (options_.binary.empty()) {
    logger_->Warning("aggregators: no mp-aggregator binary; live state and cluster-wide "
                     "decisions are unavailable");
    return;
  }
  if (absl::Status made = MakeDirectories(options_.socket_dir, 0700); !made.ok()) {
    logger_->Error("aggregators: ", made.message());
  }
  watcher_ = std::thread([this] { Watch(); });
}

AggregatorSupervisor::~AggregatorSupervisor() { Stop(); }

std::string AggregatorSupervisor::EnsureRunning(const std::string& user) {
  if (options_.binary.empty()) return "";
  std::lock_guard<std::mutex> lock(mu_);
  if (stopping_) return "";
  auto [entry, inserted] = children_.try_emplace(user);
  if (inserted) {
    // The watcher thread starts it (within one tick): children are forked only there,
    // because PR_SET_PDEATHSIG fires when the forking *thread* ends.
    entry->second.address = absl::StrCat("unix://", options_.socket_dir, "/", user, ".sock");
    entry->second.backoff = options_.initial_backoff;
    entry->second.restart_at = std::chrono::steady_clock::now();
  }
  return entry->second.address;
}

std::string AggregatorSupervisor::Address(const std::string& user) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto found = children_.find(user);
  return found == children_.end() ? "" : found->second.address;
}

pid_t AggregatorSupervisor::Pid(const std::string& user) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto found = children_.find(user);
  return found == children_.end() ? -1 : found->second.pid;
}

void AggregatorSupervisor::StartLocked(const std::string& user, Child& child) {
  // Its /metrics on a loopback port it picks; the address goes to USER.http beside the
  // socket, where Prometheus configuration (or a person) finds it.
  std::vector<std::string> arguments = {options_.binary,
                                        "--user",
                                        user,
                                        "--listen",
                                        child.address,
                                        "--http-listen",
                                        "127.0.0.1:0",
                                        "--http-address-file",
                                        options_.socket_dir + "/" + user + ".http"};
  SpawnOptions spawn;
  spawn.argv = std::move(arguments);
  spawn.new_session = false;      // the controller's group: a terminal's ^C reaches it too
  spawn.die_with_parent = true;   // dies with the controller, even on kill -9
  absl::StatusOr<pid_t> pid = Spawn(spawn);
  child.started = std::chrono::steady_clock::now();
  if (!pid.ok()) {
    child.pid = -1;
    child.restart_at = child.started + child.backoff;
    logger_->Error("aggregator of user ", user, ": ", pid.status().message(), "; retrying in ",
                   child.backoff.count(), " ms");
    child.backoff = std::min(child.backoff * 2, options_.max_backoff);
    return;
  }
  child.pid = *pid;
  logger_->Info("aggregator of user ", user, " started (pid ", *pid, ") at ", child.address);
  options_.on_started(user);
}

void AggregatorSupervisor::Watch() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!stop_changed_.wait_for(lock, std::chrono::milliseconds(50), [this] { return stopping_; })) {
    const auto now = std::chrono::steady_clock::now();
    for (auto& [user, child] : children_) {
      if (child.pid > 0) {
        int status = 0;
        if (waitpid(child.pid, &status, WNOHANG) != child.pid) continue;
        if (now - child.started >= options_.healthy_after) child.backoff = options_.initial_backoff;
        child.restart_at = now + child.backoff;
        logger_->Warning("aggregator of user ", user, " (pid ", child.pid, ") exited with ",
                         DescribeExit(status), "; restarting in ", child.backoff.count(), " ms");
        child.pid = -1;
        child.backoff = std::min(child.backoff * 2, options_.max_backoff);
      } else if (now >= child.restart_at) {  // first start, or restart after back-off
        StartLocked(user, child);
      }
    }
  }
}

void AggregatorSupervisor::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_) return;
    stopping_ = true;
  }
  stop_changed_.notify_all();
  if (watcher_.joinable()) watcher_.join();
  std::lock_guard<std::mutex> lock(mu_);
  for (auto& [user, child] : children_) {
    if (child.pid > 0) kill(child.pid, SIGTERM);
  }
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  for (auto& [user, child] : children_) {
    if (child.pid <= 0) continue;
    int status = 0;
    while (waitpid(child.pid, &status, WNOHANG) == 0) {
      if (std::chrono::steady_clock::now() >= deadline) {
        kill(child.pid, SIGKILL);
        waitpid(child.pid, &status, 0);
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    logger_->Info("aggregator of user ", user, " (pid ", child.pid, ") stopped with ",
                  DescribeExit(status));
    child.pid = -1;
  }
}

}  // namespace middlepipe::controller
