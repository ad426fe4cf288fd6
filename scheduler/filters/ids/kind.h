#pragma once
#include "scheduler/kind.h"
namespace middlepipe::scheduler::ids {
// The ids kind: its schema and checks (the filter and aggregator halves register
// under the same name).
KindDescriptor Kind();
}  // namespace middlepipe::scheduler::ids
