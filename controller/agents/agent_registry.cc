#include "controller/agents/agent_registry.h"

#include <set>

namespace middlepipe::controller {

AgentRegistry::Claim AgentRegistry::Add(SessionPtr session) {
  std::lock_guard<std::mutex> lock(mu_);
  SessionPtr& slot = sessions_[Key{session->user(), session->app(), session->index()}];
  if (slot != nullptr && !slot->incarnation().empty() && !session->incarnation().empty() &&
      slot->incarnation() != session->incarnation()) {
    return Claim{nullptr, slot};
  }
  Claim claim{std::move(slot), nullptr};
  slot = std::move(session);
  return claim;
}

void AgentRegistry::Remove(const SessionPtr& session) {
  std::lock_guard<std::mutex> lock(mu_);
  auto found = sessions_.find(Key{session->user(), session->app(), session->index()});
  if (found != sessions_.end() && found->second == session) sessions_.erase(found);
}

std::vector<AgentRegistry::SessionPtr> AgentRegistry::Sessions(const std::string& user,
                                                               const std::string& app) const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<SessionPtr> found;
  for (auto it = sessions_.lower_bound(Key{user, app, 0});
       it != sessions_.end() && std::get<0>(it->first) == user && std::get<1>(it->first) == app;
       ++it) {
    found.push_back(it->second);
  }
  return found;
}

std::vector<AgentRegistry::SessionPtr> AgentRegistry::All() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<SessionPtr> all;
  for (const auto& [key, session] : sessions_) all.push_back(session);
  return all;
}

std::vector<std::string> AgentRegistry::Apps(const std::string& user) const {
  std::lock_guard<std::mutex> lock(mu_);
  std::set<std::string> apps;
  for (auto it = sessions_.lower_bound(Key{user, "", 0});
       it != sessions_.end() && std::get<0>(it->first) == user; ++it) {
    apps.insert(std::get<1>(it->first));
  }
  return std::vector<std::string>(apps.begin(), apps.end());
}

std::vector<v1::Endpoint> AgentRegistry::Endpoints(const std::string& user,
                                                   const std::string& app) const {
  std::vector<v1::Endpoint> endpoints;
  for (const SessionPtr& session : Sessions(user, app)) {
    const v1::Instance instance = session->Snapshot();
    v1::Endpoint& endpoint = endpoints.emplace_back();
    endpoint.set_host(instance.address());
    endpoint.set_port(instance.port());
  }
  return endpoints;
}

size_t AgentRegistry::size() const {
  std::lock_guard<std::mutex> lock(mu_);
  return sessions_.size();
}

}  // namespace middlepipe::controller
