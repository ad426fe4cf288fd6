// Registers the filter half of every built-in kind this agent can run (the kinds' config
// schemas are in builtin_kinds.h). A kind missing here is refused at PREPARE.
#pragma once

#include "scheduler/filter_registry.h"

namespace middlepipe::scheduler {

void RegisterBuiltinFilters(FilterRegistry& registry);

}  // namespace middlepipe::scheduler
