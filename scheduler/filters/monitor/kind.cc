#include "scheduler/filters/monitor/kind.h"

#include "scheduler/filters/monitor/config.h"

namespace middlepipe::scheduler::monitor {

KindDescriptor Kind() {
  KindDescriptor kind;
  kind.name = "monitor";
  kind.level = v1::LEVEL_REQUEST;
  kind.aggregates = true;
  kind.description = "Counts calls by status class and latency, per app and service; Prometheus";
  kind.config_schema_json = MonitorConfigSchema();
  kind.check = CheckMonitorConfig;
  return kind;
}

}  // namespace middlepipe::scheduler::monitor
