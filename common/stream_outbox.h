// The outgoing side of a server bidi stream served with gRPC's callback API.
//
// gRPC allows one write in flight per stream, so messages queue here and go one after
// another. The outbox is shared (shared_ptr) by the reactor and whoever sends on the
// stream from other threads, so a send after the stream ended is refused instead of
// touching a deleted reactor: the reactor calls Detach() from its OnDone.
#pragma once

#include <deque>
#include <mutex>

#include <grpcpp/grpcpp.h>

namespace middlepipe {

template <typename Request, typename Response>
class StreamOutbox {
 public:
  using Reactor = grpc::ServerBidiReactor<Request, Response>;

  // `max_queued`: a slow reader cannot make the queue grow past it; Send then fails.
  explicit StreamOutbox(Reactor* reactor, size_t max_queued = 4096)
      : reactor_(reactor), max_queued_(max_queued) {}

  // Queues a message; false if the stream is finishing, gone, or its queue is full.
  bool Send(Response message) {
    std::lock_guard<std::mutex> lock(mu_);
    if (reactor_ == nullptr || finishing_ || queue_.size() >= max_queued_) return false;
    queue_.push_back(std::move(message));
    if (!writing_) StartNextWrite();
    return true;
  }

  // Ends the stream with `status` once queued messages are written.
  void Finish(const grpc::Status& status) {
    std::lock_guard<std::mutex> lock(mu_);
    if (reactor_ == nullptr || finishing_) return;
    finishing_ = true;
    finish_status_ = status;
    if (!writing_) reactor_->Finish(finish_status_);
  }

  // From the reactor's OnWriteDone.
  void OnWriteDone(bool ok) {
    std::lock_guard<std::mutex> lock(mu_);
    queue_.pop_front();
    writing_ = false;
    if (!ok) {
      // The stream broke; the reader side sees it too and ends the stream.
      queue_.clear();
      return;
    }
    if (!queue_.empty()) {
      StartNextWrite();
    } else if (finishing_ && reactor_ != nullptr) {
      reactor_->Finish(finish_status_);
    }
  }

  // From the reactor's OnDone: nothing may touch it afterwards.
  void Detach() {
    std::lock_guard<std::mutex> lock(mu_);
    reactor_ = nullptr;
  }

 private:
  void StartNextWrite() {  // mu_ held, queue not empty
    writing_ = true;
    reactor_->StartWrite(&queue_.front());  // deque keeps the element's address stable
  }

  std::mutex mu_;
  Reactor* reactor_;
  const size_t max_queued_;
  std::deque<Response> queue_;
  bool writing_ = false;
  bool finishing_ = false;
  grpc::Status finish_status_;
};

}  // namespace middlepipe
