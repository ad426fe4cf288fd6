#include "scheduler/packet/packet_chain.h"

#include <algorithm>

namespace middlepipe::scheduler::packet {

const char* EndReasonName(EndReason reason) {
  switch (reason) {
    case EndReason::kFin: return "fin";
    case EndReason::kReset: return "reset";
    case EndReason::kIdle: return "idle";
    case EndReason::kEvicted: return "evicted";
    case EndReason::kUnbound: return "unbound";
    case EndReason::kShutdown: return "shutdown";
  }
  return "?";
}

void EventDefinitions::Subscribe(EventId id) {
  if (!subscribed(id)) subscribed_.push_back(id);
}

EventId EventDefinitions::Define(EventId base, Predicate predicate) {
  const EventId id = event::kFirstUserEvent + static_cast<EventId>(user_events_.size());
  user_events_.push_back({id, base, std::move(predicate)});
  return id;
}

bool EventDefinitions::subscribed(EventId id) const {
  return std::find(subscribed_.begin(), subscribed_.end(), id) != subscribed_.end();
}

bool EventDefinitions::Needs(EventId base) const {
  if (subscribed(base)) return true;
  for (const UserEvent& user : user_events_) {
    if (user.base == base && Needs(user.id)) return true;
  }
  return false;
}

PacketChain::PacketChain(std::string service, std::vector<Entry> entries,
                         std::vector<v1::Endpoint> endpoints)
    : service_(std::move(service)), entries_(std::move(entries)), endpoints_(std::move(endpoints)) {
  for (Entry& entry : entries_) {
    entry.filter->DefineEvents(entry.events);
    for (EventId id = 0; id < event::kFirstUserEvent; ++id) {
      if (entry.events.Needs(id)) entry.builtin_mask |= 1u << id;
    }
    needs_payload_ = needs_payload_ || entry.filter->NeedsPayload();
    fail_closed_ = fail_closed_ || entry.filter->FailClosed();
  }
}

PacketFilter* PacketChain::Find(const std::string& middlepipe) const {
  for (const Entry& entry : entries_) {
    if (entry.spec.middlepipe() == middlepipe) return entry.filter.get();
  }
  return nullptr;
}

}  // namespace middlepipe::scheduler::packet
