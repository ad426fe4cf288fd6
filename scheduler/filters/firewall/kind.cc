#include "scheduler/filters/firewall/kind.h"

#include <arpa/inet.h>

#include <string>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace middlepipe::scheduler::firewall {
namespace {

// Checks one rule entry: "ADDRESS[/PREFIX][:PORT]" with an IPv4 ADDRESS or "*", PREFIX
// 0-32 and PORT 1-65535; e.g. "10.0.0.0/8", "198.18.0.7:5432", "*:22".
absl::Status CheckEntry(const std::string& entry) {
  std::string address = entry;
  size_t colon = entry.rfind(':');
  if (colon != std::string::npos) {
    int port = 0;
    if (!absl::SimpleAtoi(entry.substr(colon + 1), &port) || port < 1 || port > 65535) {
      return absl::InvalidArgumentError("port must be 1-65535");
    }
    address = entry.substr(0, colon);
  }
  if (address == "*") return absl::OkStatus();
  size_t slash = address.find('/');
  if (slash != std::string::npos) {
    int prefix = -1;
    if (!absl::SimpleAtoi(address.substr(slash + 1), &prefix) || prefix < 0 || prefix > 32) {
      return absl::InvalidArgumentError("prefix length must be 0-32");
    }
    address = address.substr(0, slash);
  }
  in_addr parsed{};
  if (inet_pton(AF_INET, address.c_str(), &parsed) != 1) {
    return absl::InvalidArgumentError("expected IPv4ADDRESS[/PREFIX][:PORT] or *:PORT");
  }
  return absl::OkStatus();
}

}  // namespace

KindDescriptor Kind() {
  KindDescriptor kind;
  kind.name = "firewall";
  kind.level = v1::LEVEL_PACKET;
  kind.aggregates = false;
  kind.description = "Allows or denies connections by address and port";
  kind.config_schema_json = R"json({
    "type": "object",
    "additionalProperties": false,
    "properties": {
      "allow": {"type": "array", "maxItems": 10000, "default": [],
        "items": {"type": "string", "maxLength": 64},
        "description": "If not empty, only these destinations are reachable."},
      "deny": {"type": "array", "maxItems": 10000, "default": [],
        "items": {"type": "string", "maxLength": 64},
        "description": "These destinations are never reachable (deny wins over allow)."},
      "fail_closed": {"type": "boolean", "default": false,
        "description": "Drop the traffic when the agent cannot filter it (default: let it pass)."}
    }
  })json";
  kind.check = [](const nlohmann::json& config) -> absl::Status {
    for (const char* list : {"allow", "deny"}) {
      const auto& entries = config[list];
      for (size_t i = 0; i < entries.size(); ++i) {
        absl::Status entry = CheckEntry(entries[i].get<std::string>());
        if (!entry.ok()) {
          return absl::InvalidArgumentError(absl::StrCat("field ", list, "[", i, "]: ",
                                                         entries[i].dump(), ": ", entry.message()));
        }
      }
    }
    return absl::OkStatus();
  };
  return kind;
}

}  // namespace middlepipe::scheduler::firewall
