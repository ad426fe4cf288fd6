// What a packet filter observed since its last report: packet stats, alerts and the
// connections that ended. The queue thread adds, the reporter's thread takes; the filters
// of consecutive epochs of one middlepipe share one (AdoptState), so a new epoch neither
// resets nor loses what was counted.
#pragma once

#include <cstddef>
#include <mutex>
#include <vector>

#include "proto/middlepipe.pb.h"

namespace middlepipe::scheduler::packet {

class PacketReport {
 public:
  // Per report interval; more are counted in counters["alerts_not_sent"] and
  // counters["connections_not_sent"] instead of growing without bound.
  static constexpr size_t kMaxAlerts = 1000;
  static constexpr size_t kMaxConnections = 1000;

  // Runs `change` on the pending stats under the lock.
  template <typename Change>
  void Update(Change&& change) {
    std::lock_guard<std::mutex> lock(mu_);
    change(pending_);
  }
  void AddAlert(v1::Alert alert);
  void AddConnection(v1::ConnectionStats connection);
  // Moves everything pending into `report` (packet_stats and alerts); leaves the report
  // untouched when nothing happened.
  void Take(v1::Report& report);

  // Everything counted since the filter started (taken or not), for ExportState, without
  // the per-connection list.
  v1::PacketStats Totals();
  // ImportState: these become the totals. MergeState: these add to them. Neither is
  // reported again (the instance they came from reported them).
  void ReplaceTotals(const v1::PacketStats& totals);
  void MergeTotals(const v1::PacketStats& totals);

 private:
  std::mutex mu_;
  v1::PacketStats pending_;
  std::vector<v1::Alert> alerts_;
  // What Take() handed out so far (plus what was imported and merged).
  v1::PacketStats taken_;
};

}  // namespace middlepipe::scheduler::packet
