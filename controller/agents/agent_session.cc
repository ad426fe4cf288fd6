#include "controller/agents/agent_session.h"

#include "absl/strings/str_cat.h"
#include "common/logger.h"

namespace middlepipe::controller {

AgentSession::AgentSession(std::string user, const v1::Register& registration, Sender sender,
                           Closer closer)
    : user_(std::move(user)),
      registration_(registration),
      sender_(std::move(sender)),
      closer_(std::move(closer)),
      applied_epoch_(registration.applied_epoch()),
      last_seen_(Clock::now()),
      last_seen_unix_ms_(NowUnixMillis()) {}

std::string AgentSession::Name() const { return absl::StrCat(app(), "/", index()); }

std::optional<uint64_t> AgentSession::SendPrepare(const v1::ControllerMessage& prepare) {
  uint64_t sequence = 0;
  {
    // Numbered and sent under the lock, so sequence numbers follow the stream's order.
    std::lock_guard<std::mutex> lock(mu_);
    if (closed_ || !sender_(prepare)) return std::nullopt;
    sequence = ++prepares_sent_;
  }
  return sequence;
}

void AgentSession::OnPrepareAck(const v1::PrepareAck& ack) {
  std::lock_guard<std::mutex> lock(mu_);
  prepare_acks_[++prepare_acks_received_] = ack;
  last_seen_ = Clock::now();
  last_seen_unix_ms_ = NowUnixMillis();
  changed_.notify_all();
}

void AgentSession::OnCommitAck(const v1::CommitAck& ack) {
  std::lock_guard<std::mutex> lock(mu_);
  applied_epoch_ = ack.epoch();
  committed_on_stream_ = true;
  last_seen_ = Clock::now();
  last_seen_unix_ms_ = NowUnixMillis();
  changed_.notify_all();
}

void AgentSession::OnHeartbeat(const v1::Heartbeat& heartbeat) {
  std::lock_guard<std::mutex> lock(mu_);
  aggregator_connected_ = heartbeat.aggregator_connected();
  last_seen_ = Clock::now();
  last_seen_unix_ms_ = NowUnixMillis();
}

void AgentSession::OnClosed() {
  std::lock_guard<std::mutex> lock(mu_);
  closed_ = true;
  changed_.notify_all();
}

std::optional<v1::PrepareAck> AgentSession::WaitPrepareAck(uint64_t sequence,
                                                           Clock::time_point deadline) {
  std::unique_lock<std::mutex> lock(mu_);
  changed_.wait_until(lock, deadline,
                      [&] { return closed_ || prepare_acks_.count(sequence) > 0; });
  auto found = prepare_acks_.find(sequence);
  if (found == prepare_acks_.end()) return std::nullopt;
  v1::PrepareAck ack = found->second;
  // Answers up to this one are consumed; later ones stay for their waiters.
  prepare_acks_.erase(prepare_acks_.begin(), std::next(found));
  return ack;
}

bool AgentSession::WaitCommitAck(uint64_t epoch, Clock::time_point deadline) {
  std::unique_lock<std::mutex> lock(mu_);
  auto committed = [&] { return committed_on_stream_ && applied_epoch_ >= epoch; };
  return changed_.wait_until(lock, deadline, [&] { return committed() || closed_; }) &&
         committed();
}

void AgentSession::SetState(v1::InstanceState state, const std::string& reason) {
  std::lock_guard<std::mutex> lock(mu_);
  state_ = state;
  state_reason_ = reason;
}

std::string AgentSession::state_reason() const {
  std::lock_guard<std::mutex> lock(mu_);
  return state_reason_;
}

uint64_t AgentSession::applied_epoch() const {
  std::lock_guard<std::mutex> lock(mu_);
  return applied_epoch_;
}

bool AgentSession::closed() const {
  std::lock_guard<std::mutex> lock(mu_);
  return closed_;
}

AgentSession::Clock::time_point AgentSession::last_seen() const {
  std::lock_guard<std::mutex> lock(mu_);
  return last_seen_;
}

v1::Instance AgentSession::Snapshot() const {
  std::lock_guard<std::mutex> lock(mu_);
  v1::Instance instance;
  instance.set_app(registration_.app());
  instance.set_index(registration_.instance_index());
  instance.set_address(registration_.address());
  instance.set_applied_epoch(applied_epoch_);
  instance.set_last_seen_unix_ms(last_seen_unix_ms_);
  instance.set_state(state_);
  instance.set_agent_version(registration_.agent_version());
  instance.set_port(registration_.port());
  instance.set_aggregator_connected(aggregator_connected_);
  return instance;
}

}  // namespace middlepipe::controller
