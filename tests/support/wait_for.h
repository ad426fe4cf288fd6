// Polls a condition until it holds or a timeout passes: for tests and benchmarks that
// wait on other processes and threads (never to assert how long something took).
#pragma once

#include <chrono>
#include <thread>

namespace middlepipe::testing {

template <typename Predicate>
bool WaitFor(Predicate done, std::chrono::milliseconds timeout = std::chrono::seconds(20),
             std::chrono::microseconds poll = std::chrono::milliseconds(5)) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(poll);
  }
  return true;
}

}  // namespace middlepipe::testing
