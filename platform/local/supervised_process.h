// One long-running child the local platform keeps running: an app's command, its agent,
// or the controller. When it exits on its own it is restarted after a back-off that
// doubles from `initial_backoff` to `max_backoff` (and starts over once a run lasted
// `healthy_after`); every start and exit is logged with the pid and how it ended.
// Stop() ends it for good. Thread-safe: the platform's watcher calls Poll() while
// requests read Describe().
#pragma once

#include <sys/types.h>

#include <chrono>
#include <mutex>
#include <string>

#include "absl/status/status.h"
#include "common/logger.h"
#include "common/process.h"
#include "proto/local.pb.h"

namespace middlepipe::local {

struct RestartPolicy {
  std::chrono::milliseconds initial_backoff{500};
  std::chrono::milliseconds max_backoff{30000};
  std::chrono::milliseconds healthy_after{30000};
};

class SupervisedProcess {
 public:
  using Clock = std::chrono::steady_clock;

  // `label` names it in the log ("web/0 app"); not started yet.
  SupervisedProcess(std::string label, SpawnOptions spawn, RestartPolicy policy, Logger* logger);
  ~SupervisedProcess();  // Stop() with a short grace

  // The first start; the error says why it could not run.
  absl::Status Start();
  // Reaps it if it exited (scheduling the restart) and restarts it when the back-off is
  // over. Does nothing once stopped.
  void Poll();
  // Ends it (SIGTERM to its process group, SIGKILL after `grace`) and keeps it down.
  void Stop(std::chrono::milliseconds grace);

  // Whether it has exited since it was last started (for "exited at once" checks);
  // reaps it if so, like Poll() without restarting.
  bool Exited();
  pid_t pid() const;
  v1::LocalProcess Describe() const;

 private:
  absl::Status StartLocked();

  const std::string label_;
  const SpawnOptions spawn_;
  const RestartPolicy policy_;
  Logger* const logger_;

  mutable std::mutex mu_;
  pid_t pid_ = 0;
  bool stopped_ = false;
  uint32_t restarts_ = 0;
  std::string last_exit_;
  Clock::time_point started_;
  Clock::time_point restart_at_;
  std::chrono::milliseconds backoff_;
};

}  // namespace middlepipe::local
