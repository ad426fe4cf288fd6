#pragma once
#include "scheduler/kind.h"
namespace middlepipe::scheduler::traffic_split {
// The traffic-split kind: its schema and checks (the filter and aggregator halves register
// under the same name).
KindDescriptor Kind();
}  // namespace middlepipe::scheduler::traffic_split
