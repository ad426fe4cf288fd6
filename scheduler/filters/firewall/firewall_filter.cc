#include "scheduler/filters/firewall/firewall_filter.h"

#include <nlohmann/json.hpp>


namespace middlepipe::scheduler::firewall {
namespace {

namespace event = packet::event;

// Marks a denied flow so its later packets are counted as dropped.
struct Denied : packet::FlowView::State {};

}  // namespace

absl::StatusOr<std::unique_ptr<packet::PacketFilter>> FirewallFilter::Create(
    const FilterSpecContext& context) {
  nlohmann::json config = nlohmann::json::parse(context.spec.config_json(), nullptr, false);
  if (!config.is_object()) return absl::InvalidArgumentError("config: not a JSON object");
  absl::StatusOr<std::vector<AddressRule>> allow = ParseAddressList(config, "allow");
  if (!allow.ok()) return allow.status();
  absl::StatusOr<std::vector<AddressRule>> deny = ParseAddressList(config, "deny");
  if (!deny.ok()) return deny.status();
  return std::make_unique<FirewallFilter>(*std::move(allow), *std::move(deny),
                                          config.value("fail_closed", false));
}

bool FirewallFilter::Allows(const packet::Endpoint& server) const {
  for (const AddressRule& rule : deny_) {
    if (rule.Matches(server)) return false;
  }
  if (allow_.empty()) return true;
  for (const AddressRule& rule : allow_) {
    if (rule.Matches(server)) return true;
  }
  return false;
}

void FirewallFilter::DefineEvents(packet::EventDefinitions& events) {
  events.Subscribe(event::kConnStart);
  events.Subscribe(event::kPacket);
}

void FirewallFilter::OnEvent(packet::FlowView& flow, const packet::Event& event) {
  if (event.id == event::kConnStart) {
    const bool allowed = Allows(flow.server());
    report().Update([allowed](v1::PacketStats& stats) {
      ++(*stats.mutable_counters())[allowed ? "connections_allowed" : "connections_denied"];
    });
    if (allowed) {
      flow.StopMonitoring(packet::Side::kClient);
      flow.StopMonitoring(packet::Side::kServer);
    } else {
      flow.set_state(std::make_unique<Denied>());
      flow.DropFlow();
    }
    return;
  }
  if (event.id == event::kPacket && flow.state() != nullptr) {
    report().Update([](v1::PacketStats& stats) { stats.set_dropped(stats.dropped() + 1); });
  }
}

}  // namespace middlepipe::scheduler::firewall
