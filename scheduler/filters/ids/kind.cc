#include "scheduler/filters/ids/kind.h"

#include "absl/strings/str_cat.h"
#include "scheduler/filters/ids/rule.h"

namespace middlepipe::scheduler::ids {

KindDescriptor Kind() {
  KindDescriptor kind;
  kind.name = "ids";
  kind.level = v1::LEVEL_PACKET;
  kind.aggregates = true;
  kind.description = "Intrusion detection on reassembled TCP streams with Snort-style rules";
  kind.config_schema_json = R"json({
    "type": "object",
    "additionalProperties": false,
    "required": ["rules"],
    "properties": {
      "rules": {
        "type": "array", "minItems": 1, "maxItems": 10000,
        "items": {"type": "string", "minLength": 1, "maxLength": 4096},
        "description": "alert|drop tcp SRC PORT -> DST PORT (msg:\"...\"; content:\"...\"; nocase; sid:N;)"
      },
      "mode": {"type": "string", "enum": ["detect", "prevent"], "default": "detect",
        "description": "detect: alert only; prevent: drop rules drop the connection's packets."},
      "fail_closed": {"type": "boolean", "default": false,
        "description": "Drop the traffic when the agent cannot inspect it (default: let it pass)."}
    }
  })json";
  kind.check = [](const nlohmann::json& config) -> absl::Status {
    absl::StatusOr<std::vector<Rule>> rules = ParseRules(config["rules"]);
    if (!rules.ok()) return absl::InvalidArgumentError(absl::StrCat("field ", rules.status().message()));
    return absl::OkStatus();
  };
  return kind;
}

}  // namespace middlepipe::scheduler::ids
