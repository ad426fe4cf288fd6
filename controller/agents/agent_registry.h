// The agents connected now, by user, app and instance index. Bookkeeping only: it never
// talks to agents itself. Thread-safe.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <tuple>
#include <vector>

#include "controller/agents/agent_session.h"

namespace middlepipe::controller {

class AgentRegistry {
 public:
  using SessionPtr = std::shared_ptr<AgentSession>;

  // What Add did.
  struct Claim {
    SessionPtr replaced;  // the instance's earlier session, now out of the registry
    SessionPtr holder;    // set when `session` was refused: who holds the instance
  };
  // Adds `session` for its instance (user, app, index). A session of the same agent
  // (same incarnation, or an agent that sends none) replaces the earlier one: the agent
  // reconnected and its old stream is stale. A different agent's claim is refused while
  // the holder is registered, so two agents claiming one instance cannot evict each other.
  Claim Add(SessionPtr session);
  // Removes `session` if it is still the registered one for its instance.
  void Remove(const SessionPtr& session);

  // The sessions of one app, by index.
  std::vector<SessionPtr> Sessions(const std::string& user, const std::string& app) const;
  std::vector<SessionPtr> All() const;
  // The apps of `user` that have connected instances, sorted.
  std::vector<std::string> Apps(const std::string& user) const;
  // The addresses and ports of an app's instances (port 0: the app serves none, or its
  // platform does not say), for chains to the app.
  std::vector<v1::Endpoint> Endpoints(const std::string& user, const std::string& app) const;
  size_t size() const;

 private:
  using Key = std::tuple<std::string, std::string, uint32_t>;  // user, app, index

  mutable std::mutex mu_;
  std::map<Key, SessionPtr> sessions_;
};

}  // namespace middlepipe::controller
