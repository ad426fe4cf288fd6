#include "scheduler/filters/accounting/kind.h"

namespace middlepipe::scheduler::accounting {

KindDescriptor Kind() {
  KindDescriptor kind;
  kind.name = "accounting";
  kind.level = v1::LEVEL_PACKET;
  kind.aggregates = true;
  kind.description = "Exact bytes and packets per app and service, retransmissions excluded";
  kind.config_schema_json = R"json({
    "type": "object",
    "additionalProperties": false,
    "properties": {
      "fail_closed": {"type": "boolean", "default": false,
        "description": "Drop the traffic when the agent cannot count it (default: let it pass)."}
    }
  })json";
  return kind;
}

}  // namespace middlepipe::scheduler::accounting
