#include "scheduler/filters/circuit-breaker/kind.h"

#include "scheduler/filters/circuit-breaker/config.h"

namespace middlepipe::scheduler::circuit_breaker {

KindDescriptor Kind() {
  KindDescriptor kind;
  kind.name = "circuit-breaker";
  kind.level = v1::LEVEL_REQUEST;
  kind.aggregates = true;
  kind.description =
      "Stops calling a failing or slow service, cluster-wide; fallback response or exception";
  kind.config_schema_json = BreakerConfigSchema();
  return kind;
}

}  // namespace middlepipe::scheduler::circuit_breaker
