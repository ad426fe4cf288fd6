#include "controller/agents/two_phase_commit.h"

#include "absl/strings/str_cat.h"

namespace middlepipe::controller {
namespace {

std::string NoAnswer(const SessionPtr& session, const char* phase,
                     std::chrono::milliseconds timeout) {
  if (session->closed()) return absl::StrCat("disconnected during ", phase);
  return absl::StrCat("no ", phase, " ack within ", timeout.count(), " ms");
}

}  // namespace

PrepareOutcome PrepareAll(const std::vector<SessionPtr>& sessions, uint64_t epoch,
                          const std::vector<v1::Chain>& chains,
                          const std::string& aggregator_address, std::chrono::milliseconds timeout) {
  v1::ControllerMessage message;
  v1::Prepare* prepare = message.mutable_prepare();
  prepare->set_epoch(epoch);
  prepare->set_aggregator_address(aggregator_address);
  for (const v1::Chain& chain : chains) {
    v1::Chain* stamped = prepare->add_chains();
    *stamped = chain;
    stamped->set_epoch(epoch);
  }

  PrepareOutcome outcome;
  std::vector<std::pair<SessionPtr, uint64_t>> asked;  // with the Prepare's sequence number
  for (const SessionPtr& session : sessions) {
    if (std::optional<uint64_t> sequence = session->SendPrepare(message)) {
      asked.emplace_back(session, *sequence);
    } else {
      outcome.silent.push_back({session, "disconnected before prepare"});
    }
  }
  const auto deadline = AgentSession::Clock::now() + timeout;
  for (const auto& [session, sequence] : asked) {
    std::optional<v1::PrepareAck> ack = session->WaitPrepareAck(sequence, deadline);
    if (ack.has_value() && ack->epoch() != epoch) {
      outcome.silent.push_back({session, absl::StrCat("answered prepare of epoch ", epoch,
                                                      " for epoch ", ack->epoch())});
    } else if (!ack.has_value()) {
      outcome.silent.push_back({session, NoAnswer(session, "prepare", timeout)});
    } else if (!ack->ok()) {
      outcome.rejected.push_back({session, ack->error()});
    } else {
      outcome.prepared.push_back(session);
    }
  }
  return outcome;
}

void AbortAll(const std::vector<SessionPtr>& prepared, uint64_t epoch, const std::string& reason) {
  v1::ControllerMessage message;
  message.mutable_abort()->set_epoch(epoch);
  message.mutable_abort()->set_reason(reason);
  for (const SessionPtr& session : prepared) session->Send(message);
}

CommitOutcome CommitAll(const std::vector<SessionPtr>& prepared, uint64_t epoch,
                        std::chrono::milliseconds timeout) {
  v1::ControllerMessage message;
  message.mutable_commit()->set_epoch(epoch);
  CommitOutcome outcome;
  std::vector<SessionPtr> told;
  for (const SessionPtr& session : prepared) {
    if (session->Send(message)) {
      told.push_back(session);
    } else {
      outcome.silent.push_back({session, "disconnected before commit"});
    }
  }
  const auto deadline = AgentSession::Clock::now() + timeout;
  for (const SessionPtr& session : told) {
    if (session->WaitCommitAck(epoch, deadline)) {
      outcome.applied.push_back(session);
    } else {
      outcome.silent.push_back({session, NoAnswer(session, "commit", timeout)});
    }
  }
  return outcome;
}

}  // namespace middlepipe::controller
