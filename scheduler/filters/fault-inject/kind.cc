#include "scheduler/filters/fault-inject/kind.h"

#include "scheduler/filters/fault-inject/config.h"

namespace middlepipe::scheduler::fault_inject {

KindDescriptor Kind() {
  KindDescriptor kind;
  kind.name = "fault-inject";
  kind.level = v1::LEVEL_REQUEST;
  kind.aggregates = false;
  kind.description = "Delays or aborts a share of requests, to rehearse failures";
  kind.config_schema_json = FaultConfigSchema();
  return kind;
}

}  // namespace middlepipe::scheduler::fault_inject
