#include "scheduler/filters/rate-limit/kind.h"

namespace middlepipe::scheduler::rate_limit {

KindDescriptor Kind() {
  KindDescriptor kind;
  kind.name = "rate-limit";
  kind.level = v1::LEVEL_REQUEST;
  kind.aggregates = true;
  kind.description = "Limits requests per second across the whole app; 429 or exception over it";
  kind.config_schema_json = R"json({
    "type": "object",
    "additionalProperties": false,
    "required": ["requests_per_second"],
    "properties": {
      "requests_per_second": {"type": "number", "exclusiveMinimum": 0,
        "maximum": 10000000, "description": "Cluster-wide sustained rate."},
      "burst": {"type": "integer", "minimum": 0, "maximum": 10000000, "default": 0,
        "description": "Extra requests allowed at once above the rate (token bucket size)."},
      "scope": {"type": "string", "enum": ["cluster", "instance"], "default": "cluster",
        "description": "cluster: one budget shared by all instances; instance: each its own."},
      "key_header": {"type": "string", "pattern": "^[A-Za-z0-9-]+$", "maxLength": 128,
        "description": "Limit per value of this request header (per user, per tenant)."},
      "max_keys": {"type": "integer", "minimum": 1, "maximum": 1000000, "default": 10000,
        "description": "Bound on distinct key_header values tracked; least recent evicted."}
    }
  })json";
  return kind;
}

}  // namespace middlepipe::scheduler::rate_limit
