// The aggregator halves of the built-in kinds, by kind name (kind_aggregate.h). Kinds
// not listed (monitor, traffic-split, fault-inject, the packet kinds) are aggregated for
// their statistics only.
#pragma once

#include "aggregator/kind_aggregate.h"

namespace middlepipe::aggregator {

KindAggregateRegistry BuiltinAggregates();

}  // namespace middlepipe::aggregator
