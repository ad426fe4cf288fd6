#pragma once
#include "scheduler/kind.h"
namespace middlepipe::scheduler::fault_inject {
// The fault-inject kind: its schema and checks (the filter and aggregator halves register
// under the same name).
KindDescriptor Kind();
}  // namespace middlepipe::scheduler::fault_inject
