#include "scheduler/filters/firewall/kind.h"

#include <string>

#include "scheduler/filters/firewall/address_rule.h"

namespace middlepipe::scheduler::firewall {

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
        "description": "These destinations are never reachable (checked first: deny wins over allow)."},
      "fail_closed": {"type": "boolean", "default": false,
        "description": "Drop the traffic when the agent cannot filter it (default: let it pass)."}
    }
  })json";
  kind.check = [](const nlohmann::json& config) -> absl::Status {
    for (const char* list : {"allow", "deny"}) {
      if (absl::StatusOr<std::vector<AddressRule>> rules = ParseAddressList(config, list); !rules.ok()) {
        return rules.status();
      }
    }
    return absl::OkStatus();
  };
  return kind;
}

}  // namespace middlepipe::scheduler::firewall
