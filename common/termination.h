// Waiting for SIGTERM/SIGINT without async-signal-unsafe handlers.
//
// Construct a TerminationSignals at the very start of main(), before any thread exists:
// it blocks SIGTERM and SIGINT in the calling thread, so every thread created afterwards
// inherits the mask and the signals stay pending until Wait() takes one with sigwait().
// Shutdown then runs on main's ordinary stack: stop servers, flush, exit 0.
#pragma once

#include <csignal>

namespace middlepipe {

class TerminationSignals {
 public:
  TerminationSignals();
  ~TerminationSignals();

  TerminationSignals(const TerminationSignals&) = delete;
  TerminationSignals& operator=(const TerminationSignals&) = delete;

  // Blocks until SIGTERM or SIGINT arrives; returns the signal number.
  int Wait();

 private:
  sigset_t signals_;
  sigset_t previous_mask_;
};

}  // namespace middlepipe
