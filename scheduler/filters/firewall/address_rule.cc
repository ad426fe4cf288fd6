#include "scheduler/filters/firewall/address_rule.h"

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

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
  absl::StatusOr<packet::Ipv4Network> network = packet::ParseIpv4Network(address);
  if (!network.ok()) {
    return absl::InvalidArgumentError(absl::IsOutOfRange(network.status())
                                          ? network.status().message()
                                          : "expected IPv4ADDRESS[/PREFIX][:PORT] or *:PORT");
  }
  rule.addresses = *network;
  return rule;
}

absl::StatusOr<std::vector<AddressRule>> ParseAddressList(const nlohmann::json& config,
                                                          const char* list) {
  std::vector<AddressRule> rules;
  if (!config.contains(list)) return rules;
  const nlohmann::json& entries = config[list];
  if (!entries.is_array()) return absl::InvalidArgumentError(absl::StrCat("field ", list, ": not a list"));
  for (size_t i = 0; i < entries.size(); ++i) {
    absl::StatusOr<AddressRule> rule = entries[i].is_string()
                                           ? ParseAddressRule(entries[i].get<std::string>())
                                           : absl::InvalidArgumentError("not a string");
    if (!rule.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("field ", list, "[", i, "]: ",
                                                     entries[i].dump(), ": ",
                                                     rule.status().message()));
    }
    rules.push_back(*rule);
  }
  return rules;
}

}  // namespace middlepipe::scheduler::firewall
