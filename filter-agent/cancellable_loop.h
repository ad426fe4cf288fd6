// The stop switch of a background loop that holds a gRPC stream: Stop() wakes the loop
// from its sleeps and cancels the call it is in, so a loop blocked reading a stream ends
// at once instead of at the peer's next message. Shared by the agent's control client and
// reporter. Thread-safe.
#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>

#include <grpcpp/grpcpp.h>

namespace middlepipe::agent {

class CancellableLoop {
 public:
  // Idempotent. `cancel_active` false lets the call in progress finish on its own (the
  // loop drains it); CancelActive() ends it later if draining takes too long.
  void Stop(bool cancel_active = true) {
    std::lock_guard<std::mutex> lock(mu_);
    stopped_ = true;
    if (cancel_active && active_ != nullptr) active_->TryCancel();
    changed_.notify_all();
  }

  void CancelActive() {
    std::lock_guard<std::mutex> lock(mu_);
    if (active_ != nullptr) active_->TryCancel();
  }

  bool stopped() const {
    std::lock_guard<std::mutex> lock(mu_);
    return stopped_;
  }

  // Sleeps for `duration` unless stopped first; false when stopped.
  bool SleepFor(std::chrono::milliseconds duration) {
    std::unique_lock<std::mutex> lock(mu_);
    return !changed_.wait_for(lock, duration, [this] { return stopped_; });
  }

  // The loop starts a call with `context` (cancelled by Stop()); false, and nothing
  // registered, if already stopped. Pair with Leave() before `context` goes away.
  bool Enter(grpc::ClientContext* context) {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopped_) return false;
    active_ = context;
    return true;
  }

  void Leave() {
    std::lock_guard<std::mutex> lock(mu_);
    active_ = nullptr;
  }

 private:
  mutable std::mutex mu_;
  std::condition_variable changed_;
  bool stopped_ = false;
  grpc::ClientContext* active_ = nullptr;
};

}  // namespace middlepipe::agent
