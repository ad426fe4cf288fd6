#include "scheduler/filters/builtin_kinds.h"

#include "scheduler/filters/accounting/kind.h"
#include "scheduler/filters/circuit-breaker/kind.h"
#include "scheduler/filters/fault-inject/kind.h"
#include "scheduler/filters/firewall/kind.h"
#include "scheduler/filters/ids/kind.h"
#include "scheduler/filters/monitor/kind.h"
#include "scheduler/filters/rate-limit/kind.h"
#include "scheduler/filters/traffic-split/kind.h"

namespace middlepipe::scheduler {

std::vector<KindDescriptor> BuiltinKinds() {
  return {
      accounting::Kind(), circuit_breaker::Kind(), fault_inject::Kind(), firewall::Kind(),
      ids::Kind(),        monitor::Kind(),         rate_limit::Kind(),   traffic_split::Kind(),
  };
}

}  // namespace middlepipe::scheduler
