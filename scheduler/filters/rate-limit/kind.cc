#include "scheduler/filters/rate-limit/kind.h"

#include "scheduler/filters/rate-limit/config.h"

namespace middlepipe::scheduler::rate_limit {

KindDescriptor Kind() {
  KindDescriptor kind;
  kind.name = "rate-limit";
  kind.level = v1::LEVEL_REQUEST;
  kind.aggregates = true;
  kind.description = "Limits requests per second across the whole app; 429 or exception over it";
  kind.config_schema_json = RateConfigSchema();
  return kind;
}

}  // namespace middlepipe::scheduler::rate_limit
