#pragma once
#include "scheduler/kind.h"
namespace middlepipe::scheduler::monitor {
// The monitor kind: its schema and checks (the filter and aggregator halves register
// under the same name).
KindDescriptor Kind();
}  // namespace middlepipe::scheduler::monitor
