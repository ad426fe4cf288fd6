#include "scheduler/filters/circuit-breaker/kind.h"

namespace middlepipe::scheduler::circuit_breaker {

KindDescriptor Kind() {
  KindDescriptor kind;
  kind.name = "circuit-breaker";
  kind.level = v1::LEVEL_REQUEST;
  kind.aggregates = true;
  kind.description =
      "Stops calling a failing or slow service, cluster-wide; fallback response or exception";
  kind.config_schema_json = R"json({
    "type": "object",
    "additionalProperties": false,
    "properties": {
      "latency_threshold_ms": {"type": "integer", "minimum": 1, "default": 1000,
        "description": "A call slower than this counts as a failure."},
      "error_threshold_percent": {"type": "number", "minimum": 1, "maximum": 100, "default": 50,
        "description": "Open when this share of calls in the window failed."},
      "min_requests": {"type": "integer", "minimum": 1, "default": 20,
        "description": "Calls needed in the window before the breaker may open."},
      "window_ms": {"type": "integer", "minimum": 100, "maximum": 3600000, "default": 10000,
        "description": "Rolling window the error rate is computed over."},
      "open_ms": {"type": "integer", "minimum": 1, "maximum": 3600000, "default": 5000,
        "description": "How long to stay open before trying half-open."},
      "half_open_requests": {"type": "integer", "minimum": 1, "maximum": 1000, "default": 3,
        "description": "Trial calls let through in half-open, across the whole cluster."},
      "scope": {"type": "string", "enum": ["cluster", "instance"], "default": "cluster",
        "description": "cluster: the aggregator decides for all instances; instance: each alone."},
      "fallback": {
        "type": "object",
        "additionalProperties": false,
        "description": "Response to return while open; absent = callback/exception in the app.",
        "required": ["status"],
        "properties": {
          "status": {"type": "integer", "minimum": 100, "maximum": 599},
          "headers": {"type": "object", "additionalProperties": {"type": "string"}},
          "body": {"type": "string", "maxLength": 1048576}
        }
      }
    }
  })json";
  return kind;
}

}  // namespace middlepipe::scheduler::circuit_breaker
