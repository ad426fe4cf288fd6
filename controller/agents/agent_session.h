// One connected agent (one instance of one app of one user), as the controller sees it:
// who it is, what it runs, and the answers it gives to the two-phase commit.
//
// Threading: the stream's reader thread feeds answers in (OnPrepareAck, OnCommitAck,
// OnHeartbeat, Close); rollouts wait for them (WaitPrepareAck, WaitCommitAck) on their
// own threads. Everything is guarded by one mutex per session.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "proto/agent.pb.h"
#include "proto/middlepipe.pb.h"

namespace middlepipe::controller {

class AgentSession {
 public:
  // Queues a message to the agent; false if the stream is gone.
  using Sender = std::function<bool(const v1::ControllerMessage&)>;
  // Ends the stream with a status saying why (e.g. UNAVAILABLE: missed heartbeats).
  using Closer = std::function<void(const absl::Status& why)>;
  using Clock = std::chrono::steady_clock;

  AgentSession(std::string user, const v1::Register& registration, Sender sender, Closer closer);

  const std::string& user() const { return user_; }
  const std::string& app() const { return registration_.app(); }
  uint32_t index() const { return registration_.instance_index(); }
  const std::string& incarnation() const { return registration_.incarnation(); }
  const std::string& address() const { return registration_.address(); }
  // "web/1": how the CLI and logs name the instance.
  std::string Name() const;

  bool Send(const v1::ControllerMessage& message) const { return sender_(message); }
  // Sends a Prepare; returns its sequence number on this stream (for WaitPrepareAck), or
  // nullopt if the stream is gone.
  std::optional<uint64_t> SendPrepare(const v1::ControllerMessage& prepare);
  void CloseStream(const absl::Status& why) const { closer_(why); }

  // From the stream.
  void OnPrepareAck(const v1::PrepareAck& ack);
  void OnCommitAck(const v1::CommitAck& ack);
  void OnHeartbeat(const v1::Heartbeat& heartbeat);
  // The stream ended: wakes every waiter, which then sees no answer.
  void OnClosed();

  // The agent's answer to the Prepare that SendPrepare numbered `sequence`, or nullopt if
  // none came by `deadline` or the stream closed. Answers are matched by their order on
  // the stream, not by epoch: after an aborted change the next change prepares the same
  // epoch again, and a late answer to the aborted attempt must not count for it.
  std::optional<v1::PrepareAck> WaitPrepareAck(uint64_t sequence, Clock::time_point deadline);
  // True once the agent committed `epoch` (or a later one) by `deadline`.
  bool WaitCommitAck(uint64_t epoch, Clock::time_point deadline);

  void SetState(v1::InstanceState state, const std::string& reason = "");
  std::string state_reason() const;
  uint64_t applied_epoch() const;
  bool closed() const;
  Clock::time_point last_seen() const;
  // The instance as ListApps shows it.
  v1::Instance Snapshot() const;

 private:
  const std::string user_;
  const v1::Register registration_;
  const Sender sender_;
  const Closer closer_;

  mutable std::mutex mu_;
  std::condition_variable changed_;
  uint64_t prepares_sent_ = 0;
  uint64_t prepare_acks_received_ = 0;
  std::map<uint64_t, v1::PrepareAck> prepare_acks_;  // by sequence, until waited for
  uint64_t applied_epoch_ = 0;
  bool aggregator_connected_ = false;
  // Set by the first CommitAck on this stream: a commit of epoch 0 (no chains yet) must be
  // confirmed as much as any other.
  bool committed_on_stream_ = false;
  bool closed_ = false;
  v1::InstanceState state_ = v1::INSTANCE_STATE_STARTING;
  std::string state_reason_;
  Clock::time_point last_seen_;
  int64_t last_seen_unix_ms_ = 0;
};

}  // namespace middlepipe::controller
