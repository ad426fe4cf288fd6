// The packet-level filters of one (app, service) at one epoch, in chain order, with what
// each asked for (its events) and what the chain as a whole needs from the queue.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "proto/middlepipe.pb.h"
#include "scheduler/packet/packet_filter.h"

namespace middlepipe::scheduler::packet {

class PacketChain {
 public:
  struct Entry {
    v1::FilterSpec spec;
    std::unique_ptr<PacketFilter> filter;
    EventDefinitions events;
    // Bit i set: built-in event i reaches the filter, directly or through a user event.
    uint32_t builtin_mask = 0;
  };

  // `entries` need only spec and filter; the chain asks each filter for its events.
  // `endpoints`: where the service is reached (the traffic the chain sees).
  PacketChain(std::string service, std::vector<Entry> entries,
              std::vector<v1::Endpoint> endpoints = {});

  const std::string& service() const { return service_; }
  const std::vector<v1::Endpoint>& endpoints() const { return endpoints_; }
  const std::vector<Entry>& entries() const { return entries_; }
  PacketFilter* Find(const std::string& middlepipe) const;
  // Whether any filter reads payload bytes (else the queue copies headers only).
  bool needs_payload() const { return needs_payload_; }
  // Whether any filter wants traffic dropped when it cannot be inspected.
  bool fail_closed() const { return fail_closed_; }

 private:
  const std::string service_;
  std::vector<Entry> entries_;
  const std::vector<v1::Endpoint> endpoints_;
  bool needs_payload_ = false;
  bool fail_closed_ = false;
};

}  // namespace middlepipe::scheduler::packet
