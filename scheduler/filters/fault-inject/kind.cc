#include "scheduler/filters/fault-inject/kind.h"

namespace middlepipe::scheduler::fault_inject {

KindDescriptor Kind() {
  KindDescriptor kind;
  kind.name = "fault-inject";
  kind.level = v1::LEVEL_REQUEST;
  kind.aggregates = false;
  kind.description = "Delays or aborts a share of requests, to rehearse failures";
  kind.config_schema_json = R"json({
    "type": "object",
    "additionalProperties": false,
    "properties": {
      "delay_ms": {"type": "integer", "minimum": 0, "maximum": 600000, "default": 0,
        "description": "Delay added to delayed requests."},
      "delay_percent": {"type": "number", "minimum": 0, "maximum": 100, "default": 0,
        "description": "Share of requests delayed."},
      "abort_status": {"type": "integer", "minimum": 100, "maximum": 599, "default": 503,
        "description": "Status of the response made for aborted requests."},
      "abort_percent": {"type": "number", "minimum": 0, "maximum": 100, "default": 0,
        "description": "Share of requests aborted (not sent)."}
    }
  })json";
  return kind;
}

}  // namespace middlepipe::scheduler::fault_inject
