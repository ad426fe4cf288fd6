// The two phases of distributing an app's chains (DESIGN.md §4), over a set of agent
// sessions. The caller (ChangeCoordinator) decides what happens between them: whether
// to store the change and commit, or abort.
//
// All sends go out before any wait, and every wait shares one deadline, so a round
// takes about one round trip to the slowest agent, bounded by the timeout, whatever the
// number of agents.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "controller/agents/agent_session.h"
#include "proto/middlepipe.pb.h"

namespace middlepipe::controller {

using SessionPtr = std::shared_ptr<AgentSession>;

// A session and why it is not (yet) at the epoch.
struct Laggard {
  SessionPtr session;
  std::string reason;
};

struct PrepareOutcome {
  // Built every filter and holds the epoch, waiting for Commit or Abort.
  std::vector<SessionPtr> prepared;
  // Answered that it cannot build the chains, with its error.
  std::vector<Laggard> rejected;
  // Did not answer in time, or its stream is gone.
  std::vector<Laggard> silent;
};

// Phase one: sends Prepare(epoch, chains, aggregator address) to every session and
// collects the answers.
PrepareOutcome PrepareAll(const std::vector<SessionPtr>& sessions, uint64_t epoch,
                          const std::vector<v1::Chain>& chains,
                          const std::string& aggregator_address, std::chrono::milliseconds timeout);

// Cancels a prepared epoch on every session in `prepared`.
void AbortAll(const std::vector<SessionPtr>& prepared, uint64_t epoch, const std::string& reason);

struct CommitOutcome {
  // Run the epoch now.
  std::vector<SessionPtr> applied;
  // Were told to commit but did not confirm in time.
  std::vector<Laggard> silent;
};

// Phase two: sends Commit(epoch) to every prepared session and waits for confirmations.
CommitOutcome CommitAll(const std::vector<SessionPtr>& prepared, uint64_t epoch,
                        std::chrono::milliseconds timeout);

}  // namespace middlepipe::controller
