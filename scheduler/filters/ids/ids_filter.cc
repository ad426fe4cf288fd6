#include "scheduler/filters/ids/ids_filter.h"

#include <nlohmann/json.hpp>

#include "common/logger.h"

namespace middlepipe::scheduler::ids {

namespace event = packet::event;
using packet::Side;

// Per connection: which rules look at each side, how far each multi-content rule got,
// which rules fired.
struct IdsFilter::FlowRules : packet::FlowView::State {
  struct SideState {
    PatternMatcher::Cursor cursor;
    std::vector<bool> applies;
    // Per rule: the next content to find and where the previous one ended (stream offset).
    std::vector<std::pair<uint32_t, uint64_t>> progress;
  };
  SideState sides[2];
  std::vector<bool> fired;
  bool dropped = false;
};

absl::StatusOr<std::unique_ptr<packet::PacketFilter>> IdsFilter::Create(
    const FilterSpecContext& context) {
  nlohmann::json config = nlohmann::json::parse(context.spec.config_json(), nullptr, false);
  if (!config.is_object() || !config.contains("rules")) {
    return absl::InvalidArgumentError("config: rules must be a list");
  }
  absl::StatusOr<std::vector<Rule>> rules = ParseRules(config["rules"]);
  if (!rules.ok()) return rules.status();
  return std::make_unique<IdsFilter>(*std::move(rules), config.value("mode", "detect") == "prevent",
                                     config.value("fail_closed", false));
}

IdsFilter::IdsFilter(std::vector<Rule> rules, bool prevent, bool fail_closed)
    : rules_(std::move(rules)), prevent_(prevent), fail_closed_(fail_closed) {
  for (uint32_t r = 0; r < rules_.size(); ++r) {
    for (uint32_t c = 0; c < rules_[r].contents.size(); ++c) {
      const Content& content = rules_[r].contents[c];
      const uint32_t id = matcher_.Add(content.bytes, content.nocase);
      uses_.resize(id + 1);
      uses_[id].push_back({r, c});
    }
  }
  matcher_.Build();
}

void IdsFilter::DefineEvents(packet::EventDefinitions& events) {
  events.Subscribe(event::kConnStart);
  events.Subscribe(event::kData);
  events.Subscribe(event::kPacket);
}

void IdsFilter::OnEvent(packet::FlowView& flow, const packet::Event& event) {
  switch (event.id) {
    case event::kConnStart:
      Start(flow);
      return;
    case event::kData:
      Inspect(flow, event);
      return;
    case event::kPacket: {
      auto* rules = flow.state_as<FlowRules>();
      if (rules != nullptr && rules->dropped) {
        report().Update([](v1::PacketStats& stats) { stats.set_dropped(stats.dropped() + 1); });
      }
      return;
    }
  }
}

void IdsFilter::Start(packet::FlowView& flow) {
  auto rules = std::make_unique<FlowRules>();
  rules->fired.assign(rules_.size(), false);
  for (Side side : {Side::kClient, Side::kServer}) {
    FlowRules::SideState& state = rules->sides[static_cast<size_t>(side)];
    state.applies.assign(rules_.size(), false);
    bool any = false;
    for (size_t r = 0; r < rules_.size(); ++r) {
      state.applies[r] = rules_[r].Applies(flow.endpoint(side), flow.endpoint(packet::Other(side)));
      any = any || state.applies[r];
    }
    // Reassembling and scanning a side no rule looks at would be wasted work.
    if (!any) flow.StopReassembly(side);
    state.progress.assign(rules_.size(), {0, 0});
  }
  flow.set_state(std::move(rules));
  report().Update([](v1::PacketStats& stats) {
    stats.set_connections_started(stats.connections_started() + 1);
  });
}

void IdsFilter::Inspect(packet::FlowView& flow, const packet::Event& data) {
  auto* rules = flow.state_as<FlowRules>();
  if (rules == nullptr || rules->dropped) return;
  FlowRules::SideState& side = rules->sides[static_cast<size_t>(data.side)];
  if (data.after_gap) {
    // Bytes were skipped: nothing may match across the hole.
    side.cursor = PatternMatcher::Cursor();
    for (auto& progress : side.progress) progress = {0, 0};
  }
  matcher_.Scan(side.cursor, data.data, [&](uint32_t pattern, size_t end_in_chunk) {
    const uint64_t end = data.offset + end_in_chunk;
    const uint64_t start = end - matcher_.pattern_length(pattern);
    for (const Use& use : uses_[pattern]) {
      if (!side.applies[use.rule] || rules->fired[use.rule]) continue;
      auto& [next, previous_end] = side.progress[use.rule];
      if (use.content != next || (next > 0 && start < previous_end)) continue;
      ++next;
      previous_end = end;
      if (next == rules_[use.rule].contents.size()) Fire(flow, *rules, use.rule, data.side);
    }
  });
  const uint64_t bytes = data.data.size();
  report().Update([bytes](v1::PacketStats& stats) {
    (*stats.mutable_counters())["bytes_inspected"] += bytes;
  });
}

void IdsFilter::Fire(packet::FlowView& flow, FlowRules& rules, uint32_t index, Side side) {
  const Rule& rule = rules_[index];
  rules.fired[index] = true;
  const bool drop = prevent_ && rule.action == Rule::Action::kDrop;
  v1::Alert alert;
  alert.set_sid(rule.sid);
  alert.set_message(rule.message);
  alert.set_action(drop ? "drop" : "alert");
  alert.set_source(flow.endpoint(side).ToString());
  alert.set_destination(flow.endpoint(packet::Other(side)).ToString());
  alert.set_unix_ms(NowUnixMillis());
  report().AddAlert(std::move(alert));
  report().Update([drop](v1::PacketStats& stats) {
    ++(*stats.mutable_counters())["alerts"];
    // The packet that completed the match goes too (its kPacket event came before).
    if (drop) stats.set_dropped(stats.dropped() + 1);
  });
  if (!drop) return;
  rules.dropped = true;
  flow.DropFlow();
  // Its packets all go now; their bytes need no more inspection.
  flow.StopReassembly(Side::kClient);
  flow.StopReassembly(Side::kServer);
}

}  // namespace middlepipe::scheduler::ids
