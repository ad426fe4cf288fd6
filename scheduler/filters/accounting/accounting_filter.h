// The accounting filter (packet level): exact payload bytes and packets per (app, service)
// and per connection, from the reassembled streams, so a retransmitted segment is counted
// apart and never charged twice. A retransmission whose bytes differ from what was first
// sent is the TCP-tunneling trick against data accounting (data smuggled in "duplicates"
// a byte counter skips): it is counted and raised as an alert once per connection.
#pragma once

#include <memory>

#include "absl/status/statusor.h"
#include "scheduler/filter_registry.h"
#include "scheduler/packet/reporting_filter.h"

namespace middlepipe::scheduler::accounting {

class AccountingFilter final : public packet::ReportingPacketFilter {
 public:
  static absl::StatusOr<std::unique_ptr<packet::PacketFilter>> Create(
      const FilterSpecContext& context);

  explicit AccountingFilter(bool fail_closed) : fail_closed_(fail_closed) {}

  void DefineEvents(packet::EventDefinitions& events) override;
  void OnEvent(packet::FlowView& flow, const packet::Event& event) override;
  bool FailClosed() const override { return fail_closed_; }

 private:
  const bool fail_closed_;
};

}  // namespace middlepipe::scheduler::accounting
