// A packet filter whose state is what it counted (a PacketReport): taking over the previous
// epoch's counts, exporting, importing and merging them, and reporting the deltas are the
// same for every such kind, so they live here once.
#pragma once

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "scheduler/packet/packet_filter.h"
#include "scheduler/packet/packet_report.h"

namespace middlepipe::scheduler::packet {

class ReportingPacketFilter : public PacketFilter {
 public:
  void AdoptState(PacketFilter& previous) override {
    if (auto* same = dynamic_cast<ReportingPacketFilter*>(&previous)) report_ = same->report_;
  }
  // The totals as a serialized v1.PacketStats.
  std::string ExportState() const override { return report_->Totals().SerializeAsString(); }
  absl::Status ImportState(absl::string_view state) override {
    absl::StatusOr<v1::PacketStats> totals = ParseTotals(state);
    if (!totals.ok()) return totals.status();
    report_->ReplaceTotals(*totals);
    return absl::OkStatus();
  }
  absl::Status MergeState(absl::string_view state) override {
    absl::StatusOr<v1::PacketStats> totals = ParseTotals(state);
    if (!totals.ok()) return totals.status();
    report_->MergeTotals(*totals);
    return absl::OkStatus();
  }
  void TakeReport(v1::Report& report) override { report_->Take(report); }

 protected:
  PacketReport& report() { return *report_; }

 private:
  static absl::StatusOr<v1::PacketStats> ParseTotals(absl::string_view state) {
    v1::PacketStats totals;
    if (!totals.ParseFromString(std::string(state))) {
      return absl::InvalidArgumentError("state is not a serialized PacketStats");
    }
    return totals;
  }

  std::shared_ptr<PacketReport> report_ = std::make_shared<PacketReport>();
};

}  // namespace middlepipe::scheduler::packet
