// Cleaning up after a platform that did not stop cleanly (killed, crashed): every
// process still running in one of its namespaces gets SIGTERM (an agent then merges its
// state, if its aggregator is still up), then SIGKILL after the grace, and every one of
// its namespaces is deleted (their links go with them). Used by the platform when it
// starts and by `mp local down` when the platform does not answer.
#pragma once

#include <chrono>
#include <string>

#include "absl/status/status.h"
#include "common/logger.h"

namespace middlepipe::local {

absl::Status RemoveLeftovers(const std::string& platform_name, std::chrono::milliseconds grace,
                             Logger* logger);

// Whether `pid` names a process that still runs (a zombie does not).
bool Running(pid_t pid);

}  // namespace middlepipe::local
