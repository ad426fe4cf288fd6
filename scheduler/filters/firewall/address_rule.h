// One firewall entry, "ADDRESS[/PREFIX][:PORT]" or "*[:PORT]": e.g. "10.0.0.0/8",
// "198.18.0.7:5432", "*:22". Parsed once for the kind's config check and the filter.
#pragma once

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "scheduler/packet/packet.h"

namespace middlepipe::scheduler::firewall {

struct AddressRule {
  uint32_t network = 0;  // host order, already masked
  uint32_t mask = 0;     // 0: any address
  uint16_t port = 0;     // 0: any port

  bool Matches(const packet::Endpoint& endpoint) const {
    return (endpoint.address & mask) == network && (port == 0 || endpoint.port == port);
  }
};

// Errors say what is wrong: "port must be 1-65535", "prefix length must be 0-32",
// "expected IPv4ADDRESS[/PREFIX][:PORT] or *:PORT".
absl::StatusOr<AddressRule> ParseAddressRule(const std::string& entry);

}  // namespace middlepipe::scheduler::firewall
