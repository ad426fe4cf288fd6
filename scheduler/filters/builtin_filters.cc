#include "scheduler/filters/builtin_filters.h"

#include "scheduler/filters/accounting/accounting_filter.h"
#include "scheduler/filters/circuit-breaker/breaker_filter.h"
#include "scheduler/filters/fault-inject/fault_filter.h"
#include "scheduler/filters/firewall/firewall_filter.h"
#include "scheduler/filters/ids/ids_filter.h"
#include "scheduler/filters/monitor/monitor_filter.h"
#include "scheduler/filters/rate-limit/rate_filter.h"
#include "scheduler/filters/traffic-split/split_filter.h"

namespace middlepipe::scheduler {

void RegisterBuiltinFilters(FilterRegistry& registry) {
  registry.Register("circuit-breaker", circuit_breaker::BreakerFilter::Create);
  registry.Register("fault-inject", fault_inject::FaultFilter::Create);
  registry.Register("monitor", monitor::MonitorFilter::Create);
  registry.Register("rate-limit", rate_limit::RateFilter::Create);
  registry.Register("traffic-split", traffic_split::SplitFilter::Create);
  registry.RegisterPacket("accounting", accounting::AccountingFilter::Create);
  registry.RegisterPacket("firewall", firewall::FirewallFilter::Create);
  registry.RegisterPacket("ids", ids::IdsFilter::Create);
}

}  // namespace middlepipe::scheduler
