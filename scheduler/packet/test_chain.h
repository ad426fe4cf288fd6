// A chain and resolver for tests of the flow engine and packet filters: the traffic to or
// from one service endpoint belongs to the chain (its sender is the client when it goes to
// the service).
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "scheduler/packet/flow_engine.h"

namespace middlepipe::scheduler::packet::testing {

// Takes ownership of the filters; names them as middlepipes in order.
inline std::shared_ptr<const PacketChain> ChainOf(
    std::vector<std::pair<std::string, PacketFilter*>> filters, const std::string& kind = "test") {
  std::vector<PacketChain::Entry> entries;
  for (auto& [name, filter] : filters) {
    PacketChain::Entry entry;
    entry.spec.set_middlepipe(name);
    entry.spec.set_kind(kind);
    entry.filter.reset(filter);
    entries.push_back(std::move(entry));
  }
  return std::make_shared<const PacketChain>("service", std::move(entries));
}

class ServiceResolver : public ChainResolver {
 public:
  explicit ServiceResolver(Endpoint service) : service_(service) {}
  Resolution Resolve(const TcpPacket& packet) const override {
    if (chain == nullptr) return {};
    if (packet.destination == service_) return {chain, Side::kClient};
    if (packet.source == service_) return {chain, Side::kServer};
    return {};
  }
  std::shared_ptr<const PacketChain> chain;

 private:
  const Endpoint service_;
};

}  // namespace middlepipe::scheduler::packet::testing
