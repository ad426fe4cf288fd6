// Waiting for SIGTERM/SIGINT without async-signal-unsafe handlers.
//
// Construct a TerminationSignals at the very start of main(), before any thread exists:
// it blocks SIGTERM and SIGINT in the calling thread, so every thread created afterwards
// inherits the mask and the signals stay pending until Wait() takes one with sigwait().
// Shutdown then runs on main's ordinary stack: stop servers, flush, exit 0.
//
// The signals stay blocked after destruction, on purpose: a second SIGTERM during
// shutdown (a supervisor and a parent-death signal both asking, say) must not kill the
// process half-way through its cleanup; the process exits 0 as soon as cleanup is done.
#pragma once

#include <csignal>

namespace middlepipe {

class TerminationSignals {
 public:
  TerminationSignals();

  TerminationSignals(const TerminationSignals&) = delete;
  TerminationSignals& operator=(const TerminationSignals&) = delete;

  // Blocks until SIGTERM or SIGINT arrives; returns the signal number.
  int Wait();

 private:
  sigset_t signals_;
};

}  // namespace middlepipe
