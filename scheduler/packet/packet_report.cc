#include "scheduler/packet/packet_report.h"

#include <utility>

#include "common/request_stats.h"

namespace middlepipe::scheduler::packet {

void PacketReport::AddAlert(v1::Alert alert) {
  std::lock_guard<std::mutex> lock(mu_);
  if (alerts_.size() >= kMaxAlerts) {
    ++(*pending_.mutable_counters())["alerts_not_sent"];
    return;
  }
  alerts_.push_back(std::move(alert));
}

void PacketReport::AddConnection(v1::ConnectionStats connection) {
  std::lock_guard<std::mutex> lock(mu_);
  if (static_cast<size_t>(pending_.connections_size()) >= kMaxConnections) {
    ++(*pending_.mutable_counters())["connections_not_sent"];
    return;
  }
  *pending_.add_connections() = std::move(connection);
}

void PacketReport::Take(v1::Report& report) {
  v1::PacketStats taken;
  std::vector<v1::Alert> alerts;
  {
    std::lock_guard<std::mutex> lock(mu_);
    taken.Swap(&pending_);
    alerts.swap(alerts_);
    AddPacketStats(taken_, taken);
  }
  if (taken.ByteSizeLong() == 0 && alerts.empty()) return;
  *report.mutable_packet_stats() = std::move(taken);
  for (v1::Alert& alert : alerts) *report.add_alerts() = std::move(alert);
}

v1::PacketStats PacketReport::Totals() {
  std::lock_guard<std::mutex> lock(mu_);
  v1::PacketStats totals = taken_;
  AddPacketStats(totals, pending_);
  return totals;
}

void PacketReport::ReplaceTotals(const v1::PacketStats& totals) {
  std::lock_guard<std::mutex> lock(mu_);
  taken_ = totals;
  taken_.clear_connections();
  pending_.Clear();
}

void PacketReport::MergeTotals(const v1::PacketStats& totals) {
  std::lock_guard<std::mutex> lock(mu_);
  AddPacketStats(taken_, totals);
}

}  // namespace middlepipe::scheduler::packet
