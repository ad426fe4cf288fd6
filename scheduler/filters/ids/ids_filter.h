// The ids filter (packet level): Snort-style rules (rule.h) matched on each side's
// reassembled stream by one automaton for all rules (pattern_matcher.h), so a pattern
// split across segments, or sent out of order, is found as if sent whole. Which rules
// look at a side is settled once per connection from its addresses and ports; a side no
// rule looks at is not reassembled at all. A rule alerts once per connection. In
// "prevent" mode a matching drop rule drops the packet that completed the match and
// every later packet of the connection; in "detect" mode it only alerts.
#pragma once

#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "scheduler/filter_registry.h"
#include "scheduler/filters/ids/pattern_matcher.h"
#include "scheduler/filters/ids/rule.h"
#include "scheduler/packet/reporting_filter.h"

namespace middlepipe::scheduler::ids {

class IdsFilter final : public packet::ReportingPacketFilter {
 public:
  static absl::StatusOr<std::unique_ptr<packet::PacketFilter>> Create(
      const FilterSpecContext& context);

  IdsFilter(std::vector<Rule> rules, bool prevent, bool fail_closed);

  void DefineEvents(packet::EventDefinitions& events) override;
  void OnEvent(packet::FlowView& flow, const packet::Event& event) override;
  bool FailClosed() const override { return fail_closed_; }

 private:
  // A content of a rule, by the pattern the matcher found.
  struct Use {
    uint32_t rule;
    uint32_t content;
  };
  struct FlowRules;

  void Start(packet::FlowView& flow);
  void Inspect(packet::FlowView& flow, const packet::Event& data);
  void Fire(packet::FlowView& flow, FlowRules& rules, uint32_t rule, packet::Side side);

  const std::vector<Rule> rules_;
  const bool prevent_;
  const bool fail_closed_;
  PatternMatcher matcher_;
  // By pattern id.
  std::vector<std::vector<Use>> uses_;
};

}  // namespace middlepipe::scheduler::ids
