#pragma once
#include "scheduler/kind.h"
namespace middlepipe::scheduler::accounting {
// The accounting kind: its schema and checks (the filter and aggregator halves register
// under the same name).
KindDescriptor Kind();
}  // namespace middlepipe::scheduler::accounting
