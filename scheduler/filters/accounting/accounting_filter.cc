#include "scheduler/filters/accounting/accounting_filter.h"

#include <nlohmann/json.hpp>

#include "common/logger.h"

namespace middlepipe::scheduler::accounting {
namespace {

using packet::Event;
using packet::FlowView;
using packet::Side;
namespace event = packet::event;

// What one connection carried so far.
struct Connection : FlowView::State {
  v1::ConnectionStats stats;
  bool abuse_alerted = false;
};

}  // namespace

absl::StatusOr<std::unique_ptr<packet::PacketFilter>> AccountingFilter::Create(
    const FilterSpecContext& context) {
  nlohmann::json config = nlohmann::json::parse(context.spec.config_json(), nullptr, false);
  if (!config.is_object()) return absl::InvalidArgumentError("config: not a JSON object");
  return std::make_unique<AccountingFilter>(config.value("fail_closed", false));
}

void AccountingFilter::DefineEvents(packet::EventDefinitions& events) {
  for (packet::EventId id : {event::kConnStart, event::kConnEnd, event::kPacket, event::kData,
                             event::kRetransmit}) {
    events.Subscribe(id);
  }
}

void AccountingFilter::OnEvent(FlowView& flow, const Event& event) {
  auto* connection = flow.state_as<Connection>();
  const bool out = event.side == Side::kClient;
  switch (event.id) {
    case event::kConnStart: {
      auto fresh = std::make_unique<Connection>();
      fresh->stats.set_client(flow.client().ToString());
      fresh->stats.set_server(flow.server().ToString());
      fresh->stats.set_start_unix_ms(NowUnixMillis());
      flow.set_state(std::move(fresh));
      report().Update([](v1::PacketStats& stats) {
        stats.set_connections_started(stats.connections_started() + 1);
      });
      return;
    }
    case event::kPacket:
      report().Update([out](v1::PacketStats& stats) {
        if (out) {
          stats.set_packets_out(stats.packets_out() + 1);
        } else {
          stats.set_packets_in(stats.packets_in() + 1);
        }
      });
      if (connection == nullptr) return;
      if (out) {
        connection->stats.set_packets_out(connection->stats.packets_out() + 1);
      } else {
        connection->stats.set_packets_in(connection->stats.packets_in() + 1);
      }
      return;
    case event::kData: {
      const uint64_t bytes = event.data.size();
      report().Update([out, bytes](v1::PacketStats& stats) {
        if (out) {
          stats.set_bytes_out(stats.bytes_out() + bytes);
        } else {
          stats.set_bytes_in(stats.bytes_in() + bytes);
        }
      });
      if (connection == nullptr) return;
      if (out) {
        connection->stats.set_bytes_out(connection->stats.bytes_out() + bytes);
      } else {
        connection->stats.set_bytes_in(connection->stats.bytes_in() + bytes);
      }
      return;
    }
    case event::kRetransmit: {
      const packet::Retransmission& again = event.retransmission;
      report().Update([&again](v1::PacketStats& stats) {
        stats.set_retransmissions(stats.retransmissions() + 1);
        (*stats.mutable_counters())["retransmitted_bytes"] += again.length;
        if (again.differs) {
          stats.set_inconsistent_retransmissions(stats.inconsistent_retransmissions() + 1);
        }
        if (!again.verified) ++(*stats.mutable_counters())["unverified_retransmissions"];
      });
      if (connection == nullptr) return;
      v1::ConnectionStats& stats = connection->stats;
      stats.set_retransmitted_bytes(stats.retransmitted_bytes() + again.length);
      if (!again.differs) return;
      stats.set_inconsistent_bytes(stats.inconsistent_bytes() + again.length);
      if (connection->abuse_alerted) return;
      connection->abuse_alerted = true;
      v1::Alert alert;
      alert.set_message(
          "retransmitted bytes differ from the original (data hidden from accounting in "
          "retransmissions?)");
      alert.set_action("alert");
      alert.set_source(flow.endpoint(event.side).ToString());
      alert.set_destination(flow.endpoint(packet::Other(event.side)).ToString());
      alert.set_unix_ms(NowUnixMillis());
      report().AddAlert(std::move(alert));
      return;
    }
    case event::kConnEnd:
      if (connection == nullptr) return;
      connection->stats.set_end(packet::EndReasonName(event.end_reason));
      connection->stats.set_end_unix_ms(NowUnixMillis());
      report().AddConnection(connection->stats);
      return;
  }
}

}  // namespace middlepipe::scheduler::accounting
