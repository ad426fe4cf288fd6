// The client side of a bidi stream driven by gRPC's callback API, for simulated agents
// in tests and benchmarks (thousands in one process, no thread each): messages queue and
// go one write at a time, as gRPC requires; the end of the stream can be awaited.
// Subclasses start the call (stub->async()->Method(&context(), this), StartRead,
// StartCall) and handle OnReadDone.
#pragma once

#include <condition_variable>
#include <deque>
#include <mutex>

#include <grpcpp/grpcpp.h>

namespace middlepipe::testing {

template <typename Request, typename Response>
class QueuedClientStream : public grpc::ClientBidiReactor<Request, Response> {
 public:
  void OnWriteDone(bool ok) override {
    std::lock_guard<std::mutex> lock(stream_mu_);
    outgoing_.pop_front();
    if (ok && !outgoing_.empty()) this->StartWrite(&outgoing_.front());
  }

  void OnDone(const grpc::Status&) override {
    std::lock_guard<std::mutex> lock(stream_mu_);
    done_ = true;
    done_changed_.notify_all();
  }

  void Cancel() { context_.TryCancel(); }
  void WaitDone() {
    std::unique_lock<std::mutex> lock(stream_mu_);
    done_changed_.wait(lock, [this] { return done_; });
  }
  bool done() const {
    std::lock_guard<std::mutex> lock(stream_mu_);
    return done_;
  }

 protected:
  grpc::ClientContext& context() { return context_; }

  // Queues `message` behind those before it; dropped once the stream ended.
  void Write(Request message) {
    std::lock_guard<std::mutex> lock(stream_mu_);
    if (done_) return;
    outgoing_.push_back(std::move(message));
    if (outgoing_.size() == 1) this->StartWrite(&outgoing_.front());
  }

 private:
  grpc::ClientContext context_;
  mutable std::mutex stream_mu_;
  std::condition_variable done_changed_;
  std::deque<Request> outgoing_;  // deque keeps the element written stable
  bool done_ = false;
};

}  // namespace middlepipe::testing
