#include "scheduler/filters/firewall/kind.h"

#include <string>

#include "absl/strings/str_cat.h"
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
      const auto& entries = config[list];
      for (size_t i = 0; i < entries.size(); ++i) {
        absl::StatusOr<AddressRule> entry = ParseAddressRule(entries[i].get<std::string>());
        if (!entry.ok()) {
          return absl::InvalidArgumentError(absl::StrCat("field ", list, "[", i, "]: ",
                                                         entries[i].dump(), ": ",
                                                         entry.status().message()));
        }
      }
    }
    return absl::OkStatus();
  };
  return kind;
}

}  // namespace middlepipe::scheduler::firewall
