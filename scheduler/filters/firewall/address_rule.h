// One firewall entry, "ADDRESS[/PREFIX][:PORT]" or "*[:PORT]": e.g. "10.0.0.0/8",
// "198.18.0.7:5432", "*:22". Parsed once for the kind's config check and the filter.
#pragma once

#include <cstdint>
#include <string>

#include <vector>

#include <nlohmann/json.hpp>

#include "absl/status/statusor.h"
#include "scheduler/packet/packet.h"

namespace middlepipe::scheduler::firewall {

struct AddressRule {
  packet::Ipv4Network addresses;  // "*": every address
  uint16_t port = 0;              // 0: any port

  bool Matches(const packet::Endpoint& endpoint) const {
    return addresses.Contains(endpoint.address) && (port == 0 || endpoint.port == port);
  }
};

// Errors say what is wrong: "port must be 1-65535", "prefix length must be 0-32",
// "expected IPv4ADDRESS[/PREFIX][:PORT] or *:PORT".
absl::StatusOr<AddressRule> ParseAddressRule(const std::string& entry);

// The entries of config[list] ("allow" or "deny"; absent: none), for the kind's check and
// the filter alike. Errors name the entry: `field deny[0]: "10.0.0.0/40": prefix length
// must be 0-32`.
absl::StatusOr<std::vector<AddressRule>> ParseAddressList(const nlohmann::json& config,
                                                          const char* list);

}  // namespace middlepipe::scheduler::firewall
