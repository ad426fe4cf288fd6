#include "scheduler/filters/firewall/address_rule.h"

#include <arpa/inet.h>

#include "absl/strings/numbers.h"

namespace middlepipe::scheduler::firewall {

absl::StatusOr<AddressRule> ParseAddressRule(const std::string& entry) {
  AddressRule rule;
  std::string address = entry;
  const size_t colon = entry.rfind(':');
  if (colon != std::string::npos) {
    int port = 0;
    if (!absl::SimpleAtoi(entry.substr(colon + 1), &port) || port < 1 || port > 65535) {
      return absl::InvalidArgumentError("port must be 1-65535");
    }
    rule.port = static_cast<uint16_t>(port);
    address = entry.substr(0, colon);
  }
  if (address == "*") return rule;
  int prefix = 32;
  const size_t slash = address.find('/');
  if (slash != std::string::npos) {
    if (!absl::SimpleAtoi(address.substr(slash + 1), &prefix) || prefix < 0 || prefix > 32) {
      return absl::InvalidArgumentError("prefix length must be 0-32");
    }
    address = address.substr(0, slash);
  }
  in_addr parsed{};
  if (inet_pton(AF_INET, address.c_str(), &parsed) != 1) {
    return absl::InvalidArgumentError("expected IPv4ADDRESS[/PREFIX][:PORT] or *:PORT");
  }
  rule.mask = prefix == 0 ? 0 : ~uint32_t{0} << (32 - prefix);
  rule.network = ntohl(parsed.s_addr) & rule.mask;
  return rule;
}

}  // namespace middlepipe::scheduler::firewall
