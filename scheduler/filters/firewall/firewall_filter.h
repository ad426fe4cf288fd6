// The firewall filter (packet level): allows or denies each connection to the bound
// service by the service endpoint it goes to. Deny entries are checked first (the first
// that matches denies), then, if there are allow entries, the connection must match one.
// A denied connection's packets are all dropped from its first one (the SYN: the app sees
// a connect timeout); an allowed one is not looked at again.
#pragma once

#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "scheduler/filter_registry.h"
#include "scheduler/filters/firewall/address_rule.h"
#include "scheduler/packet/reporting_filter.h"

namespace middlepipe::scheduler::firewall {

class FirewallFilter final : public packet::ReportingPacketFilter {
 public:
  static absl::StatusOr<std::unique_ptr<packet::PacketFilter>> Create(
      const FilterSpecContext& context);

  FirewallFilter(std::vector<AddressRule> allow, std::vector<AddressRule> deny, bool fail_closed)
      : allow_(std::move(allow)), deny_(std::move(deny)), fail_closed_(fail_closed) {}

  // Whether a connection to `server` may pass.
  bool Allows(const packet::Endpoint& server) const;

  void DefineEvents(packet::EventDefinitions& events) override;
  void OnEvent(packet::FlowView& flow, const packet::Event& event) override;
  bool NeedsPayload() const override { return false; }
  bool FailClosed() const override { return fail_closed_; }

 private:
  const std::vector<AddressRule> allow_;
  const std::vector<AddressRule> deny_;
  const bool fail_closed_;
};

}  // namespace middlepipe::scheduler::firewall
