// Runs one mp-aggregator per user as a supervised child process (the embedded default of
// DESIGN.md §4): started on the user's first middlepipe (and, after a controller restart,
// for every user that has middlepipes), listening on DATA_DIR/aggregators/USER.sock, and
// serving /metrics on a loopback port whose address it writes to DATA_DIR/aggregators/
// USER.http, and restarted with exponential back-off (0.1 s doubling to 10 s; reset after 30 s of good
// running) whenever it exits. Every start and exit is logged with its pid and status.
//
// Thread-safe. Stop() (or the destructor) sends SIGTERM to every child and waits.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>

#include "common/logger.h"

namespace middlepipe::controller {

struct AggregatorSupervisorOptions {
  // The mp-aggregator binary; empty disables provisioning (Address() is then empty).
  std::string binary;
  // Where the sockets go (created if missing).
  std::string socket_dir;
  std::chrono::milliseconds initial_backoff{100};
  std::chrono::milliseconds max_backoff{10000};
  std::chrono::milliseconds healthy_after{30000};
  // Called (from the supervisor's lock; keep it short) after each start of a user's
  // aggregator, so it gets its configuration again.
  std::function<void(const std::string& user)> on_started = [](const std::string&) {};
};

class AggregatorSupervisor {
 public:
  AggregatorSupervisor(AggregatorSupervisorOptions options, Logger* logger);
  ~AggregatorSupervisor();

  // Starts the user's aggregator unless it runs; returns its address ("unix:///...").
  // Empty when provisioning is disabled.
  std::string EnsureRunning(const std::string& user);
  // The user's aggregator address if one was started; empty otherwise.
  std::string Address(const std::string& user) const;
  // The pid of the user's aggregator now, or -1.
  pid_t Pid(const std::string& user) const;

  void Stop();

 private:
  struct Child {
    pid_t pid = -1;
    std::string address;
    std::chrono::steady_clock::time_point started;
    std::chrono::steady_clock::time_point restart_at;
    std::chrono::milliseconds backoff{0};
  };

  void StartLocked(const std::string& user, Child& child);  // mu_ held
  void Watch();

  const AggregatorSupervisorOptions options_;
  Logger* const logger_;
  mutable std::mutex mu_;
  std::condition_variable stop_changed_;
  std::map<std::string, Child> children_;
  bool stopping_ = false;
  std::thread watcher_;
};

}  // namespace middlepipe::controller
