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

void AgentSession::OnPrepareAck(const v1::PrepareAck& ack) {
  std::lock_guard<std::mutex> lock(mu_);
  last_prepare_ack_ = ack;
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
  last_seen_ = Clock::now();
  last_seen_unix_ms_ = NowUnixMillis();
}

void AgentSession::OnClosed() {
  std::lock_guard<std::mutex> lock(mu_);
  closed_ = true;
  changed_.notify_all();
}

std::optional<v1::PrepareAck> AgentSession::WaitPrepareAck(uint64_t epoch,
                                                           Clock::time_point deadline) {
  std::unique_lock<std::mutex> lock(mu_);
  changed_.wait_until(lock, deadline, [&] {
    return closed_ || (last_prepare_ack_.has_value() && last_prepare_ack_->epoch() == epoch);
  });
  if (last_prepare_ack_.has_value() && last_prepare_ack_->epoch() == epoch) {
    return last_prepare_ack_;
  }
  return std::nullopt;
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
  return instance;
}

}  // namespace middlepipe::controller
